"""Detection on applied batches: each time-driven type opens once, re-detection updates it,
the cause going away resolves it; thresholds and their overrides decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exceptions import detection
from integrations.exceptions.models import ExceptionThreshold
from milestones.models import MilestoneTemplate
from tenancy.audit import AuditLog
from tenancy.context import tenant_context
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment, unresolved

pytestmark = pytest.mark.django_db


def test_a_missed_pickup_opens_once_and_resolves_when_it_arrives(acme):
    s = shipment(acme.tenant, booked=ago(days=2))  # road_ftl: pickup planned +1 d, tolerance 4 h
    event(acme.tenant, s, "order_created", ago(days=2))
    assert unresolved(acme.tenant) == [("missed_milestone", "picked_up", "major")]
    event(acme.tenant, s, "order_created", ago(days=2), key="again")  # another batch
    assert len(exceptions(acme.tenant)) == 1
    event(acme.tenant, s, "picked_up", ago(hours=1))
    [x] = exceptions(acme.tenant, milestone="picked_up")
    assert x.status == "resolved" and x.auto_resolved and x.resolved_at is not None
    with tenant_context(acme.tenant.pk):
        actions = list(
            AuditLog.objects.filter(target_type="exception", target_id=x.public_id)
            .order_by("at", "id")
            .values_list("action", flat=True)
        )
    assert actions == ["exception.opened", "exception.resolved"]
    # Departure is next, and against its plan (booking + 1 d 1 h, tolerance 2 h) late too.
    assert unresolved(acme.tenant) == [("delayed_departure", "departed", "critical")]


def test_not_due_yet_opens_nothing_until_the_sweep_finds_it_due(acme):
    s = shipment(acme.tenant, booked=ago(hours=1))
    event(acme.tenant, s, "order_created", ago(hours=1))
    assert unresolved(acme.tenant) == []
    later = timezone.now() + timedelta(days=1, hours=5)
    assert detection.sweep(tenant_ids=[acme.tenant.pk], now=later) == 1
    assert unresolved(acme.tenant) == [("missed_milestone", "picked_up", "minor")]
    # Again: nothing changes; much later the severity rises (an update, not a new row).
    assert detection.sweep(tenant_ids=[acme.tenant.pk], now=later) == 0
    assert detection.sweep(tenant_ids=[acme.tenant.pk], now=later + timedelta(days=2)) == 1
    assert unresolved(acme.tenant) == [("missed_milestone", "picked_up", "critical")]
    assert len(exceptions(acme.tenant)) == 1


def test_delayed_departure(acme):
    s = shipment(acme.tenant, booked=ago(days=3))
    event(acme.tenant, s, "picked_up", ago(hours=20))
    assert unresolved(acme.tenant) == [("delayed_departure", "departed", "critical")]
    event(acme.tenant, s, "departed", ago(hours=1))
    assert unresolved(acme.tenant) == []


def test_thresholds_overridden_per_template_milestone_and_customer(acme):
    s = shipment(acme.tenant, booked=ago(days=1, hours=6), customer_account=acme.customer_account)
    # 2 h past the tolerance: the default opens it (after 0 min, major after 4 h).
    event(acme.tenant, s, "order_created", ago(days=1))
    assert unresolved(acme.tenant) == [("missed_milestone", "picked_up", "minor")]
    with tenant_context(acme.tenant.pk):
        template = MilestoneTemplate.objects.get(mode="road_ftl")
        ExceptionThreshold.objects.create(
            type="missed_milestone",
            template=template,
            after_minutes=180,
            major_minutes=600,
            critical_minutes=900,
        )
    event(acme.tenant, s, "order_created", ago(days=1), key="t")
    assert unresolved(acme.tenant) == []  # the template allows 3 h
    with tenant_context(acme.tenant.pk):
        ExceptionThreshold.objects.create(
            type="missed_milestone",
            milestone="picked_up",
            after_minutes=60,
            major_minutes=90,
            critical_minutes=900,
        )
    event(acme.tenant, s, "order_created", ago(days=1), key="m")
    assert unresolved(acme.tenant) == [("missed_milestone", "picked_up", "major")]
    with tenant_context(acme.tenant.pk):
        ExceptionThreshold.objects.create(
            type="missed_milestone",
            customer_account=acme.customer_account,
            after_minutes=600,
            major_minutes=700,
            critical_minutes=900,
        )
    event(acme.tenant, s, "order_created", ago(days=1), key="c")
    assert unresolved(acme.tenant) == []  # the customer's account is the most specific


def test_promise_close_raises_severity(acme):
    s = shipment(
        acme.tenant, booked=ago(days=1, hours=6), promised_at=timezone.now() + timedelta(hours=2)
    )
    event(acme.tenant, s, "order_created", ago(days=1))
    assert ("missed_milestone", "picked_up", "critical") in unresolved(acme.tenant)


def test_customs_hold_too_long(acme):
    s = shipment(acme.tenant, booked=ago(days=30), mode="air")
    for code, days in (("picked_up", 29), ("departed", 28), ("arrived", 27)):
        event(acme.tenant, s, code, ago(days=days))
    event(acme.tenant, s, "customs_hold", ago(days=1))
    assert [u for u in unresolved(acme.tenant) if u[0] == "customs_hold"] == []
    event(acme.tenant, s, "customs_hold", ago(days=3), key="older-hold")
    # The current attempt of a repeatable hold is the latest report: still 1 day.
    assert [u for u in unresolved(acme.tenant) if u[0] == "customs_hold"] == []
    later = timezone.now() + timedelta(days=1, hours=1)
    detection.sweep(tenant_ids=[acme.tenant.pk], now=later)
    assert ("customs_hold", "customs_hold", "minor") in unresolved(acme.tenant)
    event(acme.tenant, s, "customs_cleared", ago(hours=1))
    assert [u for u in unresolved(acme.tenant) if u[0] == "customs_hold"] == []


def test_long_dwell_after_arrival(acme):
    s = shipment(acme.tenant, booked=ago(days=10), mode="air")
    for code, days in (("picked_up", 9), ("departed", 8.5)):
        event(acme.tenant, s, code, ago(days=days))
    event(acme.tenant, s, "arrived", ago(days=2), location="FRA")
    assert ("long_dwell", "arrived", "major") in unresolved(acme.tenant)
    event(acme.tenant, s, "customs_cleared", ago(hours=2))
    assert [u for u in unresolved(acme.tenant) if u[0] == "long_dwell"] == []


def test_dark_shipment_by_mode_interval_and_back_when_it_speaks(acme):
    s = shipment(acme.tenant, booked=ago(days=1))
    event(acme.tenant, s, "picked_up", ago(hours=3))
    assert [u for u in unresolved(acme.tenant) if u[0] == "dark_shipment"] == []
    # road_ftl expects a report every 6 h: 7 h after the last one (received now) it is dark.
    detection.sweep(tenant_ids=[acme.tenant.pk], now=timezone.now() + timedelta(hours=5))
    assert [u for u in unresolved(acme.tenant) if u[0] == "dark_shipment"] == []
    detection.sweep(tenant_ids=[acme.tenant.pk], now=timezone.now() + timedelta(hours=7))
    assert ("dark_shipment", "", "minor") in unresolved(acme.tenant)
    event(acme.tenant, s, "departed", ago(hours=2), classifier="EST", key="est")
    assert [u for u in unresolved(acme.tenant) if u[0] == "dark_shipment"] == []


def test_delivered_resolves_everything(acme):
    s = shipment(acme.tenant, booked=ago(days=5))
    event(acme.tenant, s, "order_created", ago(days=5))
    assert unresolved(acme.tenant)
    event(acme.tenant, s, "delivered", ago(hours=1))
    assert unresolved(acme.tenant) == []


def test_other_tenants_exceptions_are_invisible(acme):
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "order_created", ago(days=2))
    assert unresolved(acme.tenant)
    assert exceptions(acme.other_tenant) == []
    # The sweep of the other tenant resolves nothing of ours.
    detection.sweep(tenant_ids=[acme.other_tenant.pk])
    assert unresolved(acme.tenant)

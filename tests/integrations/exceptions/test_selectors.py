"""The dashboard's reads: the queue of unresolved exceptions by type and severity with SLA
due times, the KPI per tenant, and every new model confined to its tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exceptions import selectors
from integrations.exceptions.models import Deadline, ExceptionThreshold, ShipmentException
from integrations.workflow.models import EtaState, Firing, Rule, ShipmentTag, Task
from integrations.workflow.services import create_task, rule_save, shipment_tag_set
from tenancy.context import tenant_context
from tests.integrations.exceptions.helpers import ago, event, shipment

pytestmark = pytest.mark.django_db


def test_queue_groups_by_type_and_severity_with_sla_and_counts_per_tenant(acme):
    for days in (2, 2, 5):
        s = shipment(acme.tenant, booked=ago(days=days), customer_account=acme.customer_account)
        event(acme.tenant, s, "order_created", ago(days=days))
    with tenant_context(acme.tenant.pk):
        queue = selectors.exception_queue()
        by_key = {(g.type, g.severity): g for g in queue}
        assert queue[0].severity == "critical"  # the most urgent first
        assert by_key[("missed_milestone", "major")].count == 2
        group = by_key[("missed_milestone", "critical")]
        assert group.count == 1 and group.sla_due_at == group.oldest_opened_at + timedelta(hours=1)
        assert group.overdue == 0
        later = selectors.exception_queue(now=timezone.now() + timedelta(hours=5))
        assert {(g.severity, g.overdue) for g in later} == {("critical", 1), ("major", 2)}
        assert (
            selectors.exception_queue(customer_account_ids=[acme.other_customer_account.pk]) == []
        )
        assert selectors.open_exception_count() == 3
    counts = selectors.open_exception_counts([acme.tenant.pk, acme.other_tenant.pk])
    assert counts == {acme.tenant.pk: 3, acme.other_tenant.pk: 0}


def test_every_new_model_is_confined_to_its_tenant(acme):
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "order_created", ago(days=2))
    with tenant_context(acme.tenant.pk):
        ExceptionThreshold.objects.create(
            type="dark_shipment", after_minutes=1, major_minutes=2, critical_minutes=3
        )
        rule_save(
            name="r",
            trigger="eta_moved_minutes",
            when={"minutes": 5},
            actions=[{"type": "set_tag", "config": {"tag": "x"}}],
        )
        shipment_tag_set(shipment_id=s.pk, tag="vip")
    create_task(tenant_id=acme.tenant.pk, title="t", shipment_id=s.pk)
    event(acme.tenant, s, "picked_up", ago(hours=1))
    models = (ShipmentException, ExceptionThreshold, Deadline, Rule, Task, ShipmentTag, EtaState)
    with tenant_context(acme.tenant.pk):
        assert all(m.objects.exists() for m in models), [
            m for m in models if not m.objects.exists()
        ]
    with tenant_context(acme.other_tenant.pk):
        assert [m.__name__ for m in (*models, Firing) if m.objects.exists()] == []
        from django.db import connection

        with connection.cursor() as cursor:  # row-level security, not only the managers
            for model in (*models, Firing):
                cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")
                assert cursor.fetchone()[0] == 0, model.__name__
    # A tenant's threshold applies to it alone: our one-minute dark interval is not theirs.
    other = shipment(acme.other_tenant, booked=ago(hours=1))
    event(acme.other_tenant, other, "picked_up", ago(minutes=30))
    from integrations.exceptions import detection

    detection.sweep(now=timezone.now() + timedelta(minutes=10))
    with tenant_context(acme.tenant.pk):
        assert ShipmentException.objects.filter(type="dark_shipment").exists()
    with tenant_context(acme.other_tenant.pk):
        assert not ShipmentException.objects.filter(type="dark_shipment").exists()

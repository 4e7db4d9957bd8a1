"""Rules: validated on save with errors naming the field; each trigger fires for matching
shipments only; every action runs; replaying the same events fires nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.notifications.models import Notification
from integrations.workflow import services
from integrations.workflow.actions import Action, register_action
from integrations.workflow.models import ShipmentTag
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment
from tests.integrations.notifications.conftest import PHONE, set_preference
from tests.integrations.workflow.conftest import firings, rule, run_firings, tasks

pytestmark = pytest.mark.django_db

TASK = {
    "type": "create_task",
    "config": {"title": "Call about {milestone}", "assignee_role": "ops"},
}


def _fields(error: pytest.ExceptionInfo[DomainError]) -> list[str]:
    return list(error.value.fields or {})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"trigger": "sometimes", "actions": [TASK]}, "trigger"),
        (
            {"trigger": "status_becomes", "when": {"status": "lost"}, "actions": [TASK]},
            "when.status",
        ),
        (
            {"trigger": "eta_moved_minutes", "when": {"minutes": 0}, "actions": [TASK]},
            "when.minutes",
        ),
        (
            {"trigger": "exception_opened", "when": {"exception_type": "x"}, "actions": [TASK]},
            "when.exception_type",
        ),
        ({"trigger": "milestone_reached", "actions": []}, "actions"),
        ({"trigger": "milestone_reached", "actions": [{"type": "teleport"}]}, "actions[0].type"),
        (
            {
                "trigger": "milestone_reached",
                "actions": [TASK, {"type": "notify", "config": {"channel": "pigeon"}}],
            },
            "actions[1].config.channel",
        ),
        (
            {"trigger": "milestone_reached", "actions": [{"type": "create_task", "config": {}}]},
            "actions[0].config.title",
        ),
        (
            {
                "trigger": "milestone_reached",
                "actions": [{"type": "set_tag", "config": {"tag": "A B"}}],
            },
            "actions[0].config.tag",
        ),
        (
            {"trigger": "milestone_reached", "filters": {"colour": "red"}, "actions": [TASK]},
            "filters.colour",
        ),
    ],
)
def test_rules_are_validated_with_errors_naming_the_field(acme, values, field):
    with pytest.raises(DomainError) as error:
        rule(acme.tenant, **values)
    assert _fields(error) == [field]


def test_milestone_reached_notifies_an_opted_in_customer_by_sms_and_creates_a_task(acme, enqueued):
    set_preference(
        acme.tenant,
        customer_account_id=acme.customer_account.pk,
        phone=PHONE,
        sms_enabled=True,
        sms_milestones=["out_for_delivery"],
    )
    rule(
        acme.tenant,
        trigger="milestone_reached",
        when={"milestone": "out_for_delivery"},
        actions=[
            {"type": "notify", "config": {"channel": "sms", "template": "out_for_delivery"}},
            TASK,
        ],
    )
    s = shipment(
        acme.tenant, mode="last_mile", booked=ago(hours=3), customer_account=acme.customer_account
    )
    event(acme.tenant, s, "picked_up", ago(hours=2))
    assert firings(acme.tenant) == []  # another milestone
    out = ago(minutes=5)
    event(acme.tenant, s, "out_for_delivery", out)
    [firing] = firings(acme.tenant)
    assert firing.cause["milestone"] == "out_for_delivery" and firing.shipment_id == s.pk
    assert run_firings(acme.tenant) == ["done"]
    with tenant_context(acme.tenant.pk):
        [sms] = Notification.objects.filter(shipment=s, channel="sms")
    assert sms.recipient == PHONE
    [task] = tasks(acme.tenant)
    assert task.title == "Call about out_for_delivery" and task.assignee_role == "ops"
    assert task.shipment_id == s.pk and task.source == f"rule:{firing.rule_id}"
    # Replay: the same event again, and the firing run again — nothing twice.
    event(acme.tenant, s, "out_for_delivery", out)
    event(acme.tenant, s, "out_for_delivery", out, key="resent by another source")
    assert len(firings(acme.tenant)) == 1
    with tenant_context(acme.tenant.pk):
        services.firing_run(firing_id=firing.pk)
        assert Notification.objects.filter(shipment=s, channel="sms").count() == 1
    assert len(tasks(acme.tenant)) == 1


def test_milestone_missed_and_exception_triggers(acme):
    rule(
        acme.tenant,
        name="missed pickup",
        trigger="milestone_missed",
        when={"milestone": "picked_up"},
        actions=[TASK],
    )
    rule(
        acme.tenant,
        name="tag dark",
        trigger="exception_opened",
        when={"exception_type": "delayed_departure"},
        actions=[{"type": "set_tag", "config": {"tag": "late-departure"}}],
    )
    rule(
        acme.tenant,
        name="resolved",
        trigger="exception_resolved",
        actions=[
            {
                "type": "create_task",
                "config": {"title": "Check {exception_type}", "assignee_role": "admin"},
            }
        ],
    )
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "order_created", ago(days=2))
    [missed] = exceptions(acme.tenant)
    [fired] = firings(acme.tenant)
    assert fired.exception_id == missed.pk and fired.cause["trigger"] == "milestone_missed"
    event(acme.tenant, s, "picked_up", ago(hours=1))  # resolves it, opens delayed departure
    run_firings(acme.tenant)
    titles = sorted(t.title for t in tasks(acme.tenant))
    assert titles == ["Call about picked_up", "Check missed_milestone"]
    [first] = tasks(acme.tenant, title="Call about picked_up")
    assert first.exception_id == missed.pk
    with tenant_context(acme.tenant.pk):
        assert list(ShipmentTag.objects.values_list("tag", flat=True)) == ["late-departure"]
    assert len(firings(acme.tenant)) == 3


def test_status_becomes_and_filters(acme):
    rule(
        acme.tenant,
        trigger="status_becomes",
        when={"status": "delivered"},
        filters={"mode": "road_ftl", "customer": acme.customer_account.pk},
        actions=[{"type": "set_tag", "config": {"tag": "done"}}],
    )
    mine = shipment(acme.tenant, booked=ago(days=3), customer_account=acme.customer_account)
    air = shipment(
        acme.tenant, booked=ago(days=3), customer_account=acme.customer_account, mode="air"
    )
    theirs = shipment(acme.tenant, booked=ago(days=3), customer_account=acme.other_customer_account)
    for s in (mine, air, theirs):
        event(acme.tenant, s, "delivered", ago(hours=1))
    assert [f.shipment_id for f in firings(acme.tenant)] == [mine.pk]
    run_firings(acme.tenant)
    event(acme.tenant, mine, "proof_of_delivery", ago(minutes=30))  # still delivered
    assert len(firings(acme.tenant)) == 1


def test_tag_filter(acme):
    rule(
        acme.tenant,
        name="vip delivered",
        trigger="milestone_reached",
        when={"milestone": "delivered"},
        filters={"tag": "vip"},
        actions=[TASK],
    )
    plain, vip = (
        shipment(acme.tenant, booked=ago(days=3)),
        shipment(acme.tenant, booked=ago(days=3)),
    )
    with tenant_context(acme.tenant.pk):
        services.shipment_tag_set(shipment_id=vip.pk, tag="vip")
    for s in (plain, vip):
        event(acme.tenant, s, "delivered", ago(hours=1))
    assert [f.shipment_id for f in firings(acme.tenant)] == [vip.pk]


def test_eta_moved_by_more_than_n_minutes(acme):
    rule(acme.tenant, trigger="eta_moved_minutes", when={"minutes": 120}, actions=[TASK])
    s = shipment(acme.tenant, booked=ago(hours=2))
    soon = timezone.now() + timedelta(days=5)  # after every earlier milestone's estimate
    # The carrier's estimate moves the projected ETA (about 3 days out) by two days.
    event(acme.tenant, s, "delivered", soon, classifier="EST", key="e1")
    [first] = firings(acme.tenant)
    assert first.cause["moved_minutes"] > 24 * 60
    event(acme.tenant, s, "delivered", soon + timedelta(minutes=60), classifier="EST", key="e2")
    assert len(firings(acme.tenant)) == 1  # an hour: within the allowance
    event(acme.tenant, s, "delivered", soon + timedelta(hours=5), classifier="EST", key="e3")
    [_, fired] = firings(acme.tenant)
    assert fired.cause["moved_minutes"] == 240
    event(acme.tenant, s, "delivered", soon + timedelta(hours=5), classifier="EST", key="e3")
    assert len(firings(acme.tenant)) == 2


def test_a_failing_action_is_recorded_retried_and_the_others_run_once(acme):
    calls: list[int] = []

    def flaky(firing) -> None:
        calls.append(firing.pk)
        if len(calls) == 1:
            raise RuntimeError("provider down")

    register_action(Action("flaky", "Flaky", validate=lambda c: dict(c), run=flaky))
    rule(
        acme.tenant,
        trigger="milestone_reached",
        when={"milestone": "picked_up"},
        actions=[TASK, {"type": "flaky", "config": {}}],
    )
    s = shipment(acme.tenant, booked=ago(hours=3))
    event(acme.tenant, s, "picked_up", ago(hours=1))
    assert run_firings(acme.tenant) == ["pending"]
    [firing] = firings(acme.tenant)
    assert firing.actions_done == [0] and "provider down" in firing.last_error
    assert run_firings(acme.tenant) == ["done"]
    assert len(tasks(acme.tenant)) == 1 and len(calls) == 2


def test_rules_and_firings_of_another_tenant_are_invisible(acme):
    rule(acme.tenant, trigger="milestone_reached", actions=[TASK])
    s = shipment(acme.tenant, booked=ago(hours=3))
    event(acme.tenant, s, "picked_up", ago(hours=1))
    assert firings(acme.tenant) and firings(acme.other_tenant) == []
    from integrations.workflow.models import Rule

    with tenant_context(acme.other_tenant.pk):
        assert Rule.objects.count() == 0
    other = shipment(acme.other_tenant, booked=ago(hours=3))
    event(acme.other_tenant, other, "picked_up", ago(hours=1))
    assert firings(acme.other_tenant) == []  # our rule does not see their shipments

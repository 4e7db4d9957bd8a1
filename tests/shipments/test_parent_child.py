"""Children of a consolidation ride on its leg: they take the parent's times for the linked
milestone, in the cached rows and in history views; links never form a cycle.

Timelines here are computed as at BOOKED (``timeline_clock``): the dates are fixed in the past,
and an overdue milestone is expected "now or later"."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shipments.models import Shipment, ShipmentLink, TrackingEvent
from shipments.selectors import shipment_timeline
from shipments.services import ShipmentError, event_void, events_record, shipment_link
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.shipments.conftest import BOOKED, act, est, hours, new_shipment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("timeline_clock")]


def _row(shipment: Shipment, code: str) -> dict:
    return next(r for r in shipment.timeline["rows"] if r["code"] == code)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
def family(tenant):
    parent = new_shipment(tenant, mode="ocean_fcl", reference="MSKU7654321")
    children = [new_shipment(tenant, mode="ocean_lcl", reference=f"LCL-{n}") for n in range(3)]
    with tenant_context(tenant.pk):
        for child in children:
            shipment_link(
                parent=parent,
                child=child,
                kind="consolidation",
                parent_milestone="departed",
                child_milestone="departed",
            )
    return parent, children


def _reload(shipments):
    return [Shipment.objects.get(pk=s.pk) for s in shipments]


def _planned(shipment: Shipment, code: str = "departed") -> datetime:
    return _at(_row(Shipment.objects.get(pk=shipment.pk), code)["planned"])


def test_children_leave_with_their_container_not_on_their_own_plan(tenant, family):
    parent, children = family
    with tenant_context(tenant.pk):
        assert ShipmentLink.objects.filter(parent=parent).count() == 3
        container = _planned(parent)  # ocean_fcl: booking + 5 d
        for child in _reload(children):
            row = _row(child, "departed")
            assert _planned(child) == container + hours(72)  # ocean_lcl: booking + 8 d
            assert _at(row["estimated_at"]) == container
            assert row["waiting_on"] == []  # the container is on plan: nothing is late


def test_a_late_parent_estimate_moves_every_child_and_says_why(tenant, family):
    parent, children = family
    with tenant_context(tenant.pk):
        late = _planned(parent) + hours(6)
        events_record(events=[est(parent, "departed", late)])
        assert _at(_row(Shipment.objects.get(pk=parent.pk), "departed")["estimated_at"]) == late
        for child in _reload(children):
            row = _row(child, "departed")
            assert _at(row["estimated_at"]) == late
            (text,) = row["waiting_on"]
            assert "MSKU7654321" in text and "6 h" in text
            assert child.timeline["waiting_on"] == row["waiting_on"]
            # Later milestones slip with it.
            assert _at(_row(child, "arrived")["estimated_at"]) == late + timedelta(days=24)


def test_when_the_container_has_left_its_children_have_left_with_it(tenant, family):
    parent, children = family
    with tenant_context(tenant.pk):
        left = _planned(parent) + hours(6)  # late, but gone
        events_record(events=[act(parent, "departed", left)])
        for child in _reload(children):
            row = _row(child, "departed")
            assert _at(row["actual"]["at"]) == left  # not its own plan + 6 h
            assert row["actual"]["source_kind"] == "parent"
            assert row["actual"]["source_name"] == "MSKU7654321"
            assert child.timeline["waiting_on"] == []  # no "delayed 6 h" once it has gone
            assert child.status == "in_transit"
        full = shipment_timeline(shipment=children[0]).row("departed")
        assert full.actual.reason == "from consolidation MSKU7654321"


def test_a_childs_older_carrier_estimate_is_raised_to_the_container(tenant, family):
    parent, children = family
    child = children[0]
    with tenant_context(tenant.pk):
        container = _planned(parent)
        events_record(events=[est(child, "departed", container - hours(24))])
        row = _row(Shipment.objects.get(pk=child.pk), "departed")
        assert row["estimate"]["source_kind"] == "integration"
        assert _at(row["estimated_at"]) == container
        assert "clamped:departed" in Shipment.objects.get(pk=child.pk).timeline["flags"]


def test_a_history_view_of_a_child_computes_its_parents_as_of_then(tenant, family):
    parent, children = family
    with tenant_context(tenant.pk):
        container = _planned(parent)
        told = BOOKED - hours(2)  # the carrier announced the late sailing then
        events_record(events=[est(parent, "departed", container + hours(6), recorded_at=told)])
        child = Shipment.objects.get(pk=children[0].pk)
        assert child.timeline["waiting_on"] != []  # today's cached view knows the delay
        before = shipment_timeline(shipment=child, as_of=told - hours(1)).row("departed")
        assert before.waiting_on == ()  # nobody knew it then
        assert before.estimated_at == container
        after = shipment_timeline(shipment=child, as_of=told).row("departed")
        assert after.estimated_at == container + hours(6)
        assert len(after.waiting_on) == 1


def test_children_recover_when_the_parent_delay_is_voided(tenant, family, ops_user):
    parent, children = family
    with tenant_context(tenant.pk):
        planned = _planned(parent)
        (event_id,) = events_record(events=[est(parent, "departed", planned + hours(6))])
        etas_late = {c.pk: c.eta for c in _reload(children)}
        event_void(event=TrackingEvent.objects.get(pk=event_id), reason="bad feed", actor=ops_user)
        for child in _reload(children):
            assert _row(child, "departed")["waiting_on"] == []
            assert child.eta < etas_late[child.pk]


def test_a_child_that_already_departed_is_not_held_back(tenant, family):
    parent, children = family
    with tenant_context(tenant.pk):
        first = children[0]
        child_planned = _at(_row(Shipment.objects.get(pk=first.pk), "departed")["planned"])
        events_record(events=[act(first, "departed", child_planned)])
        planned = _at(_row(Shipment.objects.get(pk=parent.pk), "departed")["planned"])
        events_record(events=[est(parent, "departed", planned + hours(6))])
        done, waiting, _ = _reload(children)
        assert _row(done, "departed")["waiting_on"] == []
        assert done.timeline["waiting_on"] == []
        assert _row(waiting, "departed")["waiting_on"] != []


def test_link_cycles_are_refused(tenant):
    a, b, c = (new_shipment(tenant, mode="road_ftl") for _ in range(3))
    with tenant_context(tenant.pk):
        shipment_link(parent=a, child=b, kind="linehaul")
        shipment_link(parent=b, child=c, kind="linehaul")
        audits = AuditLog.objects.filter(action="shipment.link").count()
        for parent, child in ((c, a), (b, a), (a, a)):
            with pytest.raises(ShipmentError) as raised:
                shipment_link(parent=parent, child=child, kind="linehaul")
            assert raised.value.code == "link_cycle"
        assert set(ShipmentLink.objects.values_list("parent_id", "child_id")) == {
            (a.pk, b.pk),
            (b.pk, c.pk),
        }
        assert AuditLog.objects.filter(action="shipment.link").count() == audits
        # A diamond is not a cycle.
        shipment_link(parent=a, child=c, kind="linehaul")
        assert ShipmentLink.objects.count() == 3


def test_the_delay_cascades_to_grandchildren(tenant):
    top = new_shipment(tenant, mode="road_ftl", reference="TOP-1")
    middle = new_shipment(tenant, mode="road_ftl", reference="MID-1")
    bottom = new_shipment(tenant, mode="road_ftl", reference="BOT-1")
    with tenant_context(tenant.pk):
        shipment_link(parent=top, child=middle, kind="linehaul")
        shipment_link(parent=middle, child=bottom, kind="linehaul")
        planned = _at(_row(Shipment.objects.get(pk=top.pk), "departed")["planned"])
        events_record(events=[est(top, "departed", planned + timedelta(hours=6))])
        mid, bot = _reload([middle, bottom])
        assert "TOP-1" in _row(mid, "departed")["waiting_on"][0]
        assert "MID-1" in _row(bot, "departed")["waiting_on"][0]

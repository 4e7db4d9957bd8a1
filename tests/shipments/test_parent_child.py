"""A consolidation parent's delay re-projects its children; links never form a cycle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shipments.models import Shipment, ShipmentLink, TrackingEvent
from shipments.services import ShipmentError, event_void, events_record, shipment_link
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.shipments.conftest import act, est, hours, new_shipment

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize("classifier", ["EST", "ACT"])
def test_a_late_parent_departure_re_projects_every_child(tenant, family, classifier):
    parent, children = family
    with tenant_context(tenant.pk):
        assert ShipmentLink.objects.filter(parent=parent).count() == 3
        parent_planned = _at(_row(Shipment.objects.get(pk=parent.pk), "departed")["planned"])
        planned = {c.pk: _at(_row(c, "departed")["planned"]) for c in _reload(children)}
        for child in _reload(children):
            assert _row(child, "departed")["waiting_on"] == []
            assert _at(_row(child, "departed")["estimated_at"]) < planned[child.pk] + hours(6)

        late = parent_planned + hours(6)
        maker = est if classifier == "EST" else act
        events_record(events=[maker(parent, "departed", late)])

        stored_parent = Shipment.objects.get(pk=parent.pk)
        if classifier == "EST":
            assert _at(_row(stored_parent, "departed")["estimated_at"]) == late
        else:
            assert _at(_row(stored_parent, "departed")["actual"]["at"]) == late
        for child in _reload(children):
            row = _row(child, "departed")
            assert _at(row["estimated_at"]) >= planned[child.pk] + hours(6)
            assert len(row["waiting_on"]) == 1
            text = row["waiting_on"][0]
            assert "MSKU7654321" in text
            assert "6 h" in text
            assert child.timeline["waiting_on"] == row["waiting_on"]
            # Later milestones slip with it.
            assert _at(_row(child, "arrived")["estimated_at"]) >= _at(row["estimated_at"])


def test_children_recover_when_the_parent_delay_is_voided(tenant, family, ops_user):
    parent, children = family
    with tenant_context(tenant.pk):
        planned = _at(_row(Shipment.objects.get(pk=parent.pk), "departed")["planned"])
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

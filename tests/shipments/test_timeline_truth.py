"""Issue 11 on the stored side: events keep their source's issue time, the cached summary says
what the engine now says, and history views of children stay a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shipments.models import Shipment, TrackingEvent
from shipments.selectors import shipment_timeline
from shipments.services import ShipmentError, events_record, shipment_link
from tenancy.context import tenant_context
from tests.shipments.conftest import BOOKED, act, est, hours, new_shipment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("timeline_clock")]


def _row(shipment, code: str) -> dict:
    stored = Shipment.objects.get(pk=shipment.pk)
    return next(r for r in stored.timeline["rows"] if r["code"] == code)


def test_a_replayed_older_estimate_does_not_beat_the_newer_issued_one(tenant):
    shipment = new_shipment(tenant, mode="road_ftl")
    newer = BOOKED + hours(80)
    with tenant_context(tenant.pk):
        events_record(
            events=[
                est(shipment, "arrived", newer, dedupe_key="a:2", issued_at=BOOKED + hours(5)),
                # The EDI replay of yesterday's message arrives afterwards.
                est(
                    shipment,
                    "arrived",
                    BOOKED + hours(60),
                    dedupe_key="a:1",
                    issued_at=BOOKED - hours(20),
                    recorded_at=BOOKED + hours(30),
                ),
            ]
        )
        assert TrackingEvent.objects.get(dedupe_key="a:1").issued_at == BOOKED - hours(20)
        row = _row(shipment, "arrived")
        assert row["estimated_at"] == newer.isoformat()
        full = shipment_timeline(shipment=shipment).row("arrived")
        assert full.estimate.issued_at == BOOKED + hours(5)


def test_an_issue_time_without_a_zone_is_refused(tenant):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk), pytest.raises(ShipmentError) as refused:
        events_record(
            events=[est(shipment, "arrived", BOOKED, issued_at=BOOKED.replace(tzinfo=None))]
        )
    assert refused.value.field == "issued_at"


def test_the_cached_summary_tells_gaps_and_future_actuals(tenant):
    shipment = new_shipment(tenant, mode="road_ftl")
    with tenant_context(tenant.pk):
        events_record(
            events=[
                act(shipment, "picked_up", BOOKED + hours(24), recorded_at=BOOKED + hours(25)),
                act(shipment, "arrived", BOOKED + hours(70), recorded_at=BOOKED + hours(71)),
                # Months ahead of its receipt: not a fact.
                act(shipment, "delivered", BOOKED + hours(2000), recorded_at=BOOKED + hours(72)),
            ]
        )
        stored = Shipment.objects.get(pk=shipment.pk)
        assert stored.status == "in_transit"
        assert _row(shipment, "departed")["gap"] is True
        assert {"gap:departed", "future_actual:delivered"} <= set(stored.timeline["flags"])
        assert _row(shipment, "picked_up")["actual"]["recorded_at"] == (
            (BOOKED + hours(25)).isoformat()
        )


def _history_queries(shipment) -> int:
    shipment = Shipment.objects.get(pk=shipment.pk)
    with CaptureQueriesContext(connection) as captured:
        shipment_timeline(shipment=shipment, as_of=BOOKED + hours(1))
    return len(captured.captured_queries)


def test_a_history_view_costs_the_same_queries_whatever_the_number_of_parents(tenant):
    alone, one, three = (new_shipment(tenant) for _ in range(3))
    parents = [new_shipment(tenant) for _ in range(3)]
    with tenant_context(tenant.pk):
        shipment_link(parent=parents[0], child=one, kind="linehaul")
        for parent in parents:
            shipment_link(parent=parent, child=three, kind="linehaul")
        baseline = _history_queries(alone)
        assert _history_queries(one) == _history_queries(three)
        # One more level: the parents' events, definitions, links, policy and references.
        assert _history_queries(one) <= 2 * baseline + 1

"""Recording events drives the cached timeline; events are immutable facts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import IntegrityError, connection

from milestones.engine import timeline_to_dict
from milestones.services import tracking_policy_set
from shipments.models import Shipment, TrackingEvent
from shipments.selectors import shipment_timeline
from shipments.services import (
    ShipmentError,
    event_correct,
    event_void,
    events_record,
    milestone_record_manual,
    timelines_refresh,
)
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.shipments.conftest import BOOKED, act, est, hours, new_shipment

pytestmark = pytest.mark.django_db

D = timedelta(days=1)
# road_ftl defaults: picked_up = booking + 1 d, departed = picked_up + 1 h,
# arrived = departed + 2 d, delivered = arrived + 2 h, proof_of_delivery = delivered + 2 d.
PLANNED_DELIVERY = BOOKED + 3 * D + hours(3)


def _journey(shipment) -> list:
    return [
        act(shipment, "picked_up", BOOKED + D + hours(2)),
        act(shipment, "departed", BOOKED + D + hours(3)),
        act(shipment, "arrived", BOOKED + 3 * D + hours(5)),
        est(shipment, "delivered", BOOKED + 3 * D + hours(9)),
    ]


def _row(timeline: dict, code: str) -> dict:
    return next(r for r in timeline["rows"] if r["code"] == code)


def _stored(shipment) -> Shipment:
    return Shipment.objects.get(pk=shipment.pk)


def test_recording_actuals_moves_the_cached_shipment_row(tenant, timeline_clock):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        before = _stored(shipment)
        assert (before.status, before.current_stage, before.progress_percent) == ("booked", "", 0)
        assert before.eta == PLANNED_DELIVERY
        assert before.next_milestone == "order_created"

        inserted = events_record(events=[act(shipment, "picked_up", BOOKED + D + hours(5))])
        assert len(inserted) == 1
        after = _stored(shipment)
        assert after.status == "in_transit"
        assert after.current_stage == "picked_up"
        assert after.next_milestone == "departed"
        assert after.progress_percent == 20  # 1 of 5 required progress milestones
        assert after.eta == PLANNED_DELIVERY + hours(5)  # projected from the late pickup
        assert _row(after.timeline, "picked_up")["actual"]["event_id"] == str(inserted[0])

        events_record(events=_journey(shipment)[1:])
        moved = _stored(shipment)
        assert (moved.status, moved.current_stage, moved.progress_percent) == (
            "in_transit",
            "arrived",
            60,
        )
        assert moved.eta == BOOKED + 3 * D + hours(9)  # the carrier's estimate

        events_record(events=[act(shipment, "delivered", BOOKED + 3 * D + hours(8))])
        done = _stored(shipment)
        assert (done.status, done.current_stage, done.progress_percent) == (
            "delivered",
            "delivered",
            80,
        )
        assert done.eta == BOOKED + 3 * D + hours(8)


def test_replaying_the_same_events_inserts_nothing_and_changes_nothing(tenant):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        first = events_record(events=_journey(shipment))
        assert len(first) == 4
        snapshot = _stored(shipment)
        assert events_record(events=_journey(shipment)) == []
        assert events_record(events=list(reversed(_journey(shipment)))) == []
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 4
        again = _stored(shipment)
        assert again.timeline == snapshot.timeline
        assert again.timeline_computed_at == snapshot.timeline_computed_at


def test_duplicates_inside_one_batch_are_inserted_once(tenant):
    shipment = new_shipment(tenant)
    event = act(shipment, "picked_up", BOOKED + D)
    with tenant_context(tenant.pk):
        assert len(events_record(events=[event, event, event])) == 1
        # Without an explicit dedupe key the content hash makes the same report idempotent.
        keyless = act(shipment, "departed", BOOKED + D + hours(1), dedupe_key="")
        assert len(events_record(events=[keyless])) == 1
        assert events_record(events=[keyless]) == []
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 2


def _normalised(value):
    """A timeline without what necessarily differs between two shipments (ids, clock)."""
    if isinstance(value, dict):
        skip = {"event_id", "evaluated_at", "late_by"}  # late_by grows with the clock
        return {k: _normalised(v) for k, v in value.items() if k not in skip}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def test_events_in_any_order_give_the_same_cached_timeline(tenant, timeline_clock):
    recorded = datetime(2025, 3, 10, tzinfo=UTC)
    shipments = [new_shipment(tenant) for _ in range(3)]

    def events(shipment):
        return [
            act(shipment, "picked_up", BOOKED + D + hours(2), recorded_at=recorded),
            act(shipment, "departed", BOOKED + D + hours(4), recorded_at=recorded + hours(1)),
            est(shipment, "arrived", BOOKED + 3 * D, recorded_at=recorded + hours(2)),
            est(
                shipment,
                "arrived",
                BOOKED + 3 * D + hours(6),
                dedupe_key="arrived:EST:2",
                recorded_at=recorded + hours(3),
            ),
            act(shipment, "customs_hold", BOOKED + D + hours(5), recorded_at=recorded),
        ]

    with tenant_context(tenant.pk):
        events_record(events=events(shipments[0]))
        reversed_events = list(reversed(events(shipments[1])))
        for event in reversed_events:  # one by one, newest first
            events_record(events=[event])
        shuffled = events(shipments[2])
        random.Random(3).shuffle(shuffled)
        events_record(events=shuffled[:2])
        events_record(events=shuffled)  # the first two again: replayed, skipped
        timelines = [_normalised(_stored(s).timeline) for s in shipments]
        statuses = {(_stored(s).status, _stored(s).eta) for s in shipments}
    assert timelines[0] == timelines[1] == timelines[2]
    assert len(statuses) == 1
    assert _row(timelines[0], "arrived")["estimated_at"] == (BOOKED + 3 * D + hours(6)).isoformat()


def test_a_late_arriving_earlier_milestone_does_not_move_status_back(tenant):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        events_record(events=[act(shipment, "delivered", BOOKED + 3 * D)])
        assert _stored(shipment).status == "delivered"
        events_record(events=[act(shipment, "picked_up", BOOKED + D)])
        events_record(events=[act(shipment, "departed", BOOKED + D + hours(1))])
        stored = _stored(shipment)
        assert stored.status == "delivered"
        assert stored.current_stage == "delivered"
        assert _row(stored.timeline, "picked_up")["reached"] is True


def test_delivered_before_departed_is_kept_and_flagged_out_of_sequence(tenant):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        events_record(
            events=[
                act(shipment, "picked_up", BOOKED + D),
                act(shipment, "delivered", BOOKED + D + hours(2)),
                act(shipment, "departed", BOOKED + D + hours(5)),
            ]
        )
        stored = _stored(shipment)
        delivered = _row(stored.timeline, "delivered")
        assert delivered["actual"]["at"] == (BOOKED + D + hours(2)).isoformat()
        assert delivered["out_of_sequence"] is True
        assert "out_of_sequence:delivered" in stored.timeline["flags"]
        assert _row(stored.timeline, "departed")["out_of_sequence"] is False
        assert stored.status == "delivered"
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 3


def _full_row(shipment, code: str) -> dict:
    return _row(timeline_to_dict(shipment_timeline(shipment=_stored(shipment))), code)


def test_estimate_source_priority_follows_the_tenant_policy(tenant, timeline_clock, ops_user):
    shipment = new_shipment(tenant)
    carrier_eta = BOOKED + 4 * D
    manual_eta = BOOKED + 5 * D
    with tenant_context(tenant.pk):
        assert _row(_stored(shipment).timeline, "delivered")["estimate"]["source_kind"] == (
            "projection"
        )
        events_record(events=[est(shipment, "delivered", carrier_eta)])
        stored = _stored(shipment)
        assert stored.eta == carrier_eta  # integration beats the projection
        # The full timeline (reasons, every candidate) is computed on read; the row caches less.
        assert "wins by source priority" in _full_row(shipment, "delivered")["estimate_reason"]

        milestone_record_manual(
            shipment=shipment,
            milestone="delivered",
            occurred_at=manual_eta,
            classifier="EST",
            reason="driver called: truck broke down",
            actor=ops_user,
        )
        stored = _stored(shipment)
        assert stored.eta == manual_eta  # a deliberate human override beats everything
        assert _row(stored.timeline, "delivered")["estimate"]["source_kind"] == "user"
        row = _full_row(shipment, "delivered")
        assert [c["source_kind"] for c in row["candidates"]] == [
            "user",
            "integration",
            "projection",
        ]

        tracking_policy_set(source_priority=["integration", "projection", "user"])
        assert shipment_timeline(shipment=_stored(shipment)).eta == carrier_eta
        tracking_policy_set(source_priority=["projection", "integration", "user"])
        assert shipment_timeline(shipment=_stored(shipment)).eta == PLANNED_DELIVERY
        timelines_refresh(shipment_ids=[shipment.pk])
        assert _stored(shipment).eta == PLANNED_DELIVERY


def test_manual_milestone_needs_a_reason_and_is_attributed_and_audited(tenant, ops_user):
    shipment = new_shipment(tenant)
    when = BOOKED + D + hours(1)
    with tenant_context(tenant.pk):
        for reason in ("", "  "):
            with pytest.raises(ShipmentError) as raised:
                milestone_record_manual(
                    shipment=shipment,
                    milestone="picked_up",
                    occurred_at=when,
                    reason=reason,
                    actor=ops_user,
                )
            assert raised.value.field == "reason"
        assert not TrackingEvent.objects.exists()
        assert not AuditLog.objects.filter(action="event.manual").exists()

        event = milestone_record_manual(
            shipment=shipment,
            milestone="picked_up",
            occurred_at=when,
            reason="driver confirmed by phone",
            actor=ops_user,
            location="DEHAM",
        )
        event = TrackingEvent.objects.get(pk=event.pk)
        assert event.source_kind == "user"
        assert event.source_name == f"user:{ops_user.email}"
        assert event.author_id == ops_user.pk
        assert event.reason == "driver confirmed by phone"
        assert event.classifier == "ACT"
        audit = AuditLog.objects.get(action="event.manual")
        assert audit.actor_id == ops_user.pk
        assert audit.reason == "driver confirmed by phone"
        assert audit.target_id == str(shipment.pk)
        assert audit.changes["event"] == event.pk
        stored = _stored(shipment)
        assert stored.current_stage == "picked_up"
        assert _row(stored.timeline, "picked_up")["actual"]["source_kind"] == "user"


def test_event_correct_supersedes_and_keeps_the_original(tenant, ops_user):
    shipment = new_shipment(tenant)
    wrong, right = BOOKED + D + hours(9), BOOKED + D + hours(2)
    with tenant_context(tenant.pk):
        (event_id,) = events_record(events=[act(shipment, "picked_up", wrong)])
        original = TrackingEvent.objects.get(pk=event_id)
        with pytest.raises(ShipmentError):
            event_correct(event=original, reason="", actor=ops_user, occurred_at=right)

        correction = event_correct(
            event=original, reason="carrier keyed local time", actor=ops_user, occurred_at=right
        )
        assert correction.supersedes_id == original.pk
        assert correction.occurred_at == right
        unchanged = TrackingEvent.objects.get(pk=original.pk)
        assert (unchanged.occurred_at, unchanged.source_name) == (wrong, "carrier:TEST")
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 2
        actual = _row(_stored(shipment).timeline, "picked_up")["actual"]
        assert actual["at"] == right.isoformat()
        assert actual["event_id"] == str(correction.pk)
        assert AuditLog.objects.filter(action="event.correct", reason__contains="local").exists()


def test_event_void_removes_the_fact(tenant, ops_user):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        ids = events_record(
            events=[act(shipment, "picked_up", BOOKED + D), act(shipment, "departed", BOOKED + D)]
        )
        departed = TrackingEvent.objects.get(pk=ids[1])
        assert _stored(shipment).current_stage == "departed"
        with pytest.raises(ShipmentError):
            event_void(event=departed, reason=" ", actor=ops_user)
        void = event_void(event=departed, reason="wrong container", actor=ops_user)
        assert void.voids is True and void.supersedes_id == departed.pk
        stored = _stored(shipment)
        assert _row(stored.timeline, "departed")["actual"] is None
        assert stored.current_stage == "picked_up"
        assert TrackingEvent.objects.filter(pk=departed.pk).exists()
        # Voiding twice is refused as already recorded.
        with pytest.raises(ShipmentError) as raised:
            event_void(event=departed, reason="again", actor=ops_user)
        assert raised.value.code == "duplicate"
        assert AuditLog.objects.filter(action="event.void").count() == 1


def test_postgresql_refuses_to_update_a_tracking_event(tenant):
    shipment = new_shipment(tenant)
    when = BOOKED + D
    with tenant_context(tenant.pk):
        (event_id,) = events_record(events=[act(shipment, "picked_up", when)])
    with (
        pytest.raises(IntegrityError, match="immutable"),
        tenant_context(tenant.pk),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE shipments_trackingevent SET occurred_at = occurred_at + interval '1 day'"
            " WHERE id = %s",
            [event_id],
        )
    with pytest.raises(IntegrityError, match="immutable"), tenant_context(tenant.pk):
        TrackingEvent.objects.filter(pk=event_id).update(reason="edited")
    with tenant_context(tenant.pk):
        event = TrackingEvent.objects.get(pk=event_id)
        assert (event.occurred_at, event.reason) == (when, "")


def test_as_of_shows_what_was_known_then(tenant, ops_user):
    shipment = new_shipment(tenant)
    t1 = datetime(2025, 3, 4, 12, tzinfo=UTC)
    with tenant_context(tenant.pk):
        events_record(
            events=[
                act(shipment, "picked_up", BOOKED + D, recorded_at=t1),
                act(shipment, "departed", BOOKED + D + hours(1), recorded_at=t1 + hours(6)),
            ]
        )
        stored = _stored(shipment)
        before = shipment_timeline(shipment=stored, as_of=t1 - hours(1))
        assert (before.status, before.current_stage) == ("booked", None)
        middle = shipment_timeline(shipment=stored, as_of=t1 + hours(1))
        assert (middle.status, middle.current_stage) == ("in_transit", "picked_up")
        assert middle.row("departed").actual is None
        assert middle.as_of == t1 + hours(1)
        now = shipment_timeline(shipment=stored)
        assert now.current_stage == "departed"
        # A correction recorded today is not known as of yesterday.
        original = TrackingEvent.objects.get(milestone="departed")
        event_correct(
            event=original, reason="typo", actor=ops_user, occurred_at=BOOKED + D + hours(2)
        )
        stored = _stored(shipment)
        then = shipment_timeline(shipment=stored, as_of=t1 + hours(7))
        assert then.row("departed").actual.at == BOOKED + D + hours(1)
        assert shipment_timeline(shipment=stored).row("departed").actual.at == (
            BOOKED + D + hours(2)
        )


def test_times_are_stored_in_utc_and_round_trip_to_the_same_instant(tenant):
    shipment = new_shipment(tenant)
    tokyo = datetime(2025, 3, 4, 17, 30, tzinfo=timezone(timedelta(hours=9)))
    with tenant_context(tenant.pk):
        (event_id,) = events_record(events=[act(shipment, "picked_up", tokyo)])
        stored = TrackingEvent.objects.get(pk=event_id)
        assert stored.occurred_at == tokyo
        assert stored.occurred_at.utcoffset() == timedelta(0)
        assert stored.occurred_at == datetime(2025, 3, 4, 8, 30, tzinfo=UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
                " FROM shipments_trackingevent WHERE id = %s",
                [event_id],
            )
            assert cursor.fetchone()[0] == "2025-03-04 08:30"
        actual = _row(_stored(shipment).timeline, "picked_up")["actual"]
        assert actual["at"] == "2025-03-04T08:30:00+00:00"


def test_naive_times_are_refused(tenant):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        with pytest.raises(ShipmentError) as raised:
            events_record(events=[act(shipment, "picked_up", datetime(2025, 3, 4, 8, 30))])
        assert raised.value.field == "occurred_at"
        assert not TrackingEvent.objects.exists()

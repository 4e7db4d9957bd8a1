"""The awkward cases of real operations (issue 11), read as an ops person reads a timeline:
repeated delivery attempts, optional milestones, upstream estimates, consolidations, published
schedules, overdue estimates, impossible and stale reports, gaps versus inversions. Plus one
test per documented rule that nothing else pins down (each fails when the rule is flipped)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from milestones.default_templates import DEFAULT_TEMPLATES
from milestones.engine import (
    CLOCK_SKEW,
    PARENT_SOURCE_KIND,
    EngineEvent,
    MilestoneDef,
    PlannedRule,
    ShipmentStatus,
    UpstreamDelay,
    compute_timeline,
    upstream_delay,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
_ids = iter(range(100_000))


def ev(milestone, occurred, classifier="ACT", *, recorded=None, kind="integration", **kw):
    n = next(_ids)
    return EngineEvent(
        id=kw.pop("id", f"t{n}"),
        milestone=milestone,
        occurred_at=occurred,
        classifier=classifier,
        source_kind=kind,
        source_name=kw.pop("name", "dcsa:MAEU"),
        recorded_at=recorded or occurred,
        dedupe_key=kw.pop("key", f"t{n}"),
        **kw,
    )


def compute(mode_or_template, events, *, now, **kw):
    template = (
        DEFAULT_TEMPLATES[mode_or_template]
        if isinstance(mode_or_template, str)
        else mode_or_template
    )
    return compute_timeline(template=template, events=events, booked_at=T0, now=now, **kw)


def not_repeatable(mode: str, code: str) -> list[MilestoneDef]:
    return [
        dataclasses.replace(d, repeatable=False) if d.code == code else d
        for d in DEFAULT_TEMPLATES[mode]
    ]


# ----------------------------------------------------------------- 1. repeated delivery attempts


def _attempts():
    # last_mile: picked_up booking + 4 h, out_for_delivery + 2 h, delivered + 6 h.
    return [
        ev("picked_up", T0 + 4 * H),
        ev("out_for_delivery", T0 + 6 * H),
        ev("failed_delivery", T0 + 10 * H),
        ev("out_for_delivery", T0 + D + 6 * H),
    ]


def test_two_failed_attempts_end_in_failed_delivery():
    events = [*_attempts(), ev("failed_delivery", T0 + D + 10 * H)]
    tl = compute("last_mile", events, now=T0 + D + 11 * H)
    assert tl.status == ShipmentStatus.FAILED_DELIVERY
    assert tl.row("out_for_delivery").actual.at == T0 + D + 6 * H  # the current attempt
    assert tl.row("failed_delivery").actual.at == T0 + D + 10 * H
    assert tl.row("out_for_delivery").repeatable


def test_a_new_attempt_after_a_failure_is_out_for_delivery_again():
    tl = compute("last_mile", _attempts(), now=T0 + D + 7 * H)
    assert tl.status == ShipmentStatus.OUT_FOR_DELIVERY


def test_the_eta_after_a_second_attempt_anchors_on_the_current_attempt():
    now = T0 + D + 7 * H
    tl = compute("last_mile", _attempts(), now=now)
    assert tl.eta == T0 + D + 12 * H  # second out-for-delivery scan + 6 h
    assert tl.row("delivered").projection_basis == "out_for_delivery actual + 6 h"
    # Without the repeatable mark the first attempt stays the actual: the ETA would be
    # yesterday afternoon, only held up by "now or later".
    first = compute(not_repeatable("last_mile", "out_for_delivery"), _attempts(), now=now)
    assert first.row("out_for_delivery").actual.at == T0 + 6 * H
    assert first.eta == now


def test_a_repeated_predecessor_counts_its_first_attempt_for_the_sequence_check():
    events = [
        ev("picked_up", T0 + 4 * H),
        ev("out_for_delivery", T0 + 6 * H),
        ev("delivered", T0 + 9 * H),
        ev("out_for_delivery", T0 + 11 * H),  # a stray scan after delivery
    ]
    tl = compute("last_mile", events, now=T0 + 12 * H)
    assert not tl.row("delivered").out_of_sequence
    assert tl.status == ShipmentStatus.DELIVERED


def test_departed_keeps_the_first_credible_report():
    events = [ev("picked_up", T0 + 3 * D), ev("departed", T0 + 5 * D), ev("departed", T0 + 6 * D)]
    assert compute("ocean_fcl", events, now=T0 + 7 * D).row("departed").actual.at == T0 + 5 * D


# ----------------------------------------------------------------- 2. optional milestones


def test_an_optional_milestone_a_feed_never_sends_is_never_late():
    # ocean_fcl: order_created booking + 0 (tolerance 4 h, optional), picked_up + 3 d (1 d).
    quiet = compute("ocean_fcl", [], now=T0 + 5 * H)
    assert not quiet.row("order_created").late
    assert not quiet.row("order_created").at_risk
    assert quiet.late_milestones == ()
    overdue = compute("ocean_fcl", [], now=T0 + 4 * D + H)
    assert overdue.late_milestones == ("picked_up",)


def test_a_hub_scan_air_carriers_do_not_send_is_not_late():
    # air: picked_up booking + 1 d; warehouse_received (optional) + 8 h, tolerance 6 h.
    now = T0 + D + 15 * H
    tl = compute("air", [ev("picked_up", T0 + D)], now=now)
    row = tl.row("warehouse_received")
    assert not row.required and not row.late and not row.at_risk
    assert tl.late_milestones == ()


def test_an_optional_milestone_reported_late_is_late():
    events = [ev("picked_up", T0 + D), ev("warehouse_received", T0 + D + 20 * H)]
    tl = compute("air", events, now=T0 + D + 21 * H)
    assert tl.row("warehouse_received").late
    assert tl.row("warehouse_received").late_by == 6 * H


# ----------------------------------------------------------------- 3. estimates before estimates


def test_a_promised_delivery_is_raised_to_the_estimates_that_must_precede_it():
    # ocean_fcl: customs_cleared arrived + 2 d, out_for_delivery + 1 d, delivered + 10 h.
    events = [
        ev("arrived", T0 + 31 * D, "EST", recorded=T0 + D),
        ev("delivered", T0 + 30 * D, "EST", recorded=T0 + D, kind="user", name="user:ops"),
    ]
    tl = compute("ocean_fcl", events, now=T0 + D)
    delivered = tl.row("delivered")
    assert tl.row("customs_cleared").estimated_at == T0 + 33 * D
    assert delivered.estimate.source_kind == "user"  # still the user's word, but raised
    assert delivered.estimated_at == T0 + 34 * D
    assert delivered.estimate_clamped
    assert "raised to the estimate of out_for_delivery" in delivered.estimate_reason
    assert "clamped:delivered" in tl.flags
    assert tl.eta == T0 + 34 * D


def test_an_optional_predecessor_estimate_does_not_hold_later_milestones_back():
    # air: warehouse_received is optional; a late hub estimate must not move departure.
    events = [
        ev("picked_up", T0 + D),
        ev("warehouse_received", T0 + 5 * D, "EST", recorded=T0 + D),
    ]
    tl = compute("air", events, now=T0 + D)
    assert tl.row("departed").estimated_at == T0 + 2 * D + 8 * H
    assert "clamped:departed" not in tl.flags


# ----------------------------------------------------------------- 4. consolidations


def leg(at, *, actual=False, delay=timedelta(0), reference="MSKU7654321", **kw):
    return UpstreamDelay(
        parent_reference=reference,
        parent_milestone=kw.pop("parent_milestone", "departed"),
        affects=kw.pop("affects", "departed"),
        at=at,
        actual=actual,
        delay=delay,
        reason=kw.pop("reason", f"consolidation {reference}"),
        **kw,
    )


# ocean_lcl child: picked_up booking + 3 d, warehouse_received + 1 d, departed + 4 d (= 8 d).
CHILD_DEPARTS = T0 + 8 * D


def test_a_child_booked_earlier_does_not_depart_before_its_container():
    tl = compute("ocean_lcl", [], now=T0, upstream_delays=[leg(T0 + 9 * D)])
    row = tl.row("departed")
    assert row.planned == CHILD_DEPARTS
    assert row.estimated_at == T0 + 9 * D
    assert row.projection_basis == "departed estimate of consolidation MSKU7654321"
    assert row.waiting_on == ()  # the container is on its own plan: nothing is late
    assert tl.row("arrived").estimated_at == T0 + 9 * D + 24 * D


def test_a_child_planned_later_leaves_with_its_container_and_says_so():
    gone = leg(T0 + 5 * D + 6 * H, actual=True, delay=6 * H, recorded_at=T0 + 5 * D + 7 * H)
    tl = compute("ocean_lcl", [], now=T0 + 6 * D, upstream_delays=[gone])
    row = tl.row("departed")
    assert row.actual.at == T0 + 5 * D + 6 * H  # not pushed to its own plan + 6 h
    assert row.actual.source_kind == PARENT_SOURCE_KIND
    assert row.actual.source_name == "MSKU7654321"
    assert row.actual.reason == "from consolidation MSKU7654321"
    assert row.actual.recorded_at == T0 + 5 * D + 7 * H
    assert tl.status == ShipmentStatus.IN_TRANSIT
    assert tl.waiting_on == ()  # left late but gone: no "delayed 6 h" any more
    assert tl.row("arrived").estimated_at == T0 + 5 * D + 6 * H + 24 * D


def test_a_childs_older_carrier_estimate_is_raised_and_a_later_one_kept():
    parent = leg(T0 + 9 * D)
    older = ev("departed", T0 + 7 * D, "EST", recorded=T0 + D)
    tl = compute("ocean_lcl", [older], now=T0 + D, upstream_delays=[parent])
    row = tl.row("departed")
    assert row.estimate.source_kind == "integration"
    assert row.estimated_at == T0 + 9 * D
    assert "raised to the departed estimate of consolidation MSKU7654321" in row.estimate_reason
    assert "clamped:departed" in tl.flags
    later = ev("departed", T0 + 10 * D, "EST", recorded=T0 + D)
    assert (
        compute("ocean_lcl", [later], now=T0 + D, upstream_delays=[parent])
        .row("departed")
        .estimated_at
        == T0 + 10 * D
    )


def test_a_late_parent_shows_the_wait_until_it_has_done_the_leg():
    late = leg(T0 + 9 * D, delay=6 * H)
    tl = compute("ocean_lcl", [], now=T0, upstream_delays=[late])
    text = "waiting on MSKU7654321, delayed 6 h at departure (consolidation MSKU7654321)"
    assert tl.row("departed").waiting_on == (text,)
    done = dataclasses.replace(late, actual=True)
    assert compute("ocean_lcl", [], now=T0, upstream_delays=[done]).waiting_on == ()


def test_the_childs_own_actual_wins_over_the_parent():
    own = ev("departed", T0 + 8 * D)
    tl = compute("ocean_lcl", [own], now=T0 + 9 * D, upstream_delays=[leg(T0 + 9 * D)])
    assert tl.row("departed").actual.source_kind == "integration"
    assert tl.waiting_on == ()


def test_several_parents_the_latest_leads_and_all_must_have_gone():
    gone = leg(T0 + 8 * D, actual=True, reference="A")
    coming = leg(T0 + 9 * D, delay=H, reference="B")
    tl = compute("ocean_lcl", [], now=T0, upstream_delays=[gone, coming])
    assert tl.row("departed").actual is None
    assert tl.row("departed").estimated_at == T0 + 9 * D
    assert tl.waiting_on == ("waiting on B, delayed 1 h at departure (consolidation B)",)
    both = [gone, dataclasses.replace(coming, actual=True)]
    assert compute("ocean_lcl", [], now=T0, upstream_delays=both).row("departed").reached


def test_upstream_delay_reads_a_parent_row():
    planned = T0 + 5 * D
    assert (
        upstream_delay(
            parent_reference="P",
            parent_milestone="departed",
            affects="departed",
            planned=planned,
            actual_at=None,
            estimated_at=None,
        )
        is None
    )
    early = upstream_delay(
        parent_reference="P",
        parent_milestone="departed",
        affects="departed",
        planned=planned,
        actual_at=planned - H,
        estimated_at=None,
        actual_recorded_at=planned,
    )
    assert (early.at, early.actual, early.delay, early.recorded_at) == (
        planned - H,
        True,
        -H,
        planned,
    )


# ----------------------------------------------------------------- 5. published schedules


def test_projections_build_on_the_published_schedule():
    # ocean_fcl: departed planned picked_up + 2 d = 5 d; the carrier publishes a sailing at 8 d.
    sailing = ev("departed", T0 + 8 * D, "PLN", recorded=T0 + D)
    tl = compute("ocean_fcl", [sailing], now=T0 + D)
    departed = tl.row("departed")
    assert departed.planned == T0 + 8 * D
    assert departed.projected == T0 + 8 * D
    assert departed.projection_basis == "published schedule (plan from integration dcsa:MAEU)"
    assert tl.row("arrived").estimated_at == T0 + 29 * D


def test_cargo_that_can_not_make_the_published_sailing_is_not_shown_on_it():
    sailing = ev("departed", T0 + 8 * D, "PLN", recorded=T0 + D)
    late_pickup = ev("picked_up", T0 + 7 * D)
    tl = compute("ocean_fcl", [sailing, late_pickup], now=T0 + 7 * D)
    assert tl.row("departed").projected == T0 + 9 * D  # picked_up actual + 2 d


# ----------------------------------------------------------------- 6. overdue estimates


def test_an_overdue_estimate_is_now_or_later_and_the_eta_follows():
    now = T0 + 10 * D
    tl = compute("ocean_fcl", [], now=now)
    picked = tl.row("picked_up")
    assert picked.estimated_at == now
    assert "overdue: raised to now" in picked.projection_basis
    assert tl.row("departed").estimated_at == now + 2 * D
    assert tl.eta == now + (2 + 21 + 2 + 1) * D + 10 * H
    assert not [f for f in tl.flags if f.startswith("clamped:")]  # lateness says overdue
    assert tl.late_milestones == ("picked_up", "departed")


def test_an_overdue_carrier_estimate_is_raised_to_now_without_a_conflict_flag():
    stale = ev("picked_up", T0 + 3 * D, "EST", recorded=T0 + D)
    tl = compute("ocean_fcl", [stale], now=T0 + 3 * D + 5 * H)
    row = tl.row("picked_up")
    assert row.estimated_at == T0 + 3 * D + 5 * H
    assert row.estimate_clamped
    assert "clamped:picked_up" not in tl.flags


def test_a_history_view_is_now_or_later_as_of_then():
    tl = compute("ocean_fcl", [], now=T0 + 30 * D, as_of=T0 + 10 * D)
    assert tl.row("picked_up").estimated_at == T0 + 10 * D


# ----------------------------------------------------------------- 7. impossible and stale


def test_an_actual_months_ahead_of_its_receipt_is_kept_flagged_and_ignored():
    events = [ev("picked_up", T0 + 3 * D), ev("delivered", T0 + 100 * D, recorded=T0 + 5 * D)]
    tl = compute("ocean_fcl", events, now=T0 + 6 * D)
    row = tl.row("delivered")
    assert tl.status == ShipmentStatus.IN_TRANSIT
    assert row.actual is None
    assert [a.at for a in row.suspect_actuals] == [T0 + 100 * D]
    assert "future_actual:delivered" in tl.flags
    assert tl.progress_percent < 100


def test_clock_skew_allowance_is_the_boundary_of_a_future_actual():
    recorded = T0 + 3 * D
    within = compute(
        "ocean_fcl", [ev("picked_up", recorded + CLOCK_SKEW, recorded=recorded)], now=T0
    )
    assert within.row("picked_up").reached
    beyond = compute(
        "ocean_fcl",
        [ev("picked_up", recorded + CLOCK_SKEW + timedelta(microseconds=1), recorded=recorded)],
        now=T0,
    )
    assert not beyond.row("picked_up").reached
    assert timedelta(minutes=15) == CLOCK_SKEW


def test_a_stale_replay_does_not_beat_the_newer_issued_estimate():
    newer = ev("arrived", T0 + 30 * D, "EST", recorded=T0 + 5 * D, issued_at=T0 + 5 * D)
    replay = ev("arrived", T0 + 28 * D, "EST", recorded=T0 + 6 * D, issued_at=T0 + 2 * D)
    tl = compute("ocean_fcl", [replay, newer], now=T0 + 6 * D)
    row = tl.row("arrived")
    assert row.estimated_at == T0 + 30 * D
    assert row.estimate.issued_at == T0 + 5 * D
    # Without an issue time the receipt time stands in: then the replay is the newest.
    unknown = dataclasses.replace(replay, issued_at=None)
    assert compute("ocean_fcl", [unknown, newer], now=T0 + 6 * D).row("arrived").estimated_at == (
        T0 + 28 * D
    )


def test_an_issue_time_after_receipt_counts_as_the_receipt():
    bogus = ev("arrived", T0 + 31 * D, "EST", recorded=T0 + 3 * D, issued_at=T0 + 9 * D)
    fresh = ev("arrived", T0 + 29 * D, "EST", recorded=T0 + 4 * D, issued_at=T0 + 4 * D)
    row = compute("ocean_fcl", [bogus, fresh], now=T0 + 5 * D).row("arrived")
    assert row.estimated_at == T0 + 29 * D
    assert [c.issued_at for c in row.candidates if c.event_id] == [T0 + 4 * D]


def test_equal_priority_sources_compare_their_issue_times():
    dcsa = ev("arrived", T0 + 30 * D, "EST", recorded=T0 + 7 * D, issued_at=T0 + 5 * D)
    x12 = ev("arrived", T0 + 27 * D, "EST", recorded=T0 + 6 * D, issued_at=T0 + 6 * D, name="x12")
    row = compute("ocean_fcl", [dcsa, x12], now=T0 + 7 * D).row("arrived")
    assert row.estimate.source_name == "x12"
    assert "newest issued" in row.estimate_reason


def test_a_plan_also_takes_the_newest_issued_of_a_source():
    newer = ev("departed", T0 + 9 * D, "PLN", recorded=T0 + D, issued_at=T0 + D)
    replay = ev("departed", T0 + 6 * D, "PLN", recorded=T0 + 2 * D, issued_at=T0)
    assert compute("ocean_fcl", [newer, replay], now=T0).row("departed").planned == T0 + 9 * D


# ----------------------------------------------------------------- 8. gaps versus inversions


def test_a_milestone_never_reported_is_a_gap_not_an_inversion():
    events = [ev("picked_up", T0 + 3 * D), ev("arrived", T0 + 26 * D)]
    tl = compute("ocean_fcl", events, now=T0 + 27 * D)
    assert tl.row("departed").gap
    assert not tl.row("departed").late
    assert "gap:departed" in tl.flags
    assert not tl.row("arrived").out_of_sequence
    assert not [f for f in tl.flags if f.startswith("out_of_sequence")]
    assert not tl.row("order_created").gap  # optional: nobody expected it


def test_a_report_in_the_wrong_order_is_an_inversion_not_a_gap():
    events = [
        ev("picked_up", T0 + 3 * D),
        ev("departed", T0 + 6 * D),
        ev("arrived", T0 + 5 * D),  # before departure
    ]
    tl = compute("ocean_fcl", events, now=T0 + 7 * D)
    assert tl.row("arrived").out_of_sequence
    assert "out_of_sequence:arrived" in tl.flags
    assert not [f for f in tl.flags if f.startswith("gap:")]


# ----------------------------------------------------------------- 9. terminal alternatives


@pytest.mark.parametrize("mode", sorted(DEFAULT_TEMPLATES))
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("returned", ShipmentStatus.RETURNED),
        ("cancelled", ShipmentStatus.CANCELLED),
        ("failed_delivery", ShipmentStatus.FAILED_DELIVERY),
    ],
)
def test_every_default_template_handles_return_cancellation_and_failed_delivery(mode, code, status):
    pickup = next(d for d in DEFAULT_TEMPLATES[mode] if d.code == "picked_up").planned.offset
    events = [ev("picked_up", T0 + pickup), ev(code, T0 + pickup + H)]
    tl = compute(mode, events, now=T0 + pickup + 2 * H)
    assert tl.status == status
    assert not [f for f in tl.flags if f.startswith("extra_milestone")]
    if code != "cancelled":
        assert tl.row(code).in_template
    if status != ShipmentStatus.FAILED_DELIVERY:
        assert tl.eta is None and tl.next_milestone is None
    # Days later nothing is "late" on a shipment that went back or was cancelled.
    ended = compute(mode, events, now=T0 + 90 * D)
    if status != ShipmentStatus.FAILED_DELIVERY:
        assert ended.late_milestones == ()


def test_returned_and_failed_delivery_work_with_a_template_that_lacks_them():
    template = [d for d in DEFAULT_TEMPLATES["road_ftl"] if d.kind == "progress"]
    events = [ev("picked_up", T0 + D), ev("returned", T0 + 2 * D)]
    tl = compute(template, events, now=T0 + 3 * D)
    assert tl.status == ShipmentStatus.RETURNED
    assert tl.row("returned").kind == "extra"
    assert "extra_milestone:returned" not in tl.flags
    failed = compute(template, [ev("picked_up", T0 + D), ev("failed_delivery", T0 + 2 * D)], now=T0)
    assert failed.status == ShipmentStatus.FAILED_DELIVERY


# ----------------------------------------------------------------- documented rules, pinned


def test_first_recorded_wins_among_duplicates():
    first = ev("picked_up", T0 + 3 * D, key="same", recorded=T0 + 3 * D, id="a")
    again = ev("picked_up", T0 + 2 * D, key="same", recorded=T0 + 4 * D, id="b")
    row = compute("ocean_fcl", [again, first], now=T0 + 5 * D).row("picked_up")
    assert row.actual.event_id == "a"
    assert row.actual.at == T0 + 3 * D


@pytest.mark.parametrize("after", ["exception", "customs_hold"])
def test_delivered_beats_exceptions_and_holds(after):
    events = [
        ev("picked_up", T0 + 3 * D),
        ev("delivered", T0 + 30 * D),
        ev(after, T0 + 31 * D),  # reported after delivery
    ]
    assert compute("ocean_fcl", events, now=T0 + 32 * D).status == ShipmentStatus.DELIVERED


@pytest.mark.parametrize("voids", [False, True])
def test_a_disallowed_source_cannot_cancel_another_report(voids):
    # order_created may come from system, user, integration; not from a partner relay.
    original = ev("order_created", T0, kind="system", name="system", id="o")
    fix = ev(
        "order_created",
        T0 + H,
        kind="partner",
        name="relay",
        supersedes="o",
        voids=voids,
        recorded=T0 + 2 * H,
    )
    tl = compute("ocean_fcl", [original, fix], now=T0 + 3 * H)
    assert tl.row("order_created").actual.event_id == "o"
    assert "disallowed_source:order_created:partner" in tl.flags


def test_as_of_includes_an_event_recorded_at_that_instant():
    event = ev("picked_up", T0 + 3 * D, recorded=T0 + 3 * D + H)
    at = compute("ocean_fcl", [event], now=T0 + 9 * D, as_of=T0 + 3 * D + H)
    assert at.row("picked_up").reached
    before = compute("ocean_fcl", [event], now=T0 + 9 * D, as_of=T0 + 3 * D + H - timedelta(1e-6))
    assert not before.row("picked_up").reached


def test_lateness_is_strictly_after_the_deadline():
    # ocean_fcl picked_up: planned booking + 3 d, tolerance 1 d.
    deadline = T0 + 4 * D
    on_the_dot = compute("ocean_fcl", [ev("picked_up", deadline)], now=deadline + D)
    assert not on_the_dot.row("picked_up").late
    tick = compute("ocean_fcl", [ev("picked_up", deadline + timedelta(seconds=1))], now=deadline)
    assert tick.row("picked_up").late
    assert not compute("ocean_fcl", [], now=deadline).row("picked_up").late
    assert compute("ocean_fcl", [], now=deadline + timedelta(seconds=1)).row("picked_up").late


def test_a_template_marks_its_own_repeatable_milestone():
    gate = MilestoneDef(
        code="gate_move",
        label={"en": "Gate move"},
        sequence=15,
        planned=PlannedRule("booking", D),
        repeatable=True,
    )
    template = [*DEFAULT_TEMPLATES["road_ftl"], gate]
    events = [ev("gate_move", T0 + D), ev("gate_move", T0 + D + 5 * H)]
    assert compute(template, events, now=T0 + 2 * D).row("gate_move").actual.at == T0 + D + 5 * H

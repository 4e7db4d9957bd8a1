"""Property-based tests for the timeline engine (hypothesis, no database), run across every
default template. ``PROPERTY_EXAMPLES`` sets the example count (``make soak`` uses 2000)."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from milestones.default_templates import DEFAULT_TEMPLATES
from milestones.engine import (
    KIND_PROGRESS,
    EngineEvent,
    ShipmentStatus,
    UpstreamDelay,
    compute_timeline,
    upstream_delay,
    validated_template,
)

SETTINGS = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "200")), deadline=None)

TEMPLATE = DEFAULT_TEMPLATES["multimodal"]
TEMPLATES = {mode: validated_template(defs) for mode, defs in DEFAULT_TEMPLATES.items()}
MODES = sorted(TEMPLATES)
EXTRA_CODES = ["gate_in", "exception", "cancelled"]
ALL_CODES = [d.code for d in TEMPLATE] + EXTRA_CODES
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=20)
SOURCES = [
    ("integration", "dcsa:MAEU"),
    ("integration", "x12:ACME"),
    ("partner", "relay"),
    ("user", "user:ops@x"),
    ("system", "system"),
]

hours = st.integers(min_value=0, max_value=60 * 24)
instants = st.builds(lambda h: T0 + timedelta(hours=h), hours)


def codes_of(mode: str) -> list[str]:
    return [d.code for d in TEMPLATES[mode]] + EXTRA_CODES


@st.composite
def event_lists(
    draw,
    codes=ALL_CODES,
    classifiers=("ACT", "EST", "PLN"),
    allow_corrections=True,
    unique_keys=False,
):
    count = draw(st.integers(min_value=0, max_value=14))
    events: list[EngineEvent] = []
    for i in range(count):
        kind, name = draw(st.sampled_from(SOURCES))
        supersedes = None
        voids = False
        if allow_corrections and events and draw(st.booleans()):
            supersedes = draw(st.sampled_from(events)).id
            voids = draw(st.booleans())
        key = f"k{draw(st.integers(min_value=0, max_value=count))}"
        occurred = T0 + timedelta(hours=draw(hours))
        if draw(st.booleans()):  # mostly received after it happened, sometimes just before
            recorded = occurred + timedelta(hours=draw(st.integers(min_value=-6, max_value=240)))
        else:  # anything, including reports far ahead of their receipt
            recorded = T0 + timedelta(hours=draw(hours))
        events.append(
            EngineEvent(
                id=f"e{i}",
                milestone=draw(st.sampled_from(codes)),
                occurred_at=occurred,
                classifier=draw(st.sampled_from(classifiers)),
                source_kind=kind,
                source_name=name,
                recorded_at=recorded,
                dedupe_key=key if not unique_keys and draw(st.booleans()) else f"u{i}",
                supersedes=supersedes,
                voids=voids,
                issued_at=draw(st.none() | instants),
            )
        )
    return events


@st.composite
def scenarios(draw, **kw):
    """(mode, events) for any default template."""
    mode = draw(st.sampled_from(MODES))
    return mode, draw(event_lists(codes=codes_of(mode), **kw))


@st.composite
def delay_lists(draw, mode: str):
    affects = [d.code for d in TEMPLATES[mode]] + ["nope"]
    return draw(
        st.lists(
            st.builds(
                UpstreamDelay,
                parent_reference=st.sampled_from(["P1", "P2", "P3"]),
                parent_milestone=st.sampled_from(["departed", "arrived"]),
                affects=st.sampled_from(affects),
                at=instants,
                actual=st.booleans(),
                delay=st.builds(lambda h: timedelta(hours=h), st.integers(-48, 48)),
                reason=st.sampled_from(["", "consolidation P1"]),
                recorded_at=st.none() | instants,
            ),
            max_size=3,
        )
    )


def compute(events, mode: str = "multimodal", **kw):
    kw.setdefault("now", NOW)
    return compute_timeline(template=TEMPLATES[mode], events=events, booked_at=T0, **kw)


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_permutations_and_duplicates_give_identical_timelines(scenario, data):
    mode, events = scenario
    shuffled = data.draw(st.permutations(events))
    extra = data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    as_of = data.draw(st.none() | instants)
    delays = data.draw(delay_lists(mode))
    assert compute(events, mode, as_of=as_of, upstream_delays=delays) == compute(
        [*shuffled, *extra], mode, as_of=as_of, upstream_delays=delays[::-1]
    )


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_the_delay_list_order_does_not_matter(scenario, data):
    mode, events = scenario
    delays = data.draw(delay_lists(mode))
    permuted = data.draw(st.permutations(delays))
    assert compute(events, mode, upstream_delays=delays) == compute(
        events, mode, upstream_delays=permuted
    )


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_no_used_estimate_before_what_must_precede_it(scenario, data):
    """Floors a-d of the engine docstring: no estimate (nor projection) of a milestone without
    actual is earlier than an actual of a lower-sequence milestone, than the used estimate of an
    expected required progress predecessor, than its parent leg, or (unless skipped) now."""
    mode, events = scenario
    delays = data.draw(delay_lists(mode))
    as_of = data.draw(st.none() | instants)
    tl = compute(events, mode, upstream_delays=delays, as_of=as_of)
    furthest = tl.row(tl.current_stage).sequence if tl.current_stage else None
    latest_actual = latest_estimate = None
    for row in tl.rows:
        if not row.in_template:
            continue
        passed = furthest is not None and furthest > row.sequence
        if row.actual is not None:
            latest_actual = max(latest_actual or row.actual.at, row.actual.at)
            continue
        legs = [d.at for d in delays if d.affects == row.code]
        for value in (row.estimated_at, row.projected):
            if value is None:
                continue
            if latest_actual is not None:
                assert value >= latest_actual, row.code
            if row.kind == KIND_PROGRESS and latest_estimate is not None:
                assert value >= latest_estimate, row.code
            if legs:
                assert value >= max(legs), row.code
            if not passed:
                assert value >= tl.evaluated_at, row.code
        on_path = row.kind == KIND_PROGRESS and row.required
        if on_path and not passed and row.estimated_at is not None:
            latest_estimate = max(latest_estimate or row.estimated_at, row.estimated_at)


def _child_view(mode_p, parent_events, mode_c, child_events, link, *, as_of, now):
    parent_milestone, affects = link
    parent = compute(parent_events, mode_p, as_of=as_of, now=now)
    row = parent.row(parent_milestone)
    delay = upstream_delay(
        parent_reference="P",
        parent_milestone=parent_milestone,
        affects=affects,
        planned=row.planned,
        actual_at=row.actual.at if row.actual else None,
        estimated_at=row.estimated_at,
        actual_recorded_at=row.actual.recorded_at if row.actual else None,
        reason="consolidation P",
    )
    return compute(
        child_events, mode_c, as_of=as_of, now=now, upstream_delays=[delay] * bool(delay)
    )


@SETTINGS
@given(parent=scenarios(), child=scenarios(), data=st.data())
def test_as_of_equals_filtering_by_received_time_parents_included(parent, child, data):
    (mode_p, parent_events), (mode_c, child_events) = parent, child
    parent_codes = [d.code for d in TEMPLATES[mode_p] if d.kind == KIND_PROGRESS]
    child_codes = [d.code for d in TEMPLATES[mode_c] if d.kind == KIND_PROGRESS]
    link = (data.draw(st.sampled_from(parent_codes)), data.draw(st.sampled_from(child_codes)))
    t = data.draw(instants)
    then = _child_view(mode_p, parent_events, mode_c, child_events, link, as_of=t, now=NOW)

    def known(events):
        return [e for e in events if e.recorded_at <= t]

    filtered = _child_view(
        mode_p, known(parent_events), mode_c, known(child_events), link, as_of=None, now=min(NOW, t)
    )
    assert then.as_of == t
    assert dataclasses.replace(then, as_of=None) == filtered


@SETTINGS
@given(
    scenario=scenarios(allow_corrections=False, unique_keys=True),
    data=st.data(),
)
def test_voiding_an_event_equals_never_receiving_it(scenario, data):
    mode, events = scenario
    allowed = {d.code: d.allowed_sources for d in TEMPLATES[mode]}
    permitted = [
        e for e in events if not allowed.get(e.milestone) or e.source_kind in allowed[e.milestone]
    ]
    if not permitted:
        return
    target = data.draw(st.sampled_from(permitted))
    void = dataclasses.replace(
        target,
        id="void",
        dedupe_key="void",
        recorded_at=data.draw(instants),
        supersedes=target.id,
        voids=True,
        issued_at=None,
    )
    as_of = data.draw(st.none() | instants)
    if as_of is not None and void.recorded_at > as_of:
        as_of = None  # a void not known yet cancels nothing: compare where it is known
    removed = [e for e in events if e is not target]
    assert compute([*events, void], mode, as_of=as_of) == compute(removed, mode, as_of=as_of)


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_lateness_only_grows_with_now(scenario, data):
    mode, events = scenario
    earlier = T0 + timedelta(hours=data.draw(hours))
    later = earlier + timedelta(hours=data.draw(hours))
    before, after = compute(events, mode, now=earlier), compute(events, mode, now=later)
    assert set(before.late_milestones) <= set(after.late_milestones)
    for a, b in zip(before.rows, after.rows, strict=True):
        if a.late:
            assert b.late_by >= a.late_by, a.code


def _furthest_sequence(tl) -> int:
    return tl.row(tl.current_stage).sequence if tl.current_stage else 0


@SETTINGS
@given(scenario=scenarios(allow_corrections=False), data=st.data())
def test_progress_monotone_when_adding_later_actual(scenario, data):
    mode, events = scenario
    before = compute(events, mode)
    progress = [d for d in TEMPLATES[mode] if d.kind == KIND_PROGRESS]
    later = [d.code for d in progress if d.sequence > _furthest_sequence(before)]
    if not later:
        return
    occurred = T0 + timedelta(hours=data.draw(hours))
    new = EngineEvent(
        id="new",
        milestone=data.draw(st.sampled_from(later)),
        occurred_at=occurred,
        classifier="ACT",
        source_kind="integration",
        source_name="dcsa:MAEU",
        recorded_at=occurred + timedelta(hours=data.draw(st.integers(0, 48))),
        dedupe_key="new",
    )
    after = compute([*events, new], mode)
    assert after.progress_percent >= before.progress_percent
    assert 0 <= after.progress_percent <= 100
    assert _furthest_sequence(after) > _furthest_sequence(before)


STATUS_RANK = {
    ShipmentStatus.BOOKED: 0,
    ShipmentStatus.IN_TRANSIT: 1,
    ShipmentStatus.AT_CUSTOMS: 1,
    ShipmentStatus.OUT_FOR_DELIVERY: 2,
    ShipmentStatus.DELIVERED: 3,
}


@st.composite
def main_path_scenarios(draw):
    mode = draw(st.sampled_from(MODES))
    codes = [d.code for d in TEMPLATES[mode] if d.kind != "terminal_alt"]
    events = draw(event_lists(codes=codes, classifiers=("ACT", "EST"), allow_corrections=False))
    return mode, codes, events


@SETTINGS
@given(scenario=main_path_scenarios(), data=st.data())
def test_status_never_moves_backwards_with_earlier_actuals(scenario, data):
    mode, codes, events = scenario
    before = compute(events, mode)
    sequence = {d.code: d.sequence for d in TEMPLATES[mode]}
    earlier = [c for c in codes if sequence[c] < _furthest_sequence(before)]
    if not earlier:
        return
    new = EngineEvent(
        id="new",
        milestone=data.draw(st.sampled_from(earlier)),
        occurred_at=T0 + timedelta(hours=data.draw(hours)),
        classifier="ACT",
        source_kind="partner",
        source_name="relay",
        recorded_at=T0 + timedelta(hours=data.draw(hours)),
        dedupe_key="new",
    )
    after = compute([*events, new], mode)
    assert STATUS_RANK[after.status] >= STATUS_RANK[before.status]
    assert after.current_stage == before.current_stage


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_fast_serialiser_equals_the_generic_rendering(scenario, data):
    from milestones.engine import _jsonable, timeline_to_dict

    mode, events = scenario
    timeline = compute(events, mode, upstream_delays=data.draw(delay_lists(mode)))
    assert timeline_to_dict(timeline) == _jsonable(timeline)


@SETTINGS
@given(scenario=scenarios())
def test_a_prevalidated_template_gives_the_same_timeline(scenario):
    from milestones.engine import TemplateInvalid

    mode, events = scenario
    assert compute(events, mode) == compute_timeline(
        template=list(DEFAULT_TEMPLATES[mode]), events=events, booked_at=T0, now=NOW
    )
    try:
        validated_template([])
    except TemplateInvalid:
        pass
    else:
        raise AssertionError("an empty template must be refused when validated")

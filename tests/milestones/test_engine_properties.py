"""Property-based tests for the timeline engine (hypothesis, no database)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from milestones.default_templates import DEFAULT_TEMPLATES
from milestones.engine import EngineEvent, ShipmentStatus, compute_timeline

SETTINGS = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "200")), deadline=None)

TEMPLATE = DEFAULT_TEMPLATES["multimodal"]
SEQUENCE = {d.code: d.sequence for d in TEMPLATE}
PROGRESS = [d.code for d in TEMPLATE if d.kind == "progress"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=20)
ALL_CODES = [d.code for d in TEMPLATE] + ["gate_in", "exception", "cancelled"]
SOURCES = [
    ("integration", "dcsa:MAEU"),
    ("integration", "x12:ACME"),
    ("partner", "relay"),
    ("user", "user:ops@x"),
    ("system", "system"),
]

hours = st.integers(min_value=0, max_value=60 * 24)


@st.composite
def event_lists(draw, codes=ALL_CODES, classifiers=("ACT", "EST", "PLN"), allow_corrections=True):
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
        events.append(
            EngineEvent(
                id=f"e{i}",
                milestone=draw(st.sampled_from(codes)),
                occurred_at=T0 + timedelta(hours=draw(hours)),
                classifier=draw(st.sampled_from(classifiers)),
                source_kind=kind,
                source_name=name,
                recorded_at=T0 + timedelta(hours=draw(hours)),
                dedupe_key=key if draw(st.booleans()) else f"u{i}",
                supersedes=supersedes,
                voids=voids,
            )
        )
    return events


def compute(events, **kw):
    return compute_timeline(template=TEMPLATE, events=events, booked_at=T0, now=NOW, **kw)


@SETTINGS
@given(events=event_lists(), data=st.data())
def test_permutations_and_duplicates_give_identical_timelines(events, data):
    shuffled = data.draw(st.permutations(events))
    extra = data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    as_of = data.draw(st.none() | st.builds(lambda h: T0 + timedelta(hours=h), hours))
    assert compute(events, as_of=as_of) == compute([*shuffled, *extra], as_of=as_of)


@SETTINGS
@given(events=event_lists())
def test_estimates_never_before_completed_predecessor_actual(events):
    tl = compute(events)
    latest_actual = None
    for row in tl.rows:
        if not row.in_template:
            continue
        if row.actual is None and latest_actual is not None:
            if row.estimated_at is not None:
                assert row.estimated_at >= latest_actual
            if row.projected is not None:
                assert row.projected >= latest_actual
        if row.actual is not None:
            latest_actual = max(latest_actual or row.actual.at, row.actual.at)


def _furthest_sequence(tl) -> int:
    return max((SEQUENCE[c] for c in tl.completed if c in PROGRESS), default=0)


@SETTINGS
@given(events=event_lists(allow_corrections=False), data=st.data())
def test_progress_monotone_when_adding_later_actual(events, data):
    before = compute(events)
    later = [c for c in PROGRESS if SEQUENCE[c] > _furthest_sequence(before)]
    if not later:
        return
    new = EngineEvent(
        id="new",
        milestone=data.draw(st.sampled_from(later)),
        occurred_at=T0 + timedelta(hours=data.draw(hours)),
        classifier="ACT",
        source_kind="integration",
        source_name="dcsa:MAEU",
        recorded_at=T0 + timedelta(hours=data.draw(hours)),
        dedupe_key="new",
    )
    after = compute([*events, new])
    assert after.progress_percent >= before.progress_percent
    assert 0 <= after.progress_percent <= 100


STATUS_RANK = {
    ShipmentStatus.BOOKED: 0,
    ShipmentStatus.IN_TRANSIT: 1,
    ShipmentStatus.AT_CUSTOMS: 1,
    ShipmentStatus.OUT_FOR_DELIVERY: 2,
    ShipmentStatus.DELIVERED: 3,
}
MAIN_PATH_CODES = [*PROGRESS, "customs_hold"]


@SETTINGS
@given(
    events=event_lists(codes=MAIN_PATH_CODES, classifiers=("ACT", "EST"), allow_corrections=False),
    data=st.data(),
)
def test_status_never_moves_backwards_with_earlier_actuals(events, data):
    before = compute(events)
    earlier = [c for c in MAIN_PATH_CODES if SEQUENCE[c] < _furthest_sequence(before)]
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
    after = compute([*events, new])
    assert STATUS_RANK[after.status] >= STATUS_RANK[before.status]
    assert after.current_stage == before.current_stage


@SETTINGS
@given(events=event_lists())
def test_fast_serialiser_equals_the_generic_rendering(events):
    from milestones.engine import _jsonable, timeline_to_dict

    timeline = compute(events)
    assert timeline_to_dict(timeline) == _jsonable(timeline)


@SETTINGS
@given(events=event_lists())
def test_a_prevalidated_template_gives_the_same_timeline(events):
    from milestones.engine import TemplateInvalid, validated_template

    assert compute(events) == compute_timeline(
        template=validated_template(TEMPLATE), events=events, booked_at=T0, now=NOW
    )
    try:
        validated_template([])
    except TemplateInvalid:
        pass
    else:
        raise AssertionError("an empty template must be refused when validated")

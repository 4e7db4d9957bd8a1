"""The engine's speed-ups must not be visible: objects built without their dataclass __init__,
the per-template plan cached on ValidatedTemplate, and the UTC shortcuts (no database)."""

from __future__ import annotations

import pickle
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given

from milestones.engine import (
    EngineEvent,
    EstimateCandidate,
    MilestoneRow,
    ReportedTime,
    Timeline,
    UpstreamDelay,
    ValidatedTemplate,
    _utc,
    compute_timeline,
    validated_template,
)
from tests.milestones.test_engine_properties import SETTINGS, TEMPLATE, event_lists

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=20)
DELAYS = [
    UpstreamDelay("P1", "departed", "departed", T0 + timedelta(days=4), delay=timedelta(hours=6)),
    UpstreamDelay(
        "P2", "arrived", "arrived", T0 + timedelta(days=9), actual=True, reason="linehaul P2"
    ),
]


def _built_objects(timeline: Timeline):
    yield timeline
    for row in timeline.rows:
        yield row
        if row.actual is not None:
            yield row.actual
        yield from row.suspect_actuals
        yield from row.candidates


def _assert_as_if_constructed(obj) -> None:
    """Same fields in declaration order, and equal to what the dataclass __init__ builds."""
    cls = type(obj)
    assert cls in (Timeline, MilestoneRow, ReportedTime, EstimateCandidate)
    names = [f.name for f in fields(cls)]
    assert list(vars(obj)) == names
    rebuilt = cls(**vars(obj))
    assert rebuilt == obj
    assert repr(rebuilt) == repr(obj)
    assert hash(rebuilt) == hash(obj)


@SETTINGS
@given(events=event_lists())
def test_fast_built_objects_equal_their_dataclass_construction(events):
    timeline = compute_timeline(
        template=validated_template(TEMPLATE),
        events=events,
        booked_at=T0,
        now=NOW,
        upstream_delays=DELAYS,
    )
    for obj in _built_objects(timeline):
        _assert_as_if_constructed(obj)


def test_validated_template_plan_is_built_once_and_not_pickled():
    template = validated_template(TEMPLATE)
    assert template._plan is template._plan
    copy = pickle.loads(pickle.dumps(template))
    assert type(copy) is ValidatedTemplate
    assert copy == template
    assert "_plan" not in vars(copy)


def test_cached_plan_gives_the_same_timeline_every_time():
    template = validated_template(TEMPLATE)
    events = [
        EngineEvent(
            id="a",
            milestone="picked_up",
            occurred_at=T0 + timedelta(days=2),
            classifier="ACT",
            source_kind="integration",
            source_name="dcsa:MAEU",
            recorded_at=T0 + timedelta(days=2),
            dedupe_key="a",
        )
    ]
    first = compute_timeline(template=template, events=events, booked_at=T0, now=NOW)
    again = compute_timeline(template=template, events=events, booked_at=T0, now=NOW)
    plain = compute_timeline(template=list(TEMPLATE), events=events, booked_at=T0, now=NOW)
    assert first == again == plain
    assert repr(first) == repr(plain)


def test_utc_shortcut_returns_what_astimezone_returns():
    for value in (
        T0,
        datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
    ):
        converted = _utc(value)
        assert converted == value.astimezone(UTC)
        assert converted.tzinfo is UTC
    assert _utc(T0) is T0

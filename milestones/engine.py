"""Pure, deterministic milestone timeline engine (no database, no Django models).

The timeline of a shipment is never stored as truth: it is COMPUTED from the immutable
tracking events by :func:`compute_timeline`. The same set of events (in any order, with any
duplicates) always yields an equal :class:`Timeline`.

Event resolution (in this order)
--------------------------------
1. ``as_of``: only events with ``recorded_at <= as_of`` are known.
2. Duplicates: events sharing a ``dedupe_key`` collapse to one representative (the first
   recorded; remaining ties broken by every other field, so the choice never depends on order).
   A ``supersedes`` pointing at any member of a duplicate group points at the representative.
3. ``allowed_sources``: an event for a template milestone whose definition restricts the source
   kinds is dropped (flag ``disallowed_source:<code>:<kind>``) *before* corrections are applied,
   so a source that may not set a milestone can not cancel someone else's report either.
4. Corrections: every event named by a ``supersedes`` of a known event is ignored. Superseding is
   permanent and transitive by construction (c supersedes b supersedes a leaves only c). A
   ``voids`` event cancels its target and is itself never a fact; voiding a correction does not
   resurrect what that correction replaced (it was already declared wrong).

Actual rule (several ACT events for one milestone)
--------------------------------------------------
A milestone happens once; the EARLIEST ``occurred_at`` among the effective ACT events wins (the
first credible report of the milestone happening). Ties: source priority, then earliest recorded,
then id. A source that got the time wrong must send a correction (``supersedes``).

Source priority (which estimate is USED)
----------------------------------------
Candidates of a row: for every source (``source_kind`` + ``source_name``) its most recently
recorded EST event, plus Milepost's own projection (source kind ``projection``).
The candidate whose ``source_kind`` comes first in ``source_priority`` wins; the default is
``DEFAULT_SOURCE_PRIORITY = ("user", "integration", "partner", "projection")`` because

* a manual ops estimate (``user``) is a deliberate human override made with knowledge the
  feeds do not have (a phone call with the driver) - it must beat everything;
* a carrier/EDI integration (``integration``) is first-hand data from the party moving the goods;
* a partner relay (``partner``) is second-hand, often delayed or re-keyed;
* Milepost's projection (``projection``) is only arithmetic over the template offsets.

Among candidates of the same priority the most recently recorded wins (newer knowledge).
Source kinds not named in the tenant's order rank after all named ones. PLN events replace the
template's planned time for their milestone by the same rule (a published schedule is better
than a default offset). The row lists all candidates (best first) and says why one is used.

Projection
----------
For a milestone without actual: projected = (anchor's actual, else anchor's used estimate, else
anchor's planned) + offset; anchor ``booking`` means ``booked_at``. Active upstream delays raise
it to at least ``planned + delay``. Finally every projection AND every used estimate is clamped
upward to the latest actual of a completed predecessor (lower sequence) - a milestone can not be
expected before something that must precede it has already happened (flag ``clamped:<code>``).

Status (closed enum :class:`ShipmentStatus`)
-------------------------------------------
Milestone -> stage mapping (:data:`STAGE_BY_MILESTONE`; unknown progress codes -> in_transit)::

    order_created -> booked
    picked_up, warehouse_received, departed, arrived, customs_cleared -> in_transit
    customs_hold -> at_customs          out_for_delivery -> out_for_delivery
    delivered, proof_of_delivery -> delivered
    returned -> returned                failed_delivery -> failed_delivery
    exception -> exception              cancelled -> cancelled

Precedence, first match wins:

1. an effective ACT ``cancelled`` event -> cancelled;
2. a terminal_alt actual (returned / failed_delivery) not followed by later progress activity
   (any effective progress ACT occurring after it) -> its stage;
3. the FURTHEST reached progress milestone (highest template sequence, not latest time) maps to
   delivered -> delivered (delivered beats exceptions and holds);
4. an ACT ``exception`` event not followed by progress activity -> exception;
5. a reached exception_hold (customs_hold) with no progress milestone of higher sequence reached
   -> at_customs;
6. otherwise the stage of the furthest reached progress milestone, booked if none.

Because 3/5/6 use template sequence, a late-arriving EARLIER milestone never moves status back.

Out of sequence
---------------
A progress actual is flagged when any required progress milestone of lower sequence has no actual
occurring at or before it (``out_of_sequence=True`` + flag ``out_of_sequence:<code>``).
Exception holds and terminal alternatives are not checked (they are off the main path).

Lateness
--------
``deadline = planned + tolerance``. Reached: late if actual > deadline. Not reached: late if
``now`` (``min(now, as_of)``) > deadline, unless the row is off the main path, a later progress
milestone was already reached (skipped, not late), or the shipment is cancelled / returned.
``at_risk``: not reached, not (yet) late, but the used estimate is after the deadline.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenancy.errors import DomainError

__all__ = [
    "BOOKING_ANCHOR",
    "CANCELLED_CODE",
    "DEFAULT_SOURCE_PRIORITY",
    "EXCEPTION_CODE",
    "KIND_EXCEPTION_HOLD",
    "KIND_PROGRESS",
    "KIND_TERMINAL_ALT",
    "PROJECTION_SOURCE_KIND",
    "STAGE_BY_MILESTONE",
    "EngineEvent",
    "EstimateCandidate",
    "MilestoneDef",
    "MilestoneRow",
    "PlannedRule",
    "ReportedTime",
    "ShipmentStatus",
    "TemplateInvalid",
    "Timeline",
    "UpstreamDelay",
    "ValidatedTemplate",
    "compute_timeline",
    "effective_events",
    "format_duration",
    "timeline_to_dict",
    "validate_template",
    "validated_template",
]

BOOKING_ANCHOR = "booking"
CANCELLED_CODE = "cancelled"
EXCEPTION_CODE = "exception"

KIND_PROGRESS = "progress"
KIND_EXCEPTION_HOLD = "exception_hold"
KIND_TERMINAL_ALT = "terminal_alt"
MILESTONE_KINDS = frozenset({KIND_PROGRESS, KIND_EXCEPTION_HOLD, KIND_TERMINAL_ALT})

SOURCE_KINDS = frozenset({"integration", "partner", "user", "system", "projection"})
PROJECTION_SOURCE_KIND = "projection"
PROJECTION_SOURCE_NAME = "milepost"
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("user", "integration", "partner", "projection")

ACT, EST, PLN = "ACT", "EST", "PLN"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- input model


class TemplateInvalid(DomainError, ValueError):
    """A template refused by :func:`validate_template`; ``code`` is machine readable."""

    def __init__(self, message: str, *, code: str, field: str, milestone: str | None = None):
        super().__init__(message, code=code, field=field)
        self.milestone = milestone


@dataclass(frozen=True)
class PlannedRule:
    """Planned time = anchor time + offset; anchor is ``"booking"`` or a milestone code."""

    anchor: str
    offset: timedelta


@dataclass(frozen=True)
class MilestoneDef:
    code: str
    label: Mapping[str, str]
    sequence: int
    required: bool = True
    customer_visible: bool = True
    allowed_sources: frozenset[str] = frozenset()
    planned: PlannedRule | None = None
    tolerance: timedelta = timedelta(0)
    triggers_billing: bool = False
    kind: str = KIND_PROGRESS


@dataclass(frozen=True)
class EngineEvent:
    id: str
    milestone: str
    occurred_at: datetime
    classifier: str
    source_kind: str
    source_name: str
    recorded_at: datetime
    dedupe_key: str
    supersedes: str | None = None
    voids: bool = False
    location: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class UpstreamDelay:
    """A parent shipment is late: ``affects`` and every later progress milestone slip."""

    parent_reference: str
    parent_milestone: str
    delay: timedelta
    affects: str
    reason: str = ""


class ShipmentStatus(enum.StrEnum):
    BOOKED = "booked"
    IN_TRANSIT = "in_transit"
    AT_CUSTOMS = "at_customs"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    FAILED_DELIVERY = "failed_delivery"


STAGE_BY_MILESTONE: Mapping[str, ShipmentStatus] = {
    "order_created": ShipmentStatus.BOOKED,
    "picked_up": ShipmentStatus.IN_TRANSIT,
    "warehouse_received": ShipmentStatus.IN_TRANSIT,
    "departed": ShipmentStatus.IN_TRANSIT,
    "arrived": ShipmentStatus.IN_TRANSIT,
    "customs_cleared": ShipmentStatus.IN_TRANSIT,
    "customs_hold": ShipmentStatus.AT_CUSTOMS,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivered": ShipmentStatus.DELIVERED,
    "proof_of_delivery": ShipmentStatus.DELIVERED,
    "returned": ShipmentStatus.RETURNED,
    "failed_delivery": ShipmentStatus.FAILED_DELIVERY,
    EXCEPTION_CODE: ShipmentStatus.EXCEPTION,
    CANCELLED_CODE: ShipmentStatus.CANCELLED,
}

# Nouns for human readable "waiting on" text ("delayed 6 h at departure").
_MILESTONE_NOUNS: Mapping[str, str] = {
    "order_created": "order creation",
    "picked_up": "pickup",
    "warehouse_received": "warehouse receipt",
    "departed": "departure",
    "arrived": "arrival",
    "customs_hold": "customs",
    "customs_cleared": "customs clearance",
    "out_for_delivery": "out for delivery",
    "delivered": "delivery",
    "proof_of_delivery": "proof of delivery",
}


# --------------------------------------------------------------------------- output model


@dataclass(frozen=True)
class ReportedTime:
    """An actual (ACT) time and where it came from."""

    event_id: str
    at: datetime
    source_kind: str
    source_name: str
    recorded_at: datetime
    location: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class EstimateCandidate:
    """One estimate offered for a milestone; projections have no event/recorded_at."""

    source_kind: str
    source_name: str
    at: datetime
    recorded_at: datetime | None
    event_id: str | None
    basis: str = ""


@dataclass(frozen=True)
class MilestoneRow:
    code: str
    label: tuple[tuple[str, str], ...]
    sequence: int | None
    kind: str
    required: bool
    customer_visible: bool
    triggers_billing: bool
    in_template: bool
    planned: datetime | None
    planned_basis: str
    actual: ReportedTime | None
    estimated_at: datetime | None  # the USED estimate after clamping; None once reached
    estimate: EstimateCandidate | None  # the candidate that is used
    estimate_reason: str
    estimate_clamped: bool
    candidates: tuple[EstimateCandidate, ...]  # best first
    projected: datetime | None
    projection_basis: str
    late: bool
    late_by: timedelta | None
    at_risk: bool
    out_of_sequence: bool
    waiting_on: tuple[str, ...]

    @property
    def reached(self) -> bool:
        return self.actual is not None


@dataclass(frozen=True)
class Timeline:
    rows: tuple[MilestoneRow, ...]
    status: ShipmentStatus
    current_stage: str | None
    completed: tuple[str, ...]
    next_milestone: str | None
    eta: datetime | None
    next_eta: datetime | None
    progress_percent: int
    flags: tuple[str, ...]
    late_milestones: tuple[str, ...]
    waiting_on: tuple[str, ...]
    evaluated_at: datetime
    as_of: datetime | None

    def row(self, code: str) -> MilestoneRow | None:
        return next((r for r in self.rows if r.code == code), None)


# --------------------------------------------------------------------------- template checks


class ValidatedTemplate(tuple):
    """Definitions already checked by :func:`validated_template`; computing many timelines of
    one template version then does not re-check it every time, nor redo the per-template
    preparation (:class:`_TemplatePlan`, built on first use and kept on the instance)."""

    @functools.cached_property
    def _plan(self) -> _TemplatePlan:
        return _plan_template(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle the definitions only; the cached plan is rebuilt on first use.
        return (ValidatedTemplate, (tuple(self),))


def validated_template(defs: Sequence[MilestoneDef]) -> ValidatedTemplate:
    validate_template(defs)
    return ValidatedTemplate(defs)


def validate_template(defs: Sequence[MilestoneDef]) -> None:
    """Raise :class:`TemplateInvalid` naming the first problem found."""
    if not defs:
        raise TemplateInvalid("template has no milestones", code="empty_template", field="template")
    _check_codes_and_sequences(defs)
    by_code = {d.code: d for d in defs}
    for d in defs:
        _check_definition(d)
        if d.planned is not None:
            _check_anchor(d, by_code)
    _check_anchor_cycles(defs)
    for d in defs:
        if d.planned is not None and d.planned.anchor != BOOKING_ANCHOR:
            anchor = by_code[d.planned.anchor]
            if anchor.sequence > d.sequence:
                raise TemplateInvalid(
                    f"rule of '{d.code}' refers to later milestone '{anchor.code}' "
                    f"(sequence {anchor.sequence} > {d.sequence})",
                    code="anchor_later",
                    field="planned.anchor",
                    milestone=d.code,
                )


def _check_codes_and_sequences(defs: Sequence[MilestoneDef]) -> None:
    seen_codes: set[str] = set()
    seen_sequences: dict[int, str] = {}
    for d in defs:
        if not d.code or d.code == BOOKING_ANCHOR:
            raise TemplateInvalid(
                f"milestone code '{d.code}' is empty or reserved",
                code="invalid_code",
                field="code",
                milestone=d.code,
            )
        if d.code in seen_codes:
            raise TemplateInvalid(
                f"duplicate milestone code '{d.code}'",
                code="duplicate_code",
                field="code",
                milestone=d.code,
            )
        if d.sequence in seen_sequences:
            raise TemplateInvalid(
                f"duplicate sequence {d.sequence} ('{seen_sequences[d.sequence]}' and '{d.code}')",
                code="duplicate_sequence",
                field="sequence",
                milestone=d.code,
            )
        seen_codes.add(d.code)
        seen_sequences[d.sequence] = d.code


def _check_definition(d: MilestoneDef) -> None:
    if d.tolerance < timedelta(0):
        raise TemplateInvalid(
            f"tolerance of '{d.code}' is negative",
            code="negative_tolerance",
            field="tolerance",
            milestone=d.code,
        )
    if d.kind not in MILESTONE_KINDS:
        raise TemplateInvalid(
            f"kind of '{d.code}' is '{d.kind}', expected one of {sorted(MILESTONE_KINDS)}",
            code="invalid_kind",
            field="kind",
            milestone=d.code,
        )
    unknown_sources = set(d.allowed_sources) - SOURCE_KINDS
    if unknown_sources:
        raise TemplateInvalid(
            f"allowed sources of '{d.code}' contain unknown kinds {sorted(unknown_sources)}",
            code="unknown_source_kind",
            field="allowed_sources",
            milestone=d.code,
        )


def _check_anchor(d: MilestoneDef, by_code: Mapping[str, MilestoneDef]) -> None:
    assert d.planned is not None
    anchor = d.planned.anchor
    if anchor == d.code:
        raise TemplateInvalid(
            f"rule of '{d.code}' refers to itself (cycle)",
            code="anchor_cycle",
            field="planned.anchor",
            milestone=d.code,
        )
    if anchor != BOOKING_ANCHOR and anchor not in by_code:
        raise TemplateInvalid(
            f"rule of '{d.code}' refers to unknown milestone '{anchor}'",
            code="unknown_anchor",
            field="planned.anchor",
            milestone=d.code,
        )


def _check_anchor_cycles(defs: Sequence[MilestoneDef]) -> None:
    anchor_of = {
        d.code: d.planned.anchor
        for d in defs
        if d.planned is not None and d.planned.anchor != BOOKING_ANCHOR
    }
    for start in sorted(anchor_of):
        path = [start]
        current = start
        while current in anchor_of:
            current = anchor_of[current]
            if current in path:
                cycle = " -> ".join([*path[path.index(current) :], current])
                raise TemplateInvalid(
                    f"rule of '{start}' forms a cycle: {cycle}",
                    code="anchor_cycle",
                    field="planned.anchor",
                    milestone=start,
                )
            path.append(current)


# --------------------------------------------------------------------------- fast construction


def new_frozen(cls: type, values: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass ``cls`` from ALL its fields, given in field order.

    Why: a frozen dataclass ``__init__`` sets each field through ``object.__setattr__``; for the
    23-field :class:`MilestoneRow` that alone was a quarter of a timeline's cost. Filling the
    instance dict directly gives the identical object (fields, equality, hash, repr, pickle);
    tests/milestones/test_engine_fast_paths.py checks every field is present, in order.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


# --------------------------------------------------------------------------- event resolution


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value  # what astimezone(UTC) would return
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the engine needs aware datetimes")
    return value.astimezone(UTC)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _event_order(e: EngineEvent) -> tuple[datetime, datetime, str, str]:
    return (e.recorded_at, e.occurred_at, e.dedupe_key, e.id)


def _full_key(e: EngineEvent) -> tuple[Any, ...]:
    # Total order over every field so a representative never depends on input order.
    return (
        e.recorded_at,
        e.occurred_at,
        e.id,
        e.milestone,
        e.classifier,
        e.source_kind,
        e.source_name,
        e.supersedes or "",
        e.voids,
        e.location or "",
        e.reason,
    )


def _normalised(e: EngineEvent) -> EngineEvent:
    if e.occurred_at.tzinfo is UTC and e.recorded_at.tzinfo is UTC:
        return e  # the usual case: already UTC, nothing to convert
    occurred, recorded = _utc(e.occurred_at), _utc(e.recorded_at)
    if occurred == e.occurred_at and recorded == e.recorded_at and e.occurred_at.tzinfo is UTC:
        return e
    return EngineEvent(
        id=e.id,
        milestone=e.milestone,
        occurred_at=occurred,
        classifier=e.classifier,
        source_kind=e.source_kind,
        source_name=e.source_name,
        recorded_at=recorded,
        dedupe_key=e.dedupe_key,
        supersedes=e.supersedes,
        voids=e.voids,
        location=e.location,
        reason=e.reason,
    )


def _duplicate_groups(events: Iterable[EngineEvent]) -> dict[str, list[EngineEvent]]:
    groups: dict[str, list[EngineEvent]] = {}
    for e in events:
        groups.setdefault(e.dedupe_key, []).append(e)
    return groups


def _representative(group: Sequence[EngineEvent]) -> EngineEvent:
    """The first recorded of a duplicate group (remaining ties broken by every field)."""
    return group[0] if len(group) == 1 else min(group, key=_full_key)


def _representative_ids(groups: Mapping[str, Sequence[EngineEvent]]) -> dict[str, str]:
    """Map every seen id to its representative's id (for ``supersedes`` of a duplicate)."""
    id_map: dict[str, str] = {}
    representatives = []
    # Fixed write order: ids are not unique across groups, so the last write must not depend
    # on the input order.
    for key in sorted(groups):
        rep = _representative(groups[key])
        representatives.append(rep)
        for member in sorted(groups[key], key=_full_key, reverse=True):
            id_map[member.id] = rep.id
    for rep in representatives:  # a representative's own id always maps to itself
        id_map[rep.id] = rep.id
    return id_map


def effective_events(
    events: Iterable[EngineEvent],
    *,
    as_of: datetime | None = None,
    template: Sequence[MilestoneDef] = (),
    flags: set[str] | None = None,
) -> tuple[EngineEvent, ...]:
    """Known, de-duplicated, permitted, uncorrected events sorted by (recorded, occurred, key, id).

    ``flags`` (optional) collects ``disallowed_source:...`` notes.
    """
    allowed_sources = {d.code: d.allowed_sources for d in template}
    limit = _utc(as_of) if as_of is not None else None
    return _effective(events, limit, allowed_sources, flags)


def _effective(
    events: Iterable[EngineEvent],
    as_of: datetime | None,
    allowed_sources: Mapping[str, frozenset[str]],
    flags: set[str] | None,
) -> tuple[EngineEvent, ...]:
    known = [_normalised(e) for e in events]
    if as_of is not None:
        known = [e for e in known if e.recorded_at <= as_of]
    groups = _duplicate_groups(known)
    permitted = []
    for group in groups.values():
        e = _representative(group)
        allowed = allowed_sources.get(e.milestone)
        if not allowed or e.source_kind in allowed:
            permitted.append(e)
        elif flags is not None:
            flags.add(f"disallowed_source:{e.milestone}:{e.source_kind}")
    if any(e.supersedes for e in permitted):
        id_map = _representative_ids(groups)
        superseded = {id_map.get(e.supersedes, e.supersedes) for e in permitted if e.supersedes}
        survivors = [e for e in permitted if e.id not in superseded and not e.voids]
    else:  # nothing corrected: the id map is not needed
        survivors = [e for e in permitted if not e.voids]
    # Dedupe keys are unique here, so this order is total: input order never shows through.
    return tuple(sorted(survivors, key=_event_order) if len(survivors) > 1 else survivors)


# --------------------------------------------------------------------------- selection helpers


class _Ranks(dict):
    """Source kind -> rank: its position in the priority order; unnamed kinds rank last."""

    def __init__(self, priority: tuple[str, ...]):
        # Reversed so that the FIRST position of a kind named twice wins (as tuple.index).
        super().__init__((kind, i) for i, kind in reversed(list(enumerate(priority))))
        self.priority = priority

    def __missing__(self, source_kind: str) -> int:
        return len(self.priority)


@functools.lru_cache(maxsize=64)
def _ranks(priority: tuple[str, ...]) -> _Ranks:
    # Why cached: a batch uses one tenant priority for all its shipments. Never mutated.
    return _Ranks(priority)


def _reported(e: EngineEvent) -> ReportedTime:
    return new_frozen(
        ReportedTime,
        {
            "event_id": e.id,
            "at": e.occurred_at,
            "source_kind": e.source_kind,
            "source_name": e.source_name,
            "recorded_at": e.recorded_at,
            "location": e.location,
            "reason": e.reason,
        },
    )


def _select_actual(acts: Sequence[EngineEvent], rank: _Ranks) -> ReportedTime:
    """Earliest occurred wins; ties: source priority, earliest recorded, id (see docstring)."""
    if len(acts) == 1:
        return _reported(acts[0])
    best = min(acts, key=lambda e: (e.occurred_at, rank[e.source_kind], e.recorded_at, e.id))
    return _reported(best)


def _latest_per_source(estimates: Sequence[EngineEvent]) -> list[EngineEvent]:
    if len(estimates) < 2:
        return list(estimates)
    latest: dict[tuple[str, str], EngineEvent] = {}
    for e in sorted(estimates, key=_event_order):  # later recorded overwrites earlier
        latest[(e.source_kind, e.source_name)] = e
    return [latest[k] for k in sorted(latest)]


def _candidate_from(e: EngineEvent) -> EstimateCandidate:
    return new_frozen(
        EstimateCandidate,
        {
            "source_kind": e.source_kind,
            "source_name": e.source_name,
            "at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "event_id": e.id,
            "basis": e.reason,
        },
    )


def _projection_candidate(at: datetime, basis: str) -> EstimateCandidate:
    return new_frozen(
        EstimateCandidate,
        {
            "source_kind": PROJECTION_SOURCE_KIND,
            "source_name": PROJECTION_SOURCE_NAME,
            "at": at,
            "recorded_at": None,
            "event_id": None,
            "basis": basis,
        },
    )


def _rank_candidates(
    candidates: Sequence[EstimateCandidate], rank: _Ranks, evaluated_at: datetime
) -> tuple[EstimateCandidate, ...]:
    """Best first: source priority, then most recently recorded (a projection is 'now')."""
    if len(candidates) < 2:
        return tuple(candidates)

    def key(c: EstimateCandidate) -> tuple[int, int, str, str, str]:
        recorded = c.recorded_at or evaluated_at
        return (
            rank[c.source_kind],
            -_micros(recorded),
            c.source_kind,
            c.source_name,
            c.event_id or "",
        )

    return tuple(sorted(candidates, key=key))


def _describe(c: EstimateCandidate) -> str:
    if c.source_kind == PROJECTION_SOURCE_KIND and c.event_id is None:
        return "Milepost projection"
    return f"{c.source_kind} estimate from {c.source_name}"


def _estimate_reason(ranked: Sequence[EstimateCandidate], rank: _Ranks) -> str:
    if not ranked:
        return "no estimate available"
    winner = ranked[0]
    if len(ranked) == 1:
        return f"only estimate: {_describe(winner)}"
    runner_up = ranked[1]
    if rank[winner.source_kind] < rank[runner_up.source_kind]:
        return f"{_describe(winner)} wins by source priority ({' > '.join(rank.priority)})"
    return f"{_describe(winner)} is the most recently recorded of equal-priority estimates"


@functools.lru_cache(maxsize=4096)
def format_duration(value: timedelta) -> str:
    """Short human duration: '6 h', '2 d 3 h', '45 min', '0 min'."""
    total_minutes = int(abs(value) // timedelta(minutes=1))
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    text = " ".join(parts) or "0 min"
    return f"-{text}" if value < timedelta(0) else text


def _waiting_text(delay: UpstreamDelay) -> str:
    where = _MILESTONE_NOUNS.get(delay.parent_milestone, delay.parent_milestone.replace("_", " "))
    text = f"waiting on {delay.parent_reference}, delayed {format_duration(delay.delay)} at {where}"
    return f"{text} ({delay.reason})" if delay.reason else text


# --------------------------------------------------------------------------- template plan


def _seq(d: MilestoneDef) -> int:
    return d.sequence


def _label_pairs(label: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(label.items()))


@dataclass(frozen=True, slots=True)
class _Step:
    """One template milestone with what its rows need that only depends on the template
    (labels sorted, basis texts formatted) - prepared once, not once per row."""

    d: MilestoneDef
    label: tuple[tuple[str, str], ...]
    predecessors: tuple[str, ...]  # required progress codes before it (progress milestones)
    rule_basis: str  # basis of a planned time (and projection from booking) by the rule
    no_anchor_plan: str  # basis when the anchor has no planned time
    no_anchor_time: str  # basis when the anchor has no time to project from
    projection_basis: Mapping[str, str]  # "actual" / "estimate" / "planned" -> basis


def _step(d: MilestoneDef, required: Sequence[MilestoneDef]) -> _Step:
    predecessors = ()
    if d.kind == KIND_PROGRESS:
        predecessors = tuple(p.code for p in required if p.sequence < d.sequence)
    rule_basis, no_anchor_plan, no_anchor_time, projection_basis = "no planned rule", "", "", {}
    if d.planned is not None:
        anchor, offset_text = d.planned.anchor, format_duration(d.planned.offset)
        if anchor == BOOKING_ANCHOR:
            rule_basis = f"booking + {offset_text}"
        else:
            rule_basis = f"{anchor} planned + {offset_text}"
            no_anchor_plan = f"'{anchor}' has no planned time"
            no_anchor_time = f"'{anchor}' has no time to project from"
            projection_basis = {
                what: f"{anchor} {what} + {offset_text}"
                for what in ("actual", "estimate", "planned")
            }
    return _Step(
        d=d,
        label=_label_pairs(d.label),
        predecessors=predecessors,
        rule_basis=rule_basis,
        no_anchor_plan=no_anchor_plan,
        no_anchor_time=no_anchor_time,
        projection_basis=projection_basis,
    )


@dataclass(frozen=True, slots=True)
class _TemplatePlan:
    """What the engine needs from a template whatever the events: prepared once per validated
    template instead of once per row of every timeline."""

    steps: tuple[_Step, ...]  # in sequence order; template rows follow this order
    defs_by_code: Mapping[str, MilestoneDef]
    index_by_code: Mapping[str, int]
    progress: tuple[MilestoneDef, ...]  # in sequence order
    progress_codes: frozenset[str]
    counted: tuple[MilestoneDef, ...]  # what progress_percent counts
    terminal_alts: tuple[MilestoneDef, ...]
    holds: tuple[MilestoneDef, ...]  # exception holds, highest sequence first
    allowed_sources: Mapping[str, frozenset[str]]
    final_index: int | None  # the row whose time is the shipment's ETA


def _plan_template(template: Sequence[MilestoneDef]) -> _TemplatePlan:
    defs = sorted(template, key=_seq)
    progress = tuple(d for d in defs if d.kind == KIND_PROGRESS)
    required = tuple(d for d in progress if d.required)
    holds = [d for d in defs if d.kind == KIND_EXCEPTION_HOLD]
    return _TemplatePlan(
        steps=tuple(_step(d, required) for d in defs),
        defs_by_code={d.code: d for d in defs},
        index_by_code={d.code: i for i, d in enumerate(defs)},
        progress=progress,
        progress_codes=frozenset(d.code for d in progress),
        counted=required or progress,
        terminal_alts=tuple(d for d in defs if d.kind == KIND_TERMINAL_ALT),
        holds=tuple(sorted(holds, key=_seq, reverse=True)),
        allowed_sources={d.code: d.allowed_sources for d in defs},
        final_index=_final_delivery_index(defs),
    )


def _final_delivery_index(defs: Sequence[MilestoneDef]) -> int | None:
    """``delivered``, else the first progress milestone of stage delivered, else the last."""
    path = [i for i, d in enumerate(defs) if d.kind == KIND_PROGRESS]
    for i in path:
        if defs[i].code == "delivered":
            return i
    for i in path:
        if STAGE_BY_MILESTONE.get(defs[i].code) == ShipmentStatus.DELIVERED:
            return i
    return path[-1] if path else None


# --------------------------------------------------------------------------- status


def _stage_of(code: str, default: ShipmentStatus) -> ShipmentStatus:
    return STAGE_BY_MILESTONE.get(code, default)


def _latest_act_time(
    acts_by_code: Mapping[str, Sequence[EngineEvent]], codes: Container[str]
) -> datetime | None:
    times = [e.occurred_at for code, acts in acts_by_code.items() if code in codes for e in acts]
    return max(times, default=None)


def _derive_status(
    plan: _TemplatePlan,
    actuals: Mapping[str, ReportedTime],
    acts_by_code: Mapping[str, Sequence[EngineEvent]],
    furthest: MilestoneDef | None,
) -> ShipmentStatus:
    """See module docstring, section Status."""
    if CANCELLED_CODE in acts_by_code:
        return ShipmentStatus.CANCELLED
    last_progress = _latest_act_time(acts_by_code, plan.progress_codes)

    alternatives = [(actuals[d.code].at, d.code) for d in plan.terminal_alts if d.code in actuals]
    if alternatives:
        at, code = max(alternatives)
        if last_progress is None or at >= last_progress:
            return _stage_of(code, ShipmentStatus.EXCEPTION)

    base = (
        _stage_of(furthest.code, ShipmentStatus.IN_TRANSIT) if furthest else ShipmentStatus.BOOKED
    )
    if base == ShipmentStatus.DELIVERED:
        return base

    exception_at = _latest_act_time(acts_by_code, (EXCEPTION_CODE,))
    if exception_at is not None and (last_progress is None or exception_at > last_progress):
        return ShipmentStatus.EXCEPTION

    for hold in plan.holds:
        if hold.code in actuals and (furthest is None or furthest.sequence < hold.sequence):
            return _stage_of(hold.code, ShipmentStatus.EXCEPTION)
    return base


def _furthest_reached(
    progress: Sequence[MilestoneDef], actuals: Mapping[str, ReportedTime]
) -> MilestoneDef | None:
    """The reached progress milestone of highest sequence (``progress`` is in sequence order)."""
    for d in reversed(progress):
        if d.code in actuals:
            return d
    return None


# --------------------------------------------------------------------------- rows


@dataclass(slots=True)
class _PathState:
    """Mutable working state while walking the template in sequence order."""

    anchor_time: dict[str, datetime | None] = field(default_factory=dict)
    planned: dict[str, datetime | None] = field(default_factory=dict)
    anchored_on_estimate: set[str] = field(default_factory=set)
    latest_actual: tuple[datetime, str] | None = None  # (time, code) of completed predecessors


@dataclass(slots=True)
class _RowContext:
    """What every row of one timeline shares (built once per timeline)."""

    defs_by_code: Mapping[str, MilestoneDef]
    actuals: Mapping[str, ReportedTime]
    booked: datetime
    rank: _Ranks
    evaluated_at: datetime
    status: ShipmentStatus
    furthest: MilestoneDef | None
    delays: tuple[UpstreamDelay, ...]


def _planned_time(
    step: _Step, plans: Sequence[EngineEvent], state: _PathState, c: _RowContext
) -> tuple[datetime | None, str]:
    if plans:
        candidates = [_candidate_from(e) for e in _latest_per_source(plans)]
        best = _rank_candidates(candidates, c.rank, c.evaluated_at)[0]
        return best.at, f"plan from {best.source_kind} {best.source_name}"
    rule = step.d.planned
    if rule is None:
        return None, step.rule_basis
    if rule.anchor == BOOKING_ANCHOR:
        return c.booked + rule.offset, step.rule_basis
    anchor_planned = state.planned.get(rule.anchor)
    if anchor_planned is None:
        return None, step.no_anchor_plan
    return anchor_planned + rule.offset, step.rule_basis


def _projection(step: _Step, state: _PathState, c: _RowContext) -> tuple[datetime | None, str]:
    rule = step.d.planned
    if rule is None:
        return None, step.rule_basis
    if rule.anchor == BOOKING_ANCHOR:
        return c.booked + rule.offset, step.rule_basis
    base = state.anchor_time.get(rule.anchor)
    if base is None:
        return None, step.no_anchor_time
    if rule.anchor in c.actuals:
        what = "actual"
    elif rule.anchor in state.anchored_on_estimate:
        what = "estimate"
    else:
        what = "planned"
    return base + rule.offset, step.projection_basis[what]


def _projected(
    step: _Step, planned: datetime | None, state: _PathState, c: _RowContext
) -> tuple[datetime | None, str, tuple[str, ...]]:
    """(projection, its basis, waiting_on texts) of a milestone without actual."""
    projected, basis = _projection(step, state, c)
    waiting: tuple[str, ...] = ()
    if c.delays:
        hits = _delays_for(step.d, c.delays, c.defs_by_code)
        projected, basis = _apply_delays(projected, basis, planned, hits)
        waiting = tuple(_waiting_text(h) for h in hits)
    projected, clamped = _clamp(projected, state)
    if clamped:
        basis += f"; raised to the actual of {state.latest_actual[1]}"  # type: ignore[index]
    return projected, basis, waiting


def _clamp(value: datetime | None, state: _PathState) -> tuple[datetime | None, bool]:
    # Why: nothing can be expected before a predecessor that has already happened.
    if value is None or state.latest_actual is None:
        return value, False
    floor = state.latest_actual[0]
    return (floor, True) if value < floor else (value, False)


def _delays_for(
    d: MilestoneDef,
    delays: Sequence[UpstreamDelay],
    defs_by_code: Mapping[str, MilestoneDef],
) -> list[UpstreamDelay]:
    hits = []
    for delay in delays:
        affected = defs_by_code[delay.affects]
        on_path = d.kind == KIND_PROGRESS or d.code == affected.code
        if on_path and d.sequence >= affected.sequence:
            hits.append(delay)
    return hits


def _lateness(
    d: MilestoneDef,
    planned: datetime | None,
    actual: ReportedTime | None,
    estimated_at: datetime | None,
    passed: bool,
    status: ShipmentStatus,
    evaluated_at: datetime,
) -> tuple[bool, timedelta | None, bool]:
    """(late, late_by, at_risk) - see module docstring, section Lateness."""
    if planned is None:
        return False, None, False
    deadline = planned + d.tolerance
    if actual is not None:
        late = actual.at > deadline
        return late, (actual.at - deadline) if late else None, False
    expected = d.kind == KIND_PROGRESS and not passed
    if not expected or status in (ShipmentStatus.CANCELLED, ShipmentStatus.RETURNED):
        return False, None, False
    if evaluated_at > deadline:
        return True, evaluated_at - deadline, False
    return False, None, estimated_at is not None and estimated_at > deadline


def _out_of_sequence(
    actual: ReportedTime | None,
    predecessors: Sequence[str],
    actuals: Mapping[str, ReportedTime],
) -> bool:
    """A progress actual before (or without) a required earlier progress milestone's actual."""
    if actual is None:
        return False
    for code in predecessors:
        before = actuals.get(code)
        if before is None or before.at > actual.at:
            return True
    return False


# --------------------------------------------------------------------------- the engine


def compute_timeline(
    *,
    template: Sequence[MilestoneDef],
    events: Iterable[EngineEvent],
    booked_at: datetime,
    now: datetime,
    as_of: datetime | None = None,
    source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
    upstream_delays: Sequence[UpstreamDelay] = (),
) -> Timeline:
    """Compute the timeline of one shipment; pure and deterministic (see module docstring)."""
    if isinstance(template, ValidatedTemplate):
        plan = template._plan
    else:
        validate_template(template)
        plan = _plan_template(template)
    rank = _ranks(tuple(source_priority))
    booked = _utc(booked_at)
    as_of_utc = _utc(as_of) if as_of is not None else None
    evaluated_at = min(_utc(now), as_of_utc) if as_of_utc is not None else _utc(now)

    flags: set[str] = set()
    by_code: dict[str, list[EngineEvent]] = {}
    acts_by_code: dict[str, list[EngineEvent]] = {}
    for e in _effective(events, as_of_utc, plan.allowed_sources, flags):
        by_code.setdefault(e.milestone, []).append(e)
        if e.classifier == ACT:
            acts_by_code.setdefault(e.milestone, []).append(e)
    actuals = {code: _select_actual(acts, rank) for code, acts in acts_by_code.items()}

    furthest = _furthest_reached(plan.progress, actuals)
    status = _derive_status(plan, actuals, acts_by_code, furthest)
    delays = _active_delays(upstream_delays, plan.defs_by_code, actuals, flags)

    context = _RowContext(
        defs_by_code=plan.defs_by_code,
        actuals=actuals,
        booked=booked,
        rank=rank,
        evaluated_at=evaluated_at,
        status=status,
        furthest=furthest,
        delays=delays,
    )
    state = _PathState()
    rows: list[MilestoneRow] = []
    for step in plan.steps:
        row = _template_row(step, by_code.get(step.d.code), state, context)
        rows.append(row)
        if row.estimate_clamped:
            flags.add(f"clamped:{row.code}")
        if row.out_of_sequence:
            flags.add(f"out_of_sequence:{row.code}")
    if not by_code.keys() <= plan.defs_by_code.keys():  # milestones the template lacks
        rows.extend(_extra_rows(plan.defs_by_code, by_code, actuals, rank, evaluated_at, flags))
    return _assemble(rows, plan, actuals, status, furthest, flags, evaluated_at, as_of_utc)


def _active_delays(
    delays: Sequence[UpstreamDelay],
    defs_by_code: Mapping[str, MilestoneDef],
    actuals: Mapping[str, ReportedTime],
    flags: set[str],
) -> tuple[UpstreamDelay, ...]:
    """Delays that still matter: known milestone, positive, affected milestone not reached."""
    if not delays:
        return ()
    active = []
    for delay in delays:
        if delay.affects not in defs_by_code:
            flags.add(f"upstream_delay_unknown_milestone:{delay.affects}")
        elif delay.delay > timedelta(0) and delay.affects not in actuals:
            active.append(delay)
    return tuple(
        sorted(active, key=lambda x: (x.parent_reference, x.parent_milestone, x.delay, x.affects))
    )


def _template_row(
    step: _Step, group: Sequence[EngineEvent] | None, state: _PathState, c: _RowContext
) -> MilestoneRow:
    d = step.d
    plans: Sequence[EngineEvent] = ()
    candidates: list[EstimateCandidate] = []
    if group:  # most rows have no events at all
        plans = [e for e in group if e.classifier == PLN]
        estimates = [e for e in group if e.classifier == EST]
        candidates = [_candidate_from(e) for e in _latest_per_source(estimates)]
    planned, planned_basis = _planned_time(step, plans, state, c)
    state.planned[d.code] = planned
    actual = c.actuals.get(d.code)

    projected: datetime | None = None
    projection_basis = ""
    waiting: tuple[str, ...] = ()
    estimate: EstimateCandidate | None = None
    estimated_at: datetime | None = None
    clamped = False
    if actual is None:
        projected, projection_basis, waiting = _projected(step, planned, state, c)
        if projected is not None:
            candidates.append(_projection_candidate(projected, projection_basis))
    ranked = _rank_candidates(candidates, c.rank, c.evaluated_at)
    if actual is None:
        estimate = ranked[0] if ranked else None
        reason = _estimate_reason(ranked, c.rank)
        estimated_at, clamped = _clamp(estimate.at if estimate else None, state)
        if clamped:
            reason += f"; raised to the actual of {state.latest_actual[1]}"  # type: ignore[index]
    else:
        reason = "actual reported"

    _advance(state, d, actual, estimated_at, planned)
    passed = c.furthest is not None and c.furthest.sequence > d.sequence
    late, late_by, at_risk = _lateness(
        d, planned, actual, estimated_at, passed, c.status, c.evaluated_at
    )
    return new_frozen(
        MilestoneRow,
        {
            "code": d.code,
            "label": step.label,
            "sequence": d.sequence,
            "kind": d.kind,
            "required": d.required,
            "customer_visible": d.customer_visible,
            "triggers_billing": d.triggers_billing,
            "in_template": True,
            "planned": planned,
            "planned_basis": planned_basis,
            "actual": actual,
            "estimated_at": estimated_at,
            "estimate": estimate,
            "estimate_reason": reason,
            "estimate_clamped": clamped,
            "candidates": ranked,
            "projected": projected,
            "projection_basis": projection_basis,
            "late": late,
            "late_by": late_by,
            "at_risk": at_risk,
            "out_of_sequence": _out_of_sequence(actual, step.predecessors, c.actuals),
            "waiting_on": waiting,
        },
    )


def _apply_delays(
    projected: datetime | None,
    basis: str,
    planned: datetime | None,
    hits: Sequence[UpstreamDelay],
) -> tuple[datetime | None, str]:
    """Push the projection to at least (planned, else projection) + each upstream delay."""
    for hit in hits:
        reference = planned if planned is not None else projected
        if reference is None:
            continue
        floor = reference + hit.delay
        if projected is None or projected < floor:
            projected = floor
            basis = f"delayed by {hit.parent_reference} ({format_duration(hit.delay)})"
    return projected, basis


def _advance(
    state: _PathState,
    d: MilestoneDef,
    actual: ReportedTime | None,
    estimated_at: datetime | None,
    planned: datetime | None,
) -> None:
    """Record what later rows anchor on: actual, else used estimate, else planned."""
    if actual is not None:
        state.anchor_time[d.code] = actual.at
        if state.latest_actual is None or actual.at > state.latest_actual[0]:
            state.latest_actual = (actual.at, d.code)
    elif estimated_at is not None:
        state.anchor_time[d.code] = estimated_at
        state.anchored_on_estimate.add(d.code)
    else:
        state.anchor_time[d.code] = planned


def _extra_rows(
    defs_by_code: Mapping[str, MilestoneDef],
    by_code: Mapping[str, Sequence[EngineEvent]],
    actuals: Mapping[str, ReportedTime],
    rank: _Ranks,
    evaluated_at: datetime,
    flags: set[str],
) -> list[MilestoneRow]:
    """Rows for milestones the template does not know: kept, never planned or projected."""
    extras = [code for code in by_code if code not in defs_by_code]

    def first_seen(code: str) -> tuple[datetime, str]:
        return (min(e.occurred_at for e in by_code[code]), code)

    rows = []
    for code in sorted(extras, key=first_seen):
        if code not in (CANCELLED_CODE, EXCEPTION_CODE):
            flags.add(f"extra_milestone:{code}")
        group = by_code[code]
        ranked = _rank_candidates(
            [
                _candidate_from(e)
                for e in _latest_per_source([e for e in group if e.classifier == EST])
            ],
            rank,
            evaluated_at,
        )
        actual = actuals.get(code)
        rows.append(
            MilestoneRow(
                code=code,
                label=(),
                sequence=None,
                kind="extra",
                required=False,
                customer_visible=False,
                triggers_billing=False,
                in_template=False,
                planned=None,
                planned_basis="not in template",
                actual=actual,
                estimated_at=None if actual or not ranked else ranked[0].at,
                estimate=None if actual or not ranked else ranked[0],
                estimate_reason="actual reported" if actual else _estimate_reason(ranked, rank),
                estimate_clamped=False,
                candidates=ranked,
                projected=None,
                projection_basis="",
                late=False,
                late_by=None,
                at_risk=False,
                out_of_sequence=False,
                waiting_on=(),
            )
        )
    return rows


def _progress_percent(
    plan: _TemplatePlan, actuals: Mapping[str, ReportedTime], furthest: MilestoneDef | None
) -> int:
    """Share of required progress milestones passed (reached, or skipped by a later actual)."""
    counted = plan.counted
    if not counted:
        return 0
    after = furthest.sequence if furthest is not None else None
    passed = 0
    for d in counted:
        if d.code in actuals or (after is not None and after > d.sequence):
            passed += 1
    return passed * 100 // len(counted)


def _next_milestone(
    plan: _TemplatePlan, actuals: Mapping[str, ReportedTime], furthest: MilestoneDef | None
) -> str | None:
    """First progress milestone not reached, after the furthest reached one."""
    after = furthest.sequence if furthest is not None else None
    for d in plan.progress:
        if d.code not in actuals and (after is None or d.sequence > after):
            return d.code
    return None


def _assemble(
    rows: list[MilestoneRow],
    plan: _TemplatePlan,
    actuals: Mapping[str, ReportedTime],
    status: ShipmentStatus,
    furthest: MilestoneDef | None,
    flags: set[str],
    evaluated_at: datetime,
    as_of: datetime | None,
) -> Timeline:
    # The first len(plan.steps) rows are the template rows, in plan.steps order.
    ended = status in (ShipmentStatus.CANCELLED, ShipmentStatus.RETURNED)
    next_code = None if ended else _next_milestone(plan, actuals, furthest)
    eta = None
    if plan.final_index is not None and not ended:
        final = rows[plan.final_index]
        eta = final.actual.at if final.actual else final.estimated_at
    next_eta = rows[plan.index_by_code[next_code]].estimated_at if next_code else None

    completed: list[str] = []
    late: list[str] = []
    waiting: list[str] = []
    for r in rows:
        if r.actual is not None:
            completed.append(r.code)
        if r.late:
            late.append(r.code)
        if r.waiting_on:
            waiting.extend(w for w in r.waiting_on if w not in waiting)
    return new_frozen(
        Timeline,
        {
            "rows": tuple(rows),
            "status": status,
            "current_stage": furthest.code if furthest else None,
            "completed": tuple(completed),
            "next_milestone": next_code,
            "eta": eta,
            "next_eta": next_eta,
            "progress_percent": _progress_percent(plan, actuals, furthest),
            "flags": tuple(sorted(flags)),
            "late_milestones": tuple(late),
            "waiting_on": tuple(waiting),
            "evaluated_at": evaluated_at,
            "as_of": as_of,
        },
    )


# --------------------------------------------------------------------------- serialisation


def timeline_to_dict(timeline: Timeline) -> dict[str, Any]:
    """JSON-serialisable dict (ISO datetimes, durations in seconds), keys in field order.

    Hand-written for speed (it runs for every shipment a batch touches); it must stay equal to
    the generic :func:`_jsonable` rendering, which a property test checks.
    """
    return {
        "rows": [_row_dict(row) for row in timeline.rows],
        "status": timeline.status.value,
        "current_stage": timeline.current_stage,
        "completed": list(timeline.completed),
        "next_milestone": timeline.next_milestone,
        "eta": _iso(timeline.eta),
        "next_eta": _iso(timeline.next_eta),
        "progress_percent": timeline.progress_percent,
        "flags": list(timeline.flags),
        "late_milestones": list(timeline.late_milestones),
        "waiting_on": list(timeline.waiting_on),
        "evaluated_at": timeline.evaluated_at.isoformat(),
        "as_of": _iso(timeline.as_of),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _actual_dict(actual: ReportedTime | None) -> dict[str, Any] | None:
    if actual is None:
        return None
    return {
        "event_id": actual.event_id,
        "at": actual.at.isoformat(),
        "source_kind": actual.source_kind,
        "source_name": actual.source_name,
        "recorded_at": actual.recorded_at.isoformat(),
        "location": actual.location,
        "reason": actual.reason,
    }


def _candidate_dict(candidate: EstimateCandidate | None) -> dict[str, Any] | None:
    if candidate is None:
        return None
    return {
        "source_kind": candidate.source_kind,
        "source_name": candidate.source_name,
        "at": candidate.at.isoformat(),
        "recorded_at": _iso(candidate.recorded_at),
        "event_id": candidate.event_id,
        "basis": candidate.basis,
    }


def _row_dict(row: MilestoneRow) -> dict[str, Any]:
    return {
        "code": row.code,
        "label": dict(row.label),
        "sequence": row.sequence,
        "kind": row.kind,
        "required": row.required,
        "customer_visible": row.customer_visible,
        "triggers_billing": row.triggers_billing,
        "in_template": row.in_template,
        "planned": _iso(row.planned),
        "planned_basis": row.planned_basis,
        "actual": _actual_dict(row.actual),
        "estimated_at": _iso(row.estimated_at),
        "estimate": _candidate_dict(row.estimate),
        "estimate_reason": row.estimate_reason,
        "estimate_clamped": row.estimate_clamped,
        "candidates": [_candidate_dict(c) for c in row.candidates],
        "projected": _iso(row.projected),
        "projection_basis": row.projection_basis,
        "late": row.late,
        "late_by": None if row.late_by is None else int(row.late_by.total_seconds()),
        "at_risk": row.at_risk,
        "out_of_sequence": row.out_of_sequence,
        "waiting_on": list(row.waiting_on),
        "reached": row.reached,
    }


def _jsonable(value: Any, field_name: str = "") -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            out[f.name] = _jsonable(getattr(value, f.name), f.name)
        if isinstance(value, MilestoneRow):
            out["reached"] = value.reached
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if field_name == "label" and isinstance(value, tuple):
        return {locale: text for locale, text in value}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value

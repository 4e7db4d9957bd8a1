"""Pure, deterministic milestone timeline engine (no database, no Django models).

The timeline of a shipment is never stored as truth: it is COMPUTED from the immutable
tracking events by :func:`compute_timeline`. The same set of events (in any order, with any
duplicates) always yields an equal :class:`Timeline`; so does the same set of upstream delays
in any order.

Event resolution (in this order)
--------------------------------
1. ``as_of``: only events with ``recorded_at <= as_of`` are known (the boundary is included).
2. Duplicates: events sharing a ``dedupe_key`` collapse to one representative (the first
   recorded; remaining ties broken by every other field, so the choice never depends on order).
   A ``supersedes`` pointing at any member of a duplicate group points at the representative.
3. ``allowed_sources``: an event for a template milestone whose definition restricts the source
   kinds is dropped (flag ``disallowed_source:<code>:<kind>``) *before* corrections are applied,
   so a source that may not set a milestone can not cancel someone else's report either.
4. Corrections: every event named by a ``supersedes`` of a known event is ignored. Superseding is
   permanent and transitive by construction (c supersedes b supersedes a leaves only c). A
   ``voids`` event cancels its target and is itself never a fact; voiding a correction does not
   resurrect what that correction replaced (it was already declared wrong). Voiding an event is
   the same as never having received it.
5. Future actuals: an ACT event whose ``occurred_at`` is later than its own ``recorded_at`` plus
   :data:`CLOCK_SKEW` (15 min) claims something happened after Milepost was told: it is not a
   fact. It is kept on its row (``suspect_actuals``) and flagged ``future_actual:<code>``, but it
   is never the row's actual, so it drives neither status, progress, lateness nor projections.

Actual rule (several ACT events for one milestone)
--------------------------------------------------
A milestone happens once: the EARLIEST ``occurred_at`` among the credible ACT events wins (the
first credible report of the milestone happening; right for departed, arrived, delivered). Ties:
source priority, then earliest recorded, then id. A source that got the time wrong must send a
correction (``supersedes``).

A REPEATABLE milestone (``MilestoneDef.repeatable``; the default templates mark
out_for_delivery, failed_delivery and customs_hold; a tenant may mark e.g. gate moves) can
legitimately happen again: its actual is the LATEST credible report, the current attempt (ties:
source priority, earliest recorded, id). Everything that reads the row's actual uses the current
attempt (projections anchored on it, floors, lateness); only the sequence check of LATER
milestones uses its first attempt (some attempt happened before them).

Source priority (which estimate is USED)
----------------------------------------
Candidates of a row: for every source (``source_kind`` + ``source_name``) its NEWEST ISSUED EST
event, plus Milepost's own projection (source kind ``projection``). The issue time is the
source's own (``issued_at``: DCSA ``eventCreatedDateTime``, the X12/EDIFACT message date); an
event without one counts as issued when received (``recorded_at``), and none counts as issued
after it was received. So a stale EDI replay received after a newer estimate does not win.
Remaining ties: later recorded, then later occurred, dedupe key, id.
The candidate whose ``source_kind`` comes first in ``source_priority`` wins; the default is
``DEFAULT_SOURCE_PRIORITY = ("user", "integration", "partner", "projection")`` because

* a manual ops estimate (``user``) is a deliberate human override made with knowledge the
  feeds do not have (a phone call with the driver) - it must beat everything;
* a carrier/EDI integration (``integration``) is first-hand data from the party moving the goods;
* a partner relay (``partner``) is second-hand, often delayed or re-keyed;
* Milepost's projection (``projection``) is only arithmetic over the template offsets.

Among candidates of the same priority the newest issued wins (newer knowledge; a projection
counts as issued now; then source kind, name, event id). Source kinds not named in the
tenant's order rank after all named ones. PLN events replace the template's planned time for
their milestone by the same rule (a published schedule is better than a default offset). The
row lists all candidates (best first) and says why one is used.

Projection and floors
---------------------
For a milestone without actual, the projection is

1. the parent's time when the row is a parent leg (below); otherwise (anchor's actual, else
   anchor's used estimate, else anchor's planned) + offset, anchor ``booking`` meaning
   ``booked_at``;
2. published schedule: when the row's planned time comes from a PLN event, at least that plan
   (a vessel scheduled for the 8th is not projected for the 6th; a later chain still wins: cargo
   that can not make the sailing is not shown on it).

Then the projection AND the used estimate are raised to the highest of these floors (the
basis / reason says to what; the first listed wins a tie):

a. the latest actual of any completed lower-sequence milestone;
b. progress milestones only: the used estimate of every REQUIRED progress milestone of lower
   sequence that is still expected (not reached, not skipped) - nothing is expected before what
   must precede it is expected;
c. a parent leg: the parent's time;
d. unless skipped: now (``min(now, as_of)``) - an overdue milestone is expected now or later.

A used estimate that had to be raised is ``estimate_clamped``. When a *reported* estimate is
below a, b or c it contradicts what must precede it: flag ``clamped:<code>``. Raising a
projection, or raising to now, is not flagged (being overdue is what lateness reports).
Later milestones anchor on the raised estimate, so the ETA chain follows every floor.

Parent legs (consolidations, first-mile loads, linehauls)
---------------------------------------------------------
An :class:`UpstreamDelay` gives a parent shipment's time for ``parent_milestone`` (its actual,
else its used estimate) for the child's ``affects`` milestone. A child that rides on the
parent's leg takes that leg's times from the parent, at or after the parent's time, whatever the
child's own plan (booked earlier or later than the container):

* the child's own credible actual of ``affects`` wins (its own fact); the parent is ignored;
* when every parent of that milestone has an actual, the child's row takes it as its actual
  (the latest of several parents; ``source_kind`` ``parent``, reason "from <link reason>");
* otherwise the child's projection of it IS the parent's time (latest of several parents) and
  any used estimate is raised to at least it (floor c): an older, earlier carrier estimate of
  the child is raised, a later one is kept. Later milestones follow through anchors and floor b;
* ``waiting_on`` ("waiting on X, delayed 6 h at departure") is shown only while a parent that is
  late against its own plan (``delay > 0``) has not done the leg; once it has, the child has
  done it too and nothing waits.

Status (closed enum :class:`ShipmentStatus`)
-------------------------------------------
Milestone -> stage mapping (:data:`STAGE_BY_MILESTONE`; unknown progress codes -> in_transit)::

    order_created -> booked
    picked_up, warehouse_received, departed, arrived, customs_cleared -> in_transit
    customs_hold -> at_customs          out_for_delivery -> out_for_delivery
    delivered, proof_of_delivery -> delivered
    returned -> returned                failed_delivery -> failed_delivery
    exception -> exception              cancelled -> cancelled

``cancelled`` and ``exception`` events, and ``returned`` / ``failed_delivery`` events when the
template lacks them (:data:`BUILTIN_TERMINAL_ALTS`), work with any template; they get rows
outside the template without an ``extra_milestone`` flag. Precedence, first match wins:

1. a credible ACT ``cancelled`` event -> cancelled;
2. terminal alternatives (template terminal_alt milestones and the built-in ones): the latest
   credible report of each; the latest of those, unless progress activity (any credible progress
   ACT, or a parent leg's actual) occurred after it -> its stage. So out for delivery -> failed
   -> out for delivery -> failed is failed_delivery, and a new attempt after a failure is not;
3. the FURTHEST reached progress milestone (highest template sequence, not latest time) maps to
   delivered -> delivered (delivered beats exceptions and holds);
4. a credible ACT ``exception`` event not followed by progress activity -> exception;
5. a reached exception_hold (customs_hold) with no progress milestone of higher sequence reached
   -> at_customs;
6. otherwise the stage of the furthest reached progress milestone, booked if none.

Because 3/5/6 use template sequence, a late-arriving EARLIER milestone never moves status back.

Sequence: gaps and inversions
-----------------------------
Only progress actuals are checked against REQUIRED progress milestones of lower sequence
(exception holds and terminal alternatives are off the main path):

* inversion (reported in the wrong order): a predecessor's actual (its first attempt if
  repeatable) occurred after this actual -> ``out_of_sequence=True``, flag
  ``out_of_sequence:<code>``;
* gap (a missing report): a required progress milestone has no actual although a later progress
  milestone is reached -> on the missing row ``gap=True``, flag ``gap:<code>``. It was skipped,
  so it is not late.

Lateness
--------
``deadline = planned + tolerance``; late means strictly after it. Reached: late if actual >
deadline (a reported fact, required or not). Not reached: late if ``now`` (``min(now, as_of)``)
> deadline, only for a REQUIRED progress milestone that is still expected: not skipped (a later
progress milestone was already reached), shipment not cancelled / returned. An optional
milestone is never late (nor at risk) by absence: a feed may never send it (a hub scan air
carriers do not report, ``order_created``). Lateness only grows with ``now`` for a fixed set of
events. ``at_risk``: expected, not (yet) late, but the used estimate is after the deadline.
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
    "BUILTIN_TERMINAL_ALTS",
    "CANCELLED_CODE",
    "CLOCK_SKEW",
    "DEFAULT_SOURCE_PRIORITY",
    "EXCEPTION_CODE",
    "KIND_EXCEPTION_HOLD",
    "KIND_PROGRESS",
    "KIND_TERMINAL_ALT",
    "PARENT_SOURCE_KIND",
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
    "upstream_delay",
    "validate_template",
    "validated_template",
]

BOOKING_ANCHOR = "booking"
CANCELLED_CODE = "cancelled"
EXCEPTION_CODE = "exception"
# Terminal alternatives the engine knows even when a template lacks them (see Status).
BUILTIN_TERMINAL_ALTS: tuple[str, ...] = ("failed_delivery", "returned")
_UNFLAGGED_EXTRAS = frozenset({CANCELLED_CODE, EXCEPTION_CODE, *BUILTIN_TERMINAL_ALTS})

KIND_PROGRESS = "progress"
KIND_EXCEPTION_HOLD = "exception_hold"
KIND_TERMINAL_ALT = "terminal_alt"
MILESTONE_KINDS = frozenset({KIND_PROGRESS, KIND_EXCEPTION_HOLD, KIND_TERMINAL_ALT})

SOURCE_KINDS = frozenset({"integration", "partner", "user", "system", "projection"})
PROJECTION_SOURCE_KIND = "projection"
PROJECTION_SOURCE_NAME = "milepost"
PARENT_SOURCE_KIND = "parent"  # an actual a child takes from its parent's leg
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("user", "integration", "partner", "projection")
# How far an actual may lie after its own receipt time before it is not a fact (clocks differ).
CLOCK_SKEW = timedelta(minutes=15)

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
    repeatable: bool = False  # may legitimately happen again: the latest report is current


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
    issued_at: datetime | None = None  # the source's own issue time; None -> recorded_at


@dataclass(frozen=True)
class UpstreamDelay:
    """A parent shipment's time for the leg its child rides on (see Parent legs).

    ``at`` is the parent's actual of ``parent_milestone`` (``actual=True``), else its used
    estimate; ``delay`` is how late that is against the parent's own plan (only for the text);
    ``affects`` is the child's milestone that rides on it."""

    parent_reference: str
    parent_milestone: str
    affects: str
    at: datetime
    actual: bool = False
    delay: timedelta = timedelta(0)
    reason: str = ""
    recorded_at: datetime | None = None  # when the parent's actual was recorded


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
    issued_at: datetime | None = None  # the source's issue time (never after recorded_at)


@dataclass(frozen=True)
class MilestoneRow:
    code: str
    label: tuple[tuple[str, str], ...]
    sequence: int | None
    kind: str
    required: bool
    repeatable: bool
    customer_visible: bool
    triggers_billing: bool
    in_template: bool
    planned: datetime | None
    planned_basis: str
    actual: ReportedTime | None  # the first credible report; the current attempt if repeatable
    suspect_actuals: tuple[ReportedTime, ...]  # future actuals: kept, flagged, never used
    estimated_at: datetime | None  # the USED estimate after the floors; None once reached
    estimate: EstimateCandidate | None  # the candidate that is used
    estimate_reason: str
    estimate_clamped: bool
    candidates: tuple[EstimateCandidate, ...]  # best first
    projected: datetime | None
    projection_basis: str
    late: bool
    late_by: timedelta | None
    at_risk: bool
    out_of_sequence: bool  # an inversion: a required predecessor happened after this actual
    gap: bool  # required, never reported, but a later progress milestone was reached
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
        e.issued_at is not None,
        e.issued_at or _EPOCH,
    )


def _normalised(e: EngineEvent) -> EngineEvent:
    issued = e.issued_at
    if (
        e.occurred_at.tzinfo is UTC
        and e.recorded_at.tzinfo is UTC
        and (issued is None or issued.tzinfo is UTC)
    ):
        return e  # the usual case: already UTC, nothing to convert
    return EngineEvent(
        id=e.id,
        milestone=e.milestone,
        occurred_at=_utc(e.occurred_at),
        classifier=e.classifier,
        source_kind=e.source_kind,
        source_name=e.source_name,
        recorded_at=_utc(e.recorded_at),
        dedupe_key=e.dedupe_key,
        supersedes=e.supersedes,
        voids=e.voids,
        location=e.location,
        reason=e.reason,
        issued_at=None if issued is None else _utc(issued),
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


def _select_actual(acts: Sequence[EngineEvent], rank: _Ranks, repeatable: bool) -> ReportedTime:
    """Earliest occurred wins, the latest if repeatable; ties: source priority, earliest
    recorded, id (see docstring, Actual rule)."""
    if len(acts) == 1:
        return _reported(acts[0])
    if repeatable:
        best = min(
            acts, key=lambda e: (-_micros(e.occurred_at), rank[e.source_kind], e.recorded_at, e.id)
        )
    else:
        best = min(acts, key=lambda e: (e.occurred_at, rank[e.source_kind], e.recorded_at, e.id))
    return _reported(best)


def _issued(e: EngineEvent) -> datetime:
    """When the source issued the report: its own time, never after we received it."""
    issued = e.issued_at
    return e.recorded_at if issued is None or issued > e.recorded_at else issued


def _latest_per_source(estimates: Sequence[EngineEvent]) -> list[EngineEvent]:
    """Each source's newest issued report (ties: later recorded, occurred, key, id)."""
    if len(estimates) < 2:
        return list(estimates)
    latest: dict[tuple[str, str], tuple[tuple[Any, ...], EngineEvent]] = {}
    for e in estimates:
        source = (e.source_kind, e.source_name)
        key = (_issued(e), e.recorded_at, e.occurred_at, e.dedupe_key, e.id)
        held = latest.get(source)
        if held is None or key > held[0]:
            latest[source] = (key, e)
    return [latest[k][1] for k in sorted(latest)]


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
            "issued_at": None if e.issued_at is None else _issued(e),
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
            "issued_at": None,
        },
    )


def _rank_candidates(
    candidates: Sequence[EstimateCandidate], rank: _Ranks, evaluated_at: datetime
) -> tuple[EstimateCandidate, ...]:
    """Best first: source priority, then newest issued (a projection is issued 'now')."""
    if len(candidates) < 2:
        return tuple(candidates)

    def key(c: EstimateCandidate) -> tuple[int, int, str, str, str]:
        return (
            rank[c.source_kind],
            -_micros(c.issued_at or c.recorded_at or evaluated_at),
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
    return f"{_describe(winner)} is the newest issued of equal-priority estimates"


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


# --------------------------------------------------------------------------- parent legs


def upstream_delay(
    *,
    parent_reference: str,
    parent_milestone: str,
    affects: str,
    planned: datetime | None,
    actual_at: datetime | None,
    estimated_at: datetime | None,
    actual_recorded_at: datetime | None = None,
    reason: str = "",
) -> UpstreamDelay | None:
    """The leg a child rides on, from the parent's row for ``parent_milestone``: its actual,
    else its used estimate; None while the parent has no time for it."""
    at = actual_at if actual_at is not None else estimated_at
    if at is None:
        return None
    return UpstreamDelay(
        parent_reference=parent_reference,
        parent_milestone=parent_milestone,
        affects=affects,
        at=at,
        actual=actual_at is not None,
        delay=at - planned if planned is not None else timedelta(0),
        reason=reason,
        recorded_at=actual_recorded_at if actual_at is not None else None,
    )


@dataclass(slots=True)
class _Leg:
    """A parent leg a child's milestone waits on (no parent has an actual for all of it)."""

    at: datetime
    basis: str  # "departed estimate of consolidation X"
    waiting: tuple[str, ...]


def _delay_key(x: UpstreamDelay) -> tuple[Any, ...]:
    # Total order so that the chosen parent never depends on the order of the list.
    return (
        _utc(x.at),
        x.actual,
        x.parent_reference,
        x.parent_milestone,
        x.delay,
        x.reason,
        x.recorded_at is not None,
        x.recorded_at or _EPOCH,
    )


def _parent_legs(
    delays: Sequence[UpstreamDelay],
    defs_by_code: Mapping[str, MilestoneDef],
    actuals: Mapping[str, ReportedTime],
    flags: set[str],
) -> tuple[dict[str, ReportedTime], dict[str, _Leg]]:
    """(actuals taken from parents, legs still waited on) by the child's milestone code."""
    grouped: dict[str, list[UpstreamDelay]] = {}
    for delay in delays:
        if delay.affects not in defs_by_code:
            flags.add(f"upstream_delay_unknown_milestone:{delay.affects}")
        elif delay.affects not in actuals:  # the child's own fact wins
            grouped.setdefault(delay.affects, []).append(delay)
    inherited: dict[str, ReportedTime] = {}
    legs: dict[str, _Leg] = {}
    for code, group in grouped.items():
        latest = max(group, key=_delay_key)
        at = _utc(latest.at)
        source = latest.reason or latest.parent_reference
        if all(x.actual for x in group):
            recorded = latest.recorded_at
            inherited[code] = new_frozen(
                ReportedTime,
                {
                    "event_id": "",
                    "at": at,
                    "source_kind": PARENT_SOURCE_KIND,
                    "source_name": latest.parent_reference,
                    "recorded_at": at if recorded is None else _utc(recorded),
                    "location": None,
                    "reason": f"from {source}",
                },
            )
            continue
        what = "actual" if latest.actual else "estimate"
        late = {_waiting_text(x) for x in group if x.delay > timedelta(0) and not x.actual}
        legs[code] = _Leg(
            at=at,
            basis=f"{latest.parent_milestone} {what} of {source}",
            waiting=tuple(sorted(late)),
        )
    return inherited, legs


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
    on_main_path: bool  # a required progress milestone (may be late by absence, floors others)
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
        on_main_path=d.kind == KIND_PROGRESS and d.required,
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
    alt_codes: tuple[str, ...]  # terminal alternatives: the template's, then built-in ones
    holds: tuple[MilestoneDef, ...]  # exception holds, highest sequence first
    repeatable: frozenset[str]
    allowed_sources: Mapping[str, frozenset[str]]
    final_index: int | None  # the row whose time is the shipment's ETA


def _plan_template(template: Sequence[MilestoneDef]) -> _TemplatePlan:
    defs = sorted(template, key=_seq)
    progress = tuple(d for d in defs if d.kind == KIND_PROGRESS)
    required = tuple(d for d in progress if d.required)
    holds = [d for d in defs if d.kind == KIND_EXCEPTION_HOLD]
    codes = {d.code for d in defs}
    alts = [d.code for d in defs if d.kind == KIND_TERMINAL_ALT]
    return _TemplatePlan(
        steps=tuple(_step(d, required) for d in defs),
        defs_by_code={d.code: d for d in defs},
        index_by_code={d.code: i for i, d in enumerate(defs)},
        progress=progress,
        progress_codes=frozenset(d.code for d in progress),
        counted=required or progress,
        alt_codes=(*alts, *(code for code in BUILTIN_TERMINAL_ALTS if code not in codes)),
        holds=tuple(sorted(holds, key=_seq, reverse=True)),
        repeatable=frozenset(d.code for d in defs if d.repeatable),
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
    inherited: Mapping[str, ReportedTime],
) -> ShipmentStatus:
    """See module docstring, section Status (``acts_by_code`` holds credible acts only)."""
    if CANCELLED_CODE in acts_by_code:
        return ShipmentStatus.CANCELLED
    last_progress = _latest_act_time(acts_by_code, plan.progress_codes)
    for code, taken in inherited.items():
        if code in plan.progress_codes and (last_progress is None or taken.at > last_progress):
            last_progress = taken.at

    alternatives = [
        (max(e.occurred_at for e in acts_by_code[code]), code)
        for code in plan.alt_codes
        if code in acts_by_code
    ]
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
    latest_estimate: tuple[datetime, str] | None = None  # of expected main-path predecessors


@dataclass(slots=True)
class _RowContext:
    """What every row of one timeline shares (built once per timeline)."""

    defs_by_code: Mapping[str, MilestoneDef]
    actuals: Mapping[str, ReportedTime]
    first_at: Mapping[str, datetime]  # first attempt of repeatable milestones reported again
    suspects: Mapping[str, list[ReportedTime]]
    booked: datetime
    rank: _Ranks
    evaluated_at: datetime
    status: ShipmentStatus
    furthest: MilestoneDef | None
    legs: Mapping[str, _Leg]


def _planned_time(
    step: _Step, plans: Sequence[EngineEvent], state: _PathState, c: _RowContext
) -> tuple[datetime | None, str, bool]:
    """(planned time, its basis, whether it is a published schedule)."""
    if plans:
        candidates = [_candidate_from(e) for e in _latest_per_source(plans)]
        best = _rank_candidates(candidates, c.rank, c.evaluated_at)[0]
        return best.at, f"plan from {best.source_kind} {best.source_name}", True
    rule = step.d.planned
    if rule is None:
        return None, step.rule_basis, False
    if rule.anchor == BOOKING_ANCHOR:
        return c.booked + rule.offset, step.rule_basis, False
    anchor_planned = state.planned.get(rule.anchor)
    if anchor_planned is None:
        return None, step.no_anchor_plan, False
    return anchor_planned + rule.offset, step.rule_basis, False


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


def _base_projection(
    step: _Step,
    planned: datetime | None,
    planned_basis: str,
    published: bool,
    state: _PathState,
    c: _RowContext,
    leg: _Leg | None,
) -> tuple[datetime | None, str]:
    """Steps 1-2 of the projection (module docstring): parent leg, chain, published plan."""
    if leg is not None:
        return leg.at, leg.basis
    projected, basis = _projection(step, state, c)
    if published and planned is not None and (projected is None or planned > projected):
        return planned, f"published schedule ({planned_basis})"
    return projected, basis


# A floor: (time, what: "actual" | "estimate" | "parent", code or leg basis).
_Floor = tuple[datetime, str, str]


def _floor(
    step: _Step, state: _PathState, c: _RowContext, passed: bool, leg: _Leg | None
) -> tuple[_Floor | None, datetime | None]:
    """The floors of a row without actual (module docstring, floors a-d): the highest of
    what must precede it (a-c), and now unless it was skipped (d)."""
    best: _Floor | None = None
    if state.latest_actual is not None:
        best = (state.latest_actual[0], "actual", state.latest_actual[1])
    estimate = state.latest_estimate if step.d.kind == KIND_PROGRESS else None
    if estimate is not None and (best is None or estimate[0] > best[0]):
        best = (estimate[0], "estimate", estimate[1])
    if leg is not None and (best is None or leg.at > best[0]):
        best = (leg.at, "parent", leg.basis)
    return best, None if passed else c.evaluated_at


def _raise(
    value: datetime, before: _Floor | None, now: datetime | None
) -> tuple[datetime, str, bool]:
    """(raised value, reason suffix or "", whether it contradicts what precedes it)."""
    reason = ""
    conflict = before is not None and value < before[0]
    if conflict:
        value = before[0]  # type: ignore[index]
        what, source = before[1], before[2]  # type: ignore[index]
        reason = (
            f"; raised to the {source}"
            if what == "parent"
            else f"; raised to the {what} of {source}"
        )
    if now is not None and value < now:
        value = now
        reason += "; overdue: raised to now"
    return value, reason, conflict


def _lateness(
    step: _Step,
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
    deadline = planned + step.d.tolerance
    if actual is not None:
        late = actual.at > deadline
        return late, (actual.at - deadline) if late else None, False
    # Only the required main path is expected; an optional milestone may never be reported.
    if not step.on_main_path or passed:
        return False, None, False
    if status in (ShipmentStatus.CANCELLED, ShipmentStatus.RETURNED):
        return False, None, False
    if evaluated_at > deadline:
        return True, evaluated_at - deadline, False
    return False, None, estimated_at is not None and estimated_at > deadline


def _out_of_sequence(
    actual: ReportedTime | None, predecessors: Sequence[str], c: _RowContext
) -> bool:
    """An inversion: a required earlier progress milestone's actual (its first attempt)
    occurred after this actual. A missing predecessor is a gap, not an inversion."""
    if actual is None:
        return False
    for code in predecessors:
        before = c.actuals.get(code)
        if before is not None and c.first_at.get(code, before.at) > actual.at:
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
    acts_by_code: dict[str, list[EngineEvent]] = {}  # credible actuals only
    suspects: dict[str, list[ReportedTime]] = {}
    for e in _effective(events, as_of_utc, plan.allowed_sources, flags):
        by_code.setdefault(e.milestone, []).append(e)
        if e.classifier == ACT:
            if e.occurred_at - e.recorded_at > CLOCK_SKEW:  # after its own receipt: no fact
                suspects.setdefault(e.milestone, []).append(_reported(e))
                flags.add(f"future_actual:{e.milestone}")
            else:
                acts_by_code.setdefault(e.milestone, []).append(e)
    repeatable = plan.repeatable
    actuals: dict[str, ReportedTime] = {}
    first_at: dict[str, datetime] = {}
    for code, acts in acts_by_code.items():
        again = code in repeatable
        actuals[code] = _select_actual(acts, rank, again)
        if again and len(acts) > 1:
            first_at[code] = min(e.occurred_at for e in acts)
    inherited: dict[str, ReportedTime] = {}
    legs: dict[str, _Leg] = {}
    if upstream_delays:
        inherited, legs = _parent_legs(upstream_delays, plan.defs_by_code, actuals, flags)
        actuals.update(inherited)

    furthest = _furthest_reached(plan.progress, actuals)
    status = _derive_status(plan, actuals, acts_by_code, furthest, inherited)
    context = _RowContext(
        defs_by_code=plan.defs_by_code,
        actuals=actuals,
        first_at=first_at,
        suspects=suspects,
        booked=booked,
        rank=rank,
        evaluated_at=evaluated_at,
        status=status,
        furthest=furthest,
        legs=legs,
    )
    state = _PathState()
    rows = [
        _template_row(step, by_code.get(step.d.code), state, context, flags) for step in plan.steps
    ]
    if not by_code.keys() <= plan.defs_by_code.keys():  # milestones the template lacks
        rows.extend(
            _extra_rows(plan.defs_by_code, by_code, actuals, suspects, rank, evaluated_at, flags)
        )
    return _assemble(rows, plan, actuals, status, furthest, flags, evaluated_at, as_of_utc)


def _template_row(
    step: _Step,
    group: Sequence[EngineEvent] | None,
    state: _PathState,
    c: _RowContext,
    flags: set[str],
) -> MilestoneRow:
    d = step.d
    plans: Sequence[EngineEvent] = ()
    candidates: list[EstimateCandidate] = []
    if group:  # most rows have no events at all
        plans = [e for e in group if e.classifier == PLN]
        estimates = [e for e in group if e.classifier == EST]
        candidates = [_candidate_from(e) for e in _latest_per_source(estimates)]
    planned, planned_basis, published = _planned_time(step, plans, state, c)
    state.planned[d.code] = planned
    actual = c.actuals.get(d.code)
    passed = c.furthest is not None and c.furthest.sequence > d.sequence

    projected: datetime | None = None
    projection_basis = ""
    waiting: tuple[str, ...] = ()
    estimate: EstimateCandidate | None = None
    estimated_at: datetime | None = None
    clamped = False
    if actual is None:
        leg = c.legs.get(d.code) if c.legs else None
        before, now = _floor(step, state, c, passed, leg)
        projected, projection_basis = _base_projection(
            step, planned, planned_basis, published, state, c, leg
        )
        if leg is not None:
            waiting = leg.waiting
        if projected is not None:
            projected, suffix, _ = _raise(projected, before, now)
            projection_basis += suffix
            candidates.append(_projection_candidate(projected, projection_basis))
        ranked = _rank_candidates(candidates, c.rank, c.evaluated_at)
        reason = _estimate_reason(ranked, c.rank)
        if ranked:
            estimate = ranked[0]
            estimated_at, suffix, conflict = _raise(estimate.at, before, now)
            if suffix:
                clamped = True
                reason += suffix
            if conflict:  # a reported estimate contradicts what must precede it
                flags.add(f"clamped:{d.code}")
    else:
        ranked = _rank_candidates(candidates, c.rank, c.evaluated_at)
        reason = "actual reported"

    _advance(state, step, actual, estimated_at, planned, passed)
    late, late_by, at_risk = _lateness(
        step, planned, actual, estimated_at, passed, c.status, c.evaluated_at
    )
    out_of_sequence = _out_of_sequence(actual, step.predecessors, c)
    if out_of_sequence:
        flags.add(f"out_of_sequence:{d.code}")
    gap = actual is None and passed and step.on_main_path
    if gap:
        flags.add(f"gap:{d.code}")
    suspect = c.suspects.get(d.code) if c.suspects else None
    return new_frozen(
        MilestoneRow,
        {
            "code": d.code,
            "label": step.label,
            "sequence": d.sequence,
            "kind": d.kind,
            "required": d.required,
            "repeatable": d.repeatable,
            "customer_visible": d.customer_visible,
            "triggers_billing": d.triggers_billing,
            "in_template": True,
            "planned": planned,
            "planned_basis": planned_basis,
            "actual": actual,
            "suspect_actuals": tuple(suspect) if suspect else (),
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
            "out_of_sequence": out_of_sequence,
            "gap": gap,
            "waiting_on": waiting,
        },
    )


def _advance(
    state: _PathState,
    step: _Step,
    actual: ReportedTime | None,
    estimated_at: datetime | None,
    planned: datetime | None,
    passed: bool,
) -> None:
    """Record what later rows anchor on (actual, else used estimate, else planned) and floor."""
    code = step.d.code
    if actual is not None:
        state.anchor_time[code] = actual.at
        if state.latest_actual is None or actual.at > state.latest_actual[0]:
            state.latest_actual = (actual.at, code)
    elif estimated_at is not None:
        state.anchor_time[code] = estimated_at
        state.anchored_on_estimate.add(code)
        floor = state.latest_estimate
        if step.on_main_path and not passed and (floor is None or estimated_at > floor[0]):
            state.latest_estimate = (estimated_at, code)
    else:
        state.anchor_time[code] = planned


def _extra_rows(
    defs_by_code: Mapping[str, MilestoneDef],
    by_code: Mapping[str, Sequence[EngineEvent]],
    actuals: Mapping[str, ReportedTime],
    suspects: Mapping[str, Sequence[ReportedTime]],
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
        if code not in _UNFLAGGED_EXTRAS:
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
                repeatable=False,
                customer_visible=False,
                triggers_billing=False,
                in_template=False,
                planned=None,
                planned_basis="not in template",
                actual=actual,
                suspect_actuals=tuple(suspects.get(code, ())),
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
                gap=False,
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
        "issued_at": _iso(candidate.issued_at),
    }


def _row_dict(row: MilestoneRow) -> dict[str, Any]:
    return {
        "code": row.code,
        "label": dict(row.label),
        "sequence": row.sequence,
        "kind": row.kind,
        "required": row.required,
        "repeatable": row.repeatable,
        "customer_visible": row.customer_visible,
        "triggers_billing": row.triggers_billing,
        "in_template": row.in_template,
        "planned": _iso(row.planned),
        "planned_basis": row.planned_basis,
        "actual": _actual_dict(row.actual),
        "suspect_actuals": [_actual_dict(a) for a in row.suspect_actuals],
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
        "gap": row.gap,
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

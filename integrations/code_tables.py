"""An integration's code-mapping table, checked, and the dry run of a replay with a new one.

Which table an integration edits: a CSV/JSON feed its mapping's ``code_map``
(``Integration.feed_mapping``, integrations/feeds/parse.py); the four standards (X12, EDIFACT,
DCSA, EPCIS) the integration's ``code_overrides``, which win over the format's own code table
(``Format.default_mapping``) in integrations/pipeline.py. Both map a source code to a
milestone code of the tenant (``selectors.known_milestones``).

``replay_preview`` answers "what would a replay of this integration's held and dead-lettered
messages do with this table" by running the pipeline's own steps — the registered parser,
``pipeline.event_fields`` (overrides, unknown codes), place resolution for local times,
reference resolution, the sending key's customer scope, the dedupe keys already recorded —
once with the saved table and once with the new one, and comparing per event. It only reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from integrations import formats, pipeline
from integrations.feeds.parse import MappingError, mapping_validate
from integrations.models import DeadLetter, HeldEvent, InboundMessage, Integration
from integrations.parsers.base import ParseContext, ParseError, UnplacedEvent
from integrations.selectors import SenderScope, known_milestones
from shipments.models import Shipment, TrackingEvent
from shipments.places.selectors import places_resolve
from shipments.selectors import shipment_ids_by_reference_values
from shipments.zones import LocalTimeError, localize, zone_named
from tenancy.errors import DomainError

FEED_KINDS = ("csv", "json")
MAX_ROWS = 500
MAX_CODE = 60
PREVIEW_MESSAGES = 200


class CodeTableError(DomainError):
    """Rows of a table that cannot be saved: ``rows`` maps a 0-based row index to its
    problems (the page shows them in place); ``problems`` lists them as "row n: …"."""

    code = "invalid_code_table"

    def __init__(self, rows: dict[int, list[str]], general: list[str] | None = None):
        self.rows = rows
        self.general = general or []
        problems = [*self.general] + [
            f"row {i + 1}: {'; '.join(msgs)}" for i, msgs in sorted(rows.items())
        ]
        super().__init__("; ".join(problems) or "invalid table", field="rows")
        self.fields = {"rows": problems}
        self.problems = problems


def is_feed(integration: Integration) -> bool:
    return integration.kind in FEED_KINDS


def table_of(integration: Integration) -> dict[str, str]:
    """The saved table: source code -> milestone."""
    if is_feed(integration):
        return dict((integration.feed_mapping or {}).get("code_map") or {})
    return dict(integration.code_overrides or {})


def format_defaults(integration: Integration) -> dict[str, str]:
    """The format's own code table (what applies where the integration's table says nothing)."""
    fmt = formats.FORMATS.get(integration.kind)
    return dict(fmt.default_mapping) if fmt else {}


def table_check(
    integration: Integration, rows: Sequence[tuple[str, str]], *, known: Iterable[str]
) -> dict[str, str]:
    """The table of (code, milestone) rows; CodeTableError naming each bad row. Blank rows
    (code and milestone empty) are dropped (that is how a row is removed)."""
    known = set(known)
    table: dict[str, str] = {}
    first_row: dict[str, int] = {}
    problems: dict[int, list[str]] = {}
    if len(rows) > MAX_ROWS:
        raise CodeTableError({}, [f"at most {MAX_ROWS} rows"])
    for index, (raw_code, raw_milestone) in enumerate(rows):
        code, milestone = raw_code.strip(), raw_milestone.strip()
        if not code and not milestone:
            continue
        mine = problems.setdefault(index, [])
        if not code:
            mine.append("the source code is empty")
        elif len(code) > MAX_CODE:
            mine.append(f"the source code is longer than {MAX_CODE} characters")
        elif "\x00" in code or not code.isprintable():
            mine.append("the source code has a control character")
        elif code in first_row:
            mine.append(f"code {code!r} is already mapped in row {first_row[code] + 1}")
        if not milestone:
            mine.append("choose a milestone")
        elif milestone not in known:
            mine.append(f"unknown milestone {milestone!r}")
        if not mine:
            del problems[index]
            first_row[code] = index
            table[code] = milestone
    if problems:
        raise CodeTableError(problems)
    if is_feed(integration):
        feed_mapping_with(integration, table, known=known)  # the whole mapping must stay valid
    return table


def feed_mapping_with(
    integration: Integration, table: Mapping[str, str], *, known: Iterable[str]
) -> dict:
    """The integration's feed mapping with this code_map, validated."""
    if not integration.feed_mapping:
        raise CodeTableError(
            {},
            [
                "this feed has no mapping yet: set its fields first "
                "(PUT /api/v1/ingest/integrations/<id>/feed-mapping/)"
            ],
        )
    try:
        return mapping_validate(
            {**integration.feed_mapping, "code_map": dict(table)}, milestones=set(known)
        )
    except MappingError as error:
        raise CodeTableError({}, [str(error)]) from None


# --- the replay dry run ---------------------------------------------------------------------


def replay_candidates(integration: Integration) -> list[int]:
    """Ids of the integration's messages a replay would re-run: those with an open dead
    letter (not refused at intake) or a held event not yet applied; newest first."""
    letters = (
        DeadLetter.objects.filter(message__integration=integration, resolved_at__isnull=True)
        .exclude(stage=pipeline.STAGE_INTAKE)
        .values("message_id")
    )
    held = HeldEvent.objects.filter(
        message__integration=integration, applied_at__isnull=True
    ).values("message_id")
    refused = DeadLetter.objects.filter(
        message__integration=integration, stage=pipeline.STAGE_INTAKE
    ).values("message_id")
    ids = (
        InboundMessage.objects.filter(Q(pk__in=letters) | Q(pk__in=held))
        .exclude(pk__in=refused)
        .order_by("-received_at", "-pk")
        .values_list("pk", flat=True)
    )
    return list(ids)


@dataclass
class EventPlan:
    """What a replay would do with one event (or one unusable part) of a message.

    outcome: ``apply`` (a new timeline event on ``shipments``), ``recorded`` (already on the
    timeline: nothing new), ``hold`` (no shipment has the reference yet), ``held`` (held
    already), ``dead`` (a dead letter with ``reason``)."""

    key: str
    outcome: str
    code: str = ""
    milestone: str = ""
    reference: str = ""
    shipments: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.outcome != "dead"

    def same(self, other: EventPlan | None) -> bool:
        """Would a replay do the same? Already recorded or held stays so, whatever milestone
        the table now gives it (the event's dedupe key is already taken)."""
        if other is None:
            return False
        if self.outcome == other.outcome and self.outcome in ("recorded", "held"):
            return True
        return (
            other.outcome,
            other.milestone,
            other.shipments,
            other.reason,
        ) == (self.outcome, self.milestone, self.shipments, self.reason)


@dataclass
class Change:
    before: EventPlan | None
    after: EventPlan | None

    @property
    def kind(self) -> str:
        """accepted (was a dead letter, now applies or is held), rejected (the reverse),
        changed (another milestone or outcome), gone / new (a part that only one side has)."""
        before, after = self.before, self.after
        if before is not None and after is not None:
            if not before.accepted and after.accepted:
                return "accepted"
            if before.accepted and not after.accepted:
                return "rejected"
            return "changed"
        return "new" if before is None else "gone"


@dataclass
class MessagePlan:
    message: InboundMessage
    changes: list[Change]
    after: list[EventPlan]


@dataclass
class ReplayPreview:
    table: dict[str, str]
    messages: list[MessagePlan]  # every candidate message, changed or not
    candidates: int  # messages a replay would re-run (all of them, not just those shown)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> list[MessagePlan]:
        return [m for m in self.messages if m.changes]


def replay_preview(
    *, integration: Integration, table: Mapping[str, str], limit: int = PREVIEW_MESSAGES
) -> ReplayPreview:
    """The dry run: for the integration's held and dead-lettered messages (the newest
    ``limit``), each event a replay with ``table`` would handle differently than a replay with
    the saved table. Nothing is written. ``table`` must have passed table_check."""
    known = frozenset(known_milestones())
    ids = replay_candidates(integration)
    messages = list(
        InboundMessage.objects.select_related("integration")
        .filter(pk__in=ids[:limit])
        .order_by("-received_at", "-pk")
    )
    saved = _Setup.of(integration, table_of(integration), known)
    proposed = _Setup.of(integration, dict(table), known)
    before = _plan_all(messages, saved)
    after = _plan_all(messages, proposed)
    plans = [MessagePlan(m, _compare(before[m.pk], after[m.pk]), after[m.pk]) for m in messages]
    counts = {"accepted": 0, "rejected": 0, "changed": 0, "new": 0, "gone": 0}
    for plan in plans:
        for change in plan.changes:
            counts[change.kind] += 1
    counts["messages"] = sum(1 for p in plans if p.changes)
    return ReplayPreview(dict(table), plans, len(ids), counts)


@dataclass(frozen=True)
class _Setup:
    """The parse inputs of one side: the feed mapping and overrides with the table in."""

    mapping: dict
    overrides: dict
    known: frozenset[str]

    @classmethod
    def of(cls, integration: Integration, table: dict[str, str], known: frozenset[str]) -> _Setup:
        if is_feed(integration):
            mapping = dict(integration.feed_mapping or {})
            if mapping:
                mapping["code_map"] = table
            return cls(mapping, dict(integration.code_overrides or {}), known)
        return cls(dict(integration.feed_mapping or {}), table, known)


# a feed's record: "row 7, column Status" -> "row 7", "$.items[3].code" -> "$.items[3]"
_RECORD = re.compile(r"^(row \d+)(?:,|$)|^(\$.*?\[\d+\])")


def _key(position: str, event_keys: set[str]) -> str:
    """Errors and events of one record meet under the record's position ("row 7",
    "$.items[3]", "event 2"): an error's position may add the column or path to it."""
    for key in event_keys:
        if position == key or position.startswith((key + ",", key + ".", key + "[", key + " ")):
            return key
    record = _RECORD.match(position)  # a record that gave no event on this side
    return (record.group(1) or record.group(2)) if record else (position or "message")


def _plan_all(messages: list[InboundMessage], setup: _Setup) -> dict[int, list[EventPlan]]:
    plans: dict[int, list[EventPlan]] = {}
    pending: list[tuple[InboundMessage, EventPlan, dict, list[str]]] = []
    unplaced: list[tuple[InboundMessage, str, UnplacedEvent]] = []
    for message in messages:
        plans[message.pk] = _parse_one(message, setup, pending, unplaced)
    _place(unplaced, setup, plans, pending)
    _resolve(pending)
    return plans


def _parse_one(
    message: InboundMessage,
    setup: _Setup,
    pending: list[tuple[InboundMessage, EventPlan, dict, list[str]]],
    unplaced: list[tuple[InboundMessage, str, UnplacedEvent]],
) -> list[EventPlan]:
    context = ParseContext(
        mapping=setup.mapping,
        overrides=setup.overrides,
        integration_id=message.integration_id,
        known_milestones=setup.known,
    )
    try:
        result = formats.parse(bytes(message.body), pipeline.format_for(message), context)
    except ParseError as error:
        return [EventPlan(error.position or "message", "dead", reason=error.reason)]
    out: list[EventPlan] = []
    keys: set[str] = set()
    for index, event in enumerate(result.events):
        key = str(event.extra.get("row") or f"event {index + 1}")
        keys.add(key)
        plan = EventPlan(key, "apply", code=event.code or "", reference=event.reference)
        row = pipeline.event_fields(message, event, setup.overrides)
        if row is None:
            plan.outcome = "dead"
            plan.reason = f"unmapped code {event.code!r} ({event.standard}): add a code override"
        else:
            plan.milestone = row["milestone"]
            values = [v for _, v in event.references] or [event.reference]
            pending.append((message, plan, row, [v.strip() for v in values if v]))
        out.append(plan)
    for item in result.unplaced:
        # a feed names the record as the unit ("row 7"); other formats a segment
        key = item.unit if item.unit.startswith(("row ", "$")) else item.position
        keys.add(key)
        unplaced.append((message, key, item))
    for problem in result.errors:
        out.append(EventPlan(_key(problem.position or "", keys), "dead", reason=problem.reason))
    return out


def _place(
    unplaced: list[tuple[InboundMessage, str, UnplacedEvent]],
    setup: _Setup,
    plans: dict[int, list[EventPlan]],
    pending: list[tuple[InboundMessage, EventPlan, dict, list[str]]],
) -> None:
    """Local times without an offset: placed in their place's zone, as the pipeline does."""
    if not unplaced:
        return
    resolved = places_resolve({u.place for _, _, u in unplaced})
    for message, key, item in unplaced:
        zone = resolved[item.place].timezone
        plan = EventPlan(key, "dead", reference=item.reference)
        plans[message.pk].append(plan)
        if not zone:
            plan.reason = item.reason
            continue
        try:
            event = item.build(localize(item.local_time, zone_named(zone)))
        except LocalTimeError as error:
            plan.reason = error.message
            continue
        except ParseError as error:
            plan.reason = error.reason
            continue
        plan.code, plan.reference = event.code or "", event.reference
        row = pipeline.event_fields(message, event, setup.overrides)
        if row is None:
            plan.reason = f"unmapped code {event.code!r} ({event.standard}): add a code override"
            continue
        plan.outcome, plan.milestone = "apply", row["milestone"]
        values = [v for _, v in event.references] or [event.reference]
        pending.append((message, plan, row, [v.strip() for v in values if v]))


def _resolve(pending: list[tuple[InboundMessage, EventPlan, dict, list[str]]]) -> None:
    """Which shipments each event reaches (or held), and whether it is recorded already."""
    if not pending:
        return
    found = shipment_ids_by_reference_values({v for *_, values in pending for v in values})
    all_ids = {s for ids in found.values() for s in ids}
    scope = SenderScope([m for m, *_ in pending], all_ids)
    keys = {row["dedupe_key"] for _, _, row, _ in pending}
    recorded = set(
        TrackingEvent.objects.filter(dedupe_key__in=list(keys)).values_list(
            "shipment_id", "dedupe_key"
        )
    )
    held = set(
        HeldEvent.objects.filter(
            message_id__in={m.pk for m, *_ in pending}, dedupe_key__in=list(keys)
        ).values_list("message_id", "dedupe_key")
    )
    public = dict(Shipment.objects.filter(pk__in=all_ids).values_list("pk", "public_id"))
    for message, plan, row, values in pending:
        shipment_ids: set[int] = set()
        for value in values:  # the first reference (primary first) that identifies any
            if found.get(value):
                shipment_ids = found[value]
                break
        if shipment_ids:
            allowed = scope.allowed(message, shipment_ids)
            if not allowed:
                plan.outcome = "dead"
                plan.reason = (
                    "the reference names a shipment outside the customer accounts of the "
                    "sending API key"
                )
                continue
            plan.shipments = sorted(public[s] for s in allowed)
            new = [s for s in allowed if (s, row["dedupe_key"]) not in recorded]
            plan.outcome = "apply" if new else "recorded"
        else:
            plan.outcome = "held" if (message.pk, row["dedupe_key"]) in held else "hold"


def _compare(before: list[EventPlan], after: list[EventPlan]) -> list[Change]:
    by_key_before: dict[str, list[EventPlan]] = {}
    for plan in before:
        by_key_before.setdefault(plan.key, []).append(plan)
    changes: list[Change] = []
    seen: set[str] = set()
    for plan in after:
        olds = by_key_before.get(plan.key, [])
        seen.add(plan.key)
        if any(plan.same(old) for old in olds):
            continue
        changes.append(Change(olds[0] if olds else None, plan))
    for key, olds in by_key_before.items():
        if key not in seen:
            changes.extend(Change(old, None) for old in olds)
    return changes


def summary(preview: ReplayPreview) -> dict[str, Any]:
    """Counts for an audit entry or a message."""
    return {"candidates": preview.candidates, **preview.counts}

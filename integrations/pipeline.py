"""The ingestion pipeline: stored message bytes -> parsed events -> shipment events or held.

Everything here runs in the current tenant context and is idempotent: a message processed
twice (a redelivered task, a replay) records each event once — tracking events are inserted
with ON CONFLICT DO NOTHING on their dedupe key, held events and dead letters are deduplicated
per message, and the counters are recomputed from the rows rather than incremented.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from integrations import formats
from integrations.models import (
    FINISHED_STATUSES,
    Channel,
    DeadLetter,
    HeldEvent,
    InboundMessage,
    Integration,
    MessageStatus,
)
from integrations.parsers.base import (
    NormalizedEvent,
    ParseContext,
    ParseError,
    ParseResult,
    UnplacedEvent,
)
from integrations.selectors import SenderScope, known_milestones
from shipments.bulk import Stage
from shipments.models import Classifier, SourceKind, TrackingEvent
from shipments.places.selectors import Resolution, places_resolve
from shipments.selectors import shipment_ids_by_reference_values
from shipments.services import NewEvent, events_record
from shipments.zones import LocalTimeError, localize, zone_named
from tenancy.errors import DomainError
from tenancy.text import check_document, printable

# Stages of a dead letter: only "intake" ones (rejected at the door) may not be replayed.
STAGE_INTAKE = "intake"
STAGE_PARSE = "parse"
STAGE_MAPPING = "mapping"
STAGE_TASK = "task"

UPLOAD_SOURCE_NAME = "upload:api"


@dataclass
class MessageOutcome:
    message_id: int
    status: str
    errors: set[tuple[str, str, str]] = field(default_factory=set)  # (reason, position, unit)
    skipped: bool = False
    fatal: bool = False


@dataclass
class _Pending:
    """One parsed event on its way to a shipment or the holding list."""

    message: InboundMessage
    event: NormalizedEvent
    new: dict  # NewEvent fields except shipment_id
    values: list[str]


@dataclass
class _Unplaced:
    """A parsed event whose local time waits for its place's zone (see _place)."""

    message: InboundMessage
    outcome: MessageOutcome
    event: UnplacedEvent
    overrides: dict


def _json_safe(value) -> object:
    """Plain JSON types only (datetimes as ISO strings), for JSONFields of held events."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


def _namespaced_key(message: InboundMessage, key: str) -> str:
    namespace = f"i{message.integration_id}" if message.integration_id else "api"
    full = f"{namespace}:{key}"
    if len(full) > 128:
        full = f"{namespace}:h:{hashlib.sha256(key.encode()).hexdigest()}"
    return full


def _source_name(integration: Integration | None, event: NormalizedEvent | None = None) -> str:
    if integration is not None:
        return integration.source_name
    scanned_by = event.extra.get("scanned_by") if event is not None else None
    return f"scan:{scanned_by}" if scanned_by else UPLOAD_SOURCE_NAME


def format_for(message: InboundMessage) -> str:
    """The registered format to parse a message with: its hint, its integration's kind, or
    auto-detection."""
    if message.format_hint in formats.FORMATS:
        return message.format_hint
    if message.integration and message.integration.kind in formats.FORMATS:
        return message.integration.kind
    return "auto"


CLASSIFIERS = frozenset(Classifier.values)

# --- dispatch ---------------------------------------------------------------------------------

# Channels whose messages are not turned into events by parsing (documents, positions): their
# package registers a processor that takes the locked messages and records its outcome on them
# (imported by integrations.apps, so the pipeline never imports the channels).
ChannelProcessor = Callable[..., None]
_CHANNEL_PROCESSORS: dict[str, ChannelProcessor] = {}


def register_channel_processor(channel: str, processor: ChannelProcessor) -> None:
    _CHANNEL_PROCESSORS[channel] = processor


def parse_context(message: InboundMessage, known: frozenset[str]) -> ParseContext:
    integration = message.integration
    return ParseContext(
        mapping=(integration.feed_mapping if integration else None) or {},
        overrides=(integration.code_overrides if integration else None) or {},
        integration_id=integration.pk if integration else None,
        known_milestones=known,
        attachments=tuple(
            message.attachments.order_by("pk").values_list("pk", "kind")
            if message.channel == Channel.SCAN
            else ()
        ),
    )


def parse_stored(
    message: InboundMessage, known: Callable[[], frozenset[str]] = frozenset
) -> ParseResult:
    """Parse a stored message with its registered format; ``known`` gives the tenant's
    milestone codes (read only for formats that need them)."""
    name = format_for(message)
    needs_codes = name in formats.FORMATS and formats.FORMATS[name].needs_milestone_codes
    context = parse_context(message, known() if needs_codes else frozenset())
    return formats.parse(bytes(message.body), name, context)


def _run_channel_processors(messages: list[InboundMessage], force: bool) -> set[int]:
    handled: set[int] = set()
    for channel, processor in _CHANNEL_PROCESSORS.items():
        batch = [m for m in messages if m.channel == channel]
        if batch:
            processor(batch, force=force)
            handled.update(m.pk for m in batch)
    return handled


# --- processing -----------------------------------------------------------------------------


def process_messages(message_ids: Sequence[int], *, force: bool = False) -> list[MessageOutcome]:
    """Parse and apply a batch of stored messages; see the module docstring.

    ``force`` re-runs messages already processed or dead (a replay after a mapping fix).
    Messages rejected at intake (bad signature, too large) are never processed.
    """
    with transaction.atomic():
        messages = list(
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("integration")
            .filter(pk__in=list(message_ids))
            .order_by("pk")
        )
        handled = _run_channel_processors(messages, force)
        messages = [m for m in messages if m.pk not in handled]
        outcomes: dict[int, MessageOutcome] = {}
        pending: list[_Pending] = []
        unplaced: list[_Unplaced] = []
        retractions: list[tuple[InboundMessage, str]] = []
        facts = _BatchFacts.read(messages)
        for message in messages:
            outcome = _prepare(message, force, facts, pending, unplaced, retractions)
            outcomes[message.pk] = outcome
        _place(pending, unplaced)
        _apply(pending, retractions, outcomes)
        active = [m for m in messages if not outcomes[m.pk].skipped]
        _finish(active, outcomes)
    return [outcomes[m.pk] for m in messages]


@dataclass
class _BatchFacts:
    """What deciding to process each message of a batch needs, read in two queries (and the
    tenant's milestone codes, read once only when a message of the batch needs them)."""

    rejected_at_intake: frozenset[int]
    processed: dict[tuple[int | None, str], set[int]]  # (integration, checksum) -> message ids
    _known: frozenset[str] | None = None

    def known_milestones(self) -> frozenset[str]:
        if self._known is None:
            self._known = frozenset(known_milestones())
        return self._known

    @classmethod
    def read(cls, messages: Sequence[InboundMessage]) -> _BatchFacts:
        ids = [m.pk for m in messages]
        rejected = DeadLetter.objects.filter(message_id__in=ids, stage=STAGE_INTAKE)
        processed: dict[tuple[int | None, str], set[int]] = {}
        same_bytes = InboundMessage.objects.filter(
            status=MessageStatus.PROCESSED, sha256__in={m.sha256 for m in messages}
        ).values_list("integration_id", "sha256", "pk")
        for integration_id, sha256, pk in same_bytes:
            processed.setdefault((integration_id, sha256), set()).add(pk)
        return cls(frozenset(rejected.values_list("message_id", flat=True)), processed)

    def is_duplicate(self, message: InboundMessage) -> bool:
        """The same bytes from the same integration were already processed."""
        earlier = self.processed.get((message.integration_id, message.sha256), set())
        return bool(earlier - {message.pk})


def _prepare(
    message: InboundMessage,
    force: bool,
    facts: _BatchFacts,
    pending: list[_Pending],
    unplaced: list[_Unplaced],
    retractions: list[tuple[InboundMessage, str]],
) -> MessageOutcome:
    outcome = MessageOutcome(message.pk, message.status)
    done = message.status in FINISHED_STATUSES
    if (done and not force) or message.pk in facts.rejected_at_intake:
        outcome.skipped = True
        return outcome
    if not force and facts.is_duplicate(message):
        message.status = MessageStatus.DUPLICATE
        message.processed_at = timezone.now()
        message.save(update_fields=["status", "processed_at"])
        outcome.status = message.status
        outcome.skipped = True
        return outcome
    try:
        result = parse_stored(message, facts.known_milestones)
    except ParseError as error:
        _dead_letter(message, outcome, error.reason, error.position or "", error.unit or "")
        outcome.fatal = True
        message.events_parsed = 0
        message.last_error = str(error)[:2000]
        return outcome
    message.format = result.format
    message.events_parsed = len(result.events)
    for error in result.errors:
        _dead_letter(message, outcome, error.reason, error.position or "", error.unit or "")
    overrides = (message.integration.code_overrides if message.integration else None) or {}
    for index, event in enumerate(result.events):
        _queue(message, outcome, event, overrides, f"event {index + 1}", event.reference, pending)
    unplaced += [_Unplaced(message, outcome, event, overrides) for event in result.unplaced]
    retractions.extend((message, rid) for rid in result.retracted_ids)
    return outcome


def _may_hold_nul(message: InboundMessage) -> bool:
    """PostgreSQL stores no NUL in text or jsonb: only bodies that contain one (raw or as a
    JSON escape) pay for checking their events. Worked out once per message."""
    cached = message.__dict__.get("_may_hold_nul")
    if cached is None:
        body = bytes(message.body)
        cached = message.__dict__["_may_hold_nul"] = b"\x00" in body or b"\\u0000" in body
    return bool(cached)


def _unstorable(row: dict) -> bool:
    try:
        texts = {k: v for k, v in row.items() if isinstance(v, str | dict | list)}
        check_document(texts, max_depth=10_000)
    except DomainError:
        return True
    return False


def _queue(
    message: InboundMessage,
    outcome: MessageOutcome,
    event: NormalizedEvent,
    overrides: dict,
    position: str,
    unit: str,
    pending: list[_Pending],
) -> None:
    row = event_fields(message, event, overrides)
    if row is not None and _may_hold_nul(message) and _unstorable(row):
        _dead_letter(
            message,
            outcome,
            "text contains a NUL character, which cannot be stored",
            position,
            unit.replace("\x00", "")[:200],
            stage=STAGE_MAPPING,
        )
        return
    if row is None:
        _dead_letter(
            message,
            outcome,
            f"unmapped code {event.code!r} ({event.standard}): add a code override",
            position,
            unit,
            stage=STAGE_MAPPING,
        )
        return
    values = [value for _, value in event.references] or [event.reference]
    pending.append(_Pending(message, event, row, [v.strip() for v in values if v]))


def _place(pending: list[_Pending], unplaced: list[_Unplaced]) -> None:
    """Resolve every location of the batch to a place in one query: events point at their
    place (or keep why none was found), and a local time without an offset is placed in its
    place's zone; where no zone is known it becomes a dead letter "time zone of <place>
    unknown" (register the place, then replay), never a guess."""
    locations = {p.event.location for p in pending if p.event.location}
    locations.update(u.event.place for u in unplaced)
    if not locations:
        return
    resolved = places_resolve(locations)
    for item in unplaced:
        event = _placed(item, resolved[item.event.place])
        if event is not None:
            item.message.events_parsed += 1
            position, unit = item.event.position, item.event.unit
            _queue(item.message, item.outcome, event, item.overrides, position, unit, pending)
    for entry in pending:
        if entry.event.location:
            _point_at_place(entry.new, resolved[entry.event.location])


def _placed(item: _Unplaced, resolution: Resolution) -> NormalizedEvent | None:
    unplaced = item.event
    if not resolution.timezone:
        _dead_letter(item.message, item.outcome, unplaced.reason, unplaced.position, unplaced.unit)
        return None
    try:
        return unplaced.build(localize(unplaced.local_time, zone_named(resolution.timezone)))
    except LocalTimeError as error:
        reason = error.message
    except ParseError as error:
        reason = error.reason
    _dead_letter(item.message, item.outcome, reason, unplaced.position, unplaced.unit)
    return None


def _point_at_place(new: dict, resolution: Resolution) -> None:
    match = resolution.match
    if match is None:
        new["details"]["place_unresolved"] = resolution.reason
        return
    new["place_id"] = match.place_id
    new["tenant_place_id"] = match.tenant_place_id


def event_fields(message: InboundMessage, event: NormalizedEvent, overrides: dict) -> dict | None:
    """NewEvent fields for a parsed event, or None when its code is unknown (dead letter)."""
    milestone = event.milestone
    if event.code in overrides:
        milestone = overrides[event.code]
    elif event.extra.get("unknown_code"):
        return None
    classifier = event.classifier if event.classifier in CLASSIFIERS else "ACT"
    details: dict = {
        "standard": event.standard,
        "reference": event.reference,
        "reference_kind": event.reference_kind,
        "references": [list(r) for r in event.references],
        "parsed_milestone": event.milestone,
        "extra": event.extra,
    }
    fields = {
        "milestone": formats.timeline_milestone(event.standard, event.code, milestone),
        "occurred_at": event.occurred_at,
        "classifier": classifier,
        "source_kind": SourceKind.INTEGRATION,
        "source_name": _source_name(message.integration, event),
        "dedupe_key": _namespaced_key(message, event.dedupe_key),
        "location": event.location or "",
        "raw_code": event.code or "",
        "inbound_message_id": message.pk,
        "tz_unknown": event.tz_unknown,
        # Encoded once, on the way into the database (shipments.bulk: orjson, default=str).
        "details": details,
    }
    if event.issued_at is not None:  # the source's own issue time (aware, UTC)
        details["issued_at"] = event.issued_at.isoformat()
        # Among one source's estimates the newest issued wins (milestones.engine).
        fields["issued_at"] = event.issued_at
    return fields


def _dead_letter(
    message: InboundMessage,
    outcome: MessageOutcome,
    reason: str,
    position: str,
    unit: str,
    *,
    stage: str = STAGE_PARSE,
) -> None:
    """One unresolved dead letter per (reason, position, unit) of a message."""
    reason, position, unit = printable(reason), printable(position[:200]), printable(unit[:200])
    outcome.errors.add((reason, position, unit))
    exists = DeadLetter.objects.filter(
        message=message, reason=reason, position=position, unit=unit, resolved_at__isnull=True
    ).exists()
    if not exists:
        DeadLetter.objects.create(
            message=message, reason=reason, position=position, unit=unit, stage=stage
        )


def _resolve_shipments(values: Iterable[str], found: dict[str, set[int]]) -> set[int]:
    """The shipments of the first reference (primary first) that identifies any."""
    for value in values:
        if found.get(value):
            return found[value]
    return set()


def _apply(
    pending: list[_Pending],
    retractions: list[tuple[InboundMessage, str]],
    outcomes: dict[int, MessageOutcome],
) -> None:
    """Resolve every reference of the batch in one query, insert events once, hold the rest.

    A message sent with an API key limited to customer accounts only reaches shipments of
    those accounts; an event that names only other shipments is a dead letter, never applied.
    """
    found = shipment_ids_by_reference_values({v for p in pending for v in p.values})
    scope = SenderScope([p.message for p in pending], {s for ids in found.values() for s in ids})
    rows: list[NewEvent] = []
    held: list[HeldEvent] = []
    for index, item in enumerate(pending):
        shipment_ids = _resolve_shipments(item.values, found)
        if shipment_ids:
            shipment_ids = scope.allowed(item.message, shipment_ids)
            if not shipment_ids:
                _dead_letter(
                    item.message,
                    outcomes[item.message.pk],
                    "the reference names a shipment outside the customer accounts of the "
                    "sending API key",
                    f"event {index + 1}",
                    item.event.reference,
                    stage=STAGE_MAPPING,
                )
                continue
        if shipment_ids:
            rows += [NewEvent(shipment_id=s, **item.new) for s in sorted(shipment_ids)]
        else:
            held.append(_held_row(item))
    rows += _retraction_events(retractions)
    if rows:
        events_record(events=rows, refresh=True)
    if held:
        HeldEvent.objects.bulk_create(held, ignore_conflicts=True)


def _held_row(item: _Pending) -> HeldEvent:
    payload = dict(item.new)
    payload["occurred_at"] = item.new["occurred_at"].isoformat()
    payload["references"] = [list(r) for r in item.event.references]
    return HeldEvent(
        message=item.message,
        tenant_id=item.message.tenant_id,
        references=sorted(set(item.values)),
        dedupe_key=item.new["dedupe_key"],
        payload=_json_safe(payload),
    )


def _retraction_events(retractions: list[tuple[InboundMessage, str]]) -> list[NewEvent]:
    """A partner retracted an earlier event (DCSA): void what we recorded from it."""
    if not retractions:
        return []
    keys = {_namespaced_key(m, rid): m for m, rid in retractions}
    originals = TrackingEvent.objects.filter(dedupe_key__in=list(keys), voids=False)
    return [
        NewEvent(
            shipment_id=original.shipment_id,
            milestone=original.milestone,
            occurred_at=original.occurred_at,
            classifier=original.classifier,
            source_kind=original.source_kind,
            source_name=original.source_name,
            supersedes_id=original.pk,
            voids=True,
            reason="retracted by the partner",
            dedupe_key=f"retract:{original.pk}",
            inbound_message_id=keys[original.dedupe_key].pk,
        )
        for original in originals
    ]


def _finish(messages: list[InboundMessage], outcomes: dict[int, MessageOutcome]) -> None:
    ids = [m.pk for m in messages]
    applied = dict(
        TrackingEvent.objects.filter(inbound_message_id__in=ids)
        .values("inbound_message_id")
        .annotate(n=Count("id"))
        .values_list("inbound_message_id", "n")
    )
    held = dict(
        HeldEvent.objects.filter(message_id__in=ids, applied_at__isnull=True)
        .values("message_id")
        .annotate(n=Count("id"))
        .values_list("message_id", "n")
    )
    now = timezone.now()
    for message in messages:
        outcome = outcomes[message.pk]
        message.events_applied = applied.get(message.pk, 0)
        message.events_held = held.get(message.pk, 0)
        if outcome.fatal or (outcome.errors and message.events_parsed == 0):
            message.status = MessageStatus.DEAD  # nothing usable came out of it
        elif outcome.errors:
            message.status = MessageStatus.PARTIALLY_FAILED
        else:
            message.status = MessageStatus.PROCESSED
        if not outcome.fatal:
            message.last_error = sorted(outcome.errors)[0][0][:2000] if outcome.errors else ""
        message.processed_at = now
        outcome.status = message.status
    with connection.cursor() as cursor:
        OUTCOME_STAGE.load(cursor.cursor, [_outcome_row(m) for m in messages])
        cursor.execute(WRITE_STAGED_OUTCOMES)


OUTCOME_STAGE = Stage(
    "stage_message_outcome",
    "integrations_inboundmessage",
    ("id", *InboundMessage.OUTCOME_FIELDS),
)
WRITE_STAGED_OUTCOMES = OUTCOME_STAGE.update_statement()


def _outcome_row(message: InboundMessage) -> tuple:
    return tuple(getattr(message, column) for column in OUTCOME_STAGE.columns)


def messages_give_up(message_ids: Sequence[int], error: BaseException, attempts: int) -> None:
    """The task failed for good: mark the messages dead with a dead letter saying why."""
    reason = f"gave up after {attempts} attempts: {error}"[:2000]
    now = timezone.now()
    for message in InboundMessage.objects.filter(pk__in=list(message_ids)):
        message.status = MessageStatus.DEAD
        message.attempts = max(message.attempts, attempts)
        message.last_error = reason
        message.processed_at = now
        message.save(update_fields=["status", "attempts", "last_error", "processed_at"])
        DeadLetter.objects.create(message=message, reason=reason, stage=STAGE_TASK)


# --- held events ----------------------------------------------------------------------------


def apply_held_for_new_references(values: Iterable[str]) -> int:
    """Apply held events naming any of these reference values; the number applied.

    Call it when a shipment (or a reference of one) is created.
    """
    values = sorted({v.strip() for v in values if v and v.strip()})
    if not values:
        return 0
    with transaction.atomic():
        held = list(
            HeldEvent.objects.select_for_update()
            .filter(applied_at__isnull=True, references__overlap=values)
            .order_by("pk")
        )
        if not held:
            return 0
        found = shipment_ids_by_reference_values({v for h in held for v in h.references})
        rows: list[NewEvent] = []
        applied: list[HeldEvent] = []
        for item in held:
            # The payload keeps reference order (primary first) for the same resolution rule.
            ordered = [v for _, v in item.payload.get("references", [])] or item.references
            shipment_ids = _resolve_shipments([v.strip() for v in ordered], found)
            if not shipment_ids:
                continue
            rows += [_event_from_payload(item.payload, s) for s in sorted(shipment_ids)]
            applied.append(item)
        if rows:
            events_record(events=rows, refresh=True)
        now = timezone.now()
        HeldEvent.objects.filter(pk__in=[h.pk for h in applied]).update(applied_at=now)
        per_message: dict[int, int] = {}
        for item in applied:
            per_message[item.message_id] = per_message.get(item.message_id, 0) + 1
        for message_id, n in per_message.items():
            InboundMessage.objects.filter(pk=message_id).update(
                events_applied=F("events_applied") + n, events_held=F("events_held") - n
            )
    return len(applied)


def _event_from_payload(payload: dict, shipment_id: int) -> NewEvent:
    fields = {k: v for k, v in payload.items() if k != "references"}
    fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
    if fields.get("issued_at"):
        fields["issued_at"] = datetime.fromisoformat(fields["issued_at"])
    return NewEvent(shipment_id=shipment_id, **fields)

"""Writes for shipments: create, link, record events (bulk and manual), correct, void,
migrate to another template version, and refresh the cached timelines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from milestones import engine
from milestones.models import TemplateVersion
from milestones.selectors import template_latest_version
from shipments import hooks
from shipments.bulk import Stage
from shipments.models import (
    Classifier,
    Leg,
    LegSegment,
    ReferenceKind,
    Shipment,
    ShipmentLink,
    ShipmentReference,
    SourceKind,
    TrackingEvent,
)
from shipments.places.selectors import Resolution, places_resolve
from shipments.timeline import compute_for, timeline_summary
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError
from tenancy.models import ApiKey, CustomerAccount, User

MAX_LINK_DEPTH = 4
# Checked for every event: the enums' .values builds a new list on each access.
CLASSIFIERS = frozenset(Classifier.values)
SOURCE_KINDS = frozenset(SourceKind.values)


class ShipmentError(DomainError):
    """A shipment rule was broken (code, message and the field at fault are for the caller)."""


@dataclass(frozen=True)
class NewEvent:
    """An event to record. ``dedupe_key`` makes recording idempotent."""

    shipment_id: int
    milestone: str
    occurred_at: datetime
    classifier: str
    source_kind: str
    source_name: str
    dedupe_key: str = ""
    location: str = ""
    raw_code: str = ""
    reason: str = ""
    author_id: int | None = None
    supersedes_id: int | None = None
    voids: bool = False
    inbound_message_id: int | None = None
    tz_unknown: bool = False
    details: dict = field(default_factory=dict)
    recorded_at: datetime | None = None  # when Milepost learned it; now unless replaying
    issued_at: datetime | None = None  # when the source issued the report, if it says
    place_id: int | None = None  # where it happened (shipments.places), resolved from location
    tenant_place_id: int | None = None

    def key(self) -> str:
        if self.dedupe_key:
            return self.dedupe_key[:128]
        basis = "|".join(
            str(part)
            for part in (
                self.milestone,
                self.occurred_at.isoformat(),
                self.classifier,
                self.source_kind,
                self.source_name,
                self.location,
                self.raw_code,
            )
        )
        return "h:" + hashlib.sha256(basis.encode()).hexdigest()


def _validate_event(event: NewEvent) -> None:
    if event.classifier not in CLASSIFIERS:
        raise ShipmentError(f"Unknown classifier {event.classifier!r}", field="classifier")
    if event.source_kind not in SOURCE_KINDS:
        raise ShipmentError(f"Unknown source kind {event.source_kind!r}", field="source_kind")
    if timezone.is_naive(event.occurred_at):
        raise ShipmentError("occurred_at needs a time zone offset", field="occurred_at")
    if event.issued_at is not None and timezone.is_naive(event.issued_at):
        raise ShipmentError("issued_at needs a time zone offset", field="issued_at")
    if not event.milestone:
        raise ShipmentError("milestone is required", field="milestone")


# --- shipments ------------------------------------------------------------------------------


@transaction.atomic
def shipment_create(
    *,
    mode: str,
    references: Sequence[tuple[str, str]],
    booked_at: datetime,
    template_version: TemplateVersion | None = None,
    customer_account: CustomerAccount | None = None,
    legs: Sequence[dict] = (),
    actor: User | None = None,
    service: str = "",
    carrier: str = "",
    shipper_name: str = "",
    consignee_name: str = "",
    origin_locode: str = "",
    origin_address: str = "",
    origin_lat: float | None = None,
    origin_lon: float | None = None,
    destination_locode: str = "",
    destination_address: str = "",
    destination_lat: float | None = None,
    destination_lon: float | None = None,
    promised_at: datetime | None = None,
    api_key: ApiKey | None = None,
) -> Shipment:
    """Create a shipment on the latest template of its mode (or the given version).

    ``legs``: dicts with segment (first_mile|middle_mile|last_mile), mode and optionally
    carrier, origin_locode, destination_locode, planned_departure, planned_arrival; numbered
    in the order given.
    """
    if not references:
        raise ShipmentError("A shipment needs at least one reference", field="references")
    version = template_version or template_latest_version(mode=mode)
    codes = [origin_locode, destination_locode]
    codes += [leg.get(f"{end}_locode", "") for leg in legs for end in ("origin", "destination")]
    places = _resolve_places(codes)
    shipment = Shipment.objects.create(
        **_place_pointers(places, "origin", origin_locode),
        **_place_pointers(places, "destination", destination_locode),
        mode=mode,
        booked_at=booked_at,
        template_version=version,
        customer_account=customer_account,
        service=service,
        carrier=carrier,
        shipper_name=shipper_name,
        consignee_name=consignee_name,
        origin_locode=origin_locode,
        origin_address=origin_address,
        origin_lat=origin_lat,
        origin_lon=origin_lon,
        destination_locode=destination_locode,
        destination_address=destination_address,
        destination_lat=destination_lat,
        destination_lon=destination_lon,
        promised_at=promised_at,
    )
    if any(kind == ReferenceKind.MILEPOST for kind, _ in references):
        raise ShipmentError(
            "References of kind 'milepost' are Milepost's own ids", field="references"
        )
    _add_references(shipment, [*references, (ReferenceKind.MILEPOST, shipment.public_id)])
    _add_legs(shipment, legs, places)
    audit_record(
        action="shipment.create",
        target_type="shipment",
        target_id=shipment.pk,
        actor=actor,
        api_key=api_key,
        changes={"mode": mode, "references": [list(r) for r in references]},
    )
    timelines_refresh(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()  # the refresh wrote the cached timeline fields to the row
    hooks.references_added([value for _, value in references])
    return shipment


def _resolve_places(codes: Sequence[str]) -> dict[str, Resolution]:
    """The places of the UN/LOCODEs (or tenant place codes) given, in one query (none if
    no code is given)."""
    wanted = {code.strip() for code in codes if code and code.strip()}
    return places_resolve(wanted) if wanted else {}


def _place_pointers(places: dict[str, Resolution], end: str, code: str) -> dict:
    """``{end}_place_id`` / ``{end}_tenant_place_id`` for a code (the code itself is kept)."""
    resolution = places.get(code.strip()) if code else None
    match = resolution.match if resolution else None
    return {
        f"{end}_place_id": match.place_id if match else None,
        f"{end}_tenant_place_id": match.tenant_place_id if match else None,
    }


def _add_legs(
    shipment: Shipment, legs: Sequence[dict], places: dict[str, Resolution] | None = None
) -> None:
    rows = []
    for sequence, leg in enumerate(legs, 1):
        if leg.get("segment") not in LegSegment.values:
            raise ShipmentError(
                f"Leg {sequence}: segment must be one of {', '.join(LegSegment.values)}",
                field="legs",
            )
        pointers = {
            **_place_pointers(places or {}, "origin", leg.get("origin_locode", "")),
            **_place_pointers(places or {}, "destination", leg.get("destination_locode", "")),
        }
        rows.append(
            Leg(
                shipment=shipment,
                sequence=sequence,
                tenant_id=shipment.tenant_id,
                **(pointers | leg),
            )
        )
    Leg.objects.bulk_create(rows)


def _add_references(shipment: Shipment, references: Sequence[tuple[str, str]]) -> None:
    rows = [
        ShipmentReference(shipment=shipment, kind=k, value=v.strip(), tenant_id=shipment.tenant_id)
        for k, v in references
    ]
    taken = ShipmentReference.objects.filter(
        kind__in={r.kind for r in rows}, value__in={r.value for r in rows}
    ).values_list("kind", "value")
    clashes = {(k, v) for k, v in taken} & {(r.kind, r.value) for r in rows}
    if clashes:
        kind, value = sorted(clashes)[0]
        raise ShipmentError(
            f"Reference {kind} {value!r} already identifies another shipment",
            code="duplicate_reference",
            field="references",
        )
    try:
        with transaction.atomic():
            ShipmentReference.objects.bulk_create(rows)
    except IntegrityError as error:
        raise ShipmentError(
            "Duplicate reference", code="duplicate_reference", field="references"
        ) from error


def shipment_link(
    *,
    parent: Shipment,
    child: Shipment,
    kind: str,
    parent_milestone: str = "departed",
    child_milestone: str = "departed",
    actor: User | None = None,
) -> ShipmentLink:
    if Shipment.objects.filter(pk__in={parent.pk, child.pk}).count() != len({parent.pk, child.pk}):
        # FK checks bypass RLS: refuse a link to a shipment the current tenant cannot see.
        raise ShipmentError("Unknown shipment", code="unknown_shipment")
    if parent.pk == child.pk or _is_ancestor(child.pk, of=parent.pk):
        raise ShipmentError("A shipment cannot depend on itself", code="link_cycle")
    link = ShipmentLink.objects.create(
        parent=parent,
        child=child,
        kind=kind,
        parent_milestone=parent_milestone,
        child_milestone=child_milestone,
    )
    audit_record(
        action="shipment.link",
        target_type="shipment",
        target_id=child.pk,
        actor=actor,
        changes={"parent": parent.pk, "kind": kind},
    )
    timelines_refresh(shipment_ids=[child.pk])
    return link


def _is_ancestor(candidate: int, *, of: int) -> bool:
    frontier = {of}
    for _ in range(MAX_LINK_DEPTH * 4):
        parents = set(
            ShipmentLink.objects.filter(child_id__in=frontier).values_list("parent_id", flat=True)
        )
        if candidate in parents:
            return True
        if not parents:
            return False
        frontier = parents
    return False


@transaction.atomic
def shipment_migrate_template(
    *, shipment: Shipment, version: TemplateVersion, reason: str, actor: User | None = None
) -> Shipment:
    """Move a shipment to another template version explicitly (never done implicitly)."""
    if not reason.strip():
        raise ShipmentError("A reason is required", field="reason")
    before = shipment.template_version_id
    Shipment.objects.filter(pk=shipment.pk).update(template_version=version)
    shipment.template_version = version
    audit_record(
        action="shipment.migrate_template",
        target_type="shipment",
        target_id=shipment.pk,
        actor=actor,
        reason=reason,
        changes={"template_version": [before, version.pk]},
    )
    timelines_refresh(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()  # the refresh wrote the cached timeline fields to the row
    return shipment


# Fields a shipment's owner may change after booking (mode, booking time and template decide
# the timeline: changing those is a template migration, shipment_migrate_template).
UPDATABLE_FIELDS = frozenset(
    {
        "service",
        "carrier",
        "customer_account",
        "shipper_name",
        "consignee_name",
        "origin_locode",
        "origin_address",
        "origin_lat",
        "origin_lon",
        "destination_locode",
        "destination_address",
        "destination_lat",
        "destination_lon",
        "promised_at",
    }
)


@transaction.atomic
def shipment_update(
    *,
    shipment: Shipment,
    changes: dict[str, object],
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> Shipment:
    """Apply ``changes`` (UPDATABLE_FIELDS only), audited; ``updated_at`` moves when any
    value did."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ShipmentError(f"Cannot change {', '.join(unknown)}", field=unknown[0])
    changed: dict[str, list[object]] = {}
    for name, value in changes.items():
        before = getattr(shipment, name)
        if before != value:
            changed[name] = [before, value]
            setattr(shipment, name, value)
    if not changed:
        return shipment
    shipment.updated_at = timezone.now()
    shipment.save(update_fields=[*changed, "updated_at"])
    audit_record(
        action="shipment.update",
        target_type="shipment",
        target_id=shipment.pk,
        actor=actor,
        api_key=api_key,
        changes={name: [_audited(b), _audited(a)] for name, (b, a) in changed.items()},
    )
    return shipment


def _audited(value: object) -> object:
    if isinstance(value, CustomerAccount):
        return value.pk
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# A shipment that has reached one of these can not be cancelled any more.
NOT_CANCELLABLE = frozenset({"cancelled", "delivered", "returned"})


@transaction.atomic
def shipment_cancel(
    *,
    shipment: Shipment,
    reason: str = "",
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> Shipment:
    """Cancel: an ACT ``cancelled`` event (the engine's status rule 1), once per shipment."""
    locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
    if locked.status in NOT_CANCELLABLE:
        raise Conflict(
            f"The shipment is {locked.status}: it can not be cancelled.", code="not_cancellable"
        )
    if actor is not None:
        kind, name = SourceKind.USER, f"user:{actor.email}"
    else:
        kind, name = SourceKind.PARTNER, f"api:{api_key.prefix if api_key else 'unknown'}"
    events_record(
        events=[
            NewEvent(
                shipment_id=shipment.pk,
                milestone=engine.CANCELLED_CODE,
                occurred_at=timezone.now(),
                classifier=Classifier.ACTUAL,
                source_kind=kind,
                source_name=name,
                reason=reason,
                author_id=actor.pk if actor else None,
                dedupe_key=f"cancel:{timezone.now().timestamp()}",
            )
        ]
    )
    audit_record(
        action="shipment.cancel",
        target_type="shipment",
        target_id=shipment.pk,
        actor=actor,
        api_key=api_key,
        reason=reason,
    )
    shipment.refresh_from_db()
    return shipment


def shipment_public_reference_ensure(*, shipment: Shipment) -> None:
    """The shipment's public id is one of its references (events posted to it are matched by
    it); shipments created in bulk, not through shipment_create, get it here."""
    ShipmentReference.objects.bulk_create(
        [
            ShipmentReference(
                shipment=shipment,
                kind=ReferenceKind.MILEPOST,
                value=shipment.public_id,
                tenant_id=shipment.tenant_id,
            )
        ],
        ignore_conflicts=True,
    )


# --- events ---------------------------------------------------------------------------------


def events_record(*, events: Iterable[NewEvent], refresh: bool = True) -> list[int]:
    """Insert events set-based and idempotently; return the ids of the ones that were new.

    A replayed event (same shipment and dedupe key) is skipped by ON CONFLICT DO NOTHING, so
    recording the same batch twice changes nothing.
    """
    batch = list(events)
    for event in batch:
        _validate_event(event)
    with transaction.atomic():
        inserted = insert_events(batch)
        if refresh and inserted:
            timelines_refresh(shipment_ids=sorted({shipment for _, shipment in inserted}))
    return [event_id for event_id, _ in inserted]


EVENT_COLUMNS = (
    "tenant_id",
    "shipment_id",
    "milestone",
    "occurred_at",
    "classifier",
    "location",
    "source_kind",
    "source_name",
    "raw_code",
    "dedupe_key",
    "recorded_at",
    "supersedes_id",
    "voids",
    "reason",
    "author_id",
    "inbound_message_id",
    "tz_unknown",
    "details",
    "issued_at",
    "place_id",
    "tenant_place_id",
)


def insert_events(batch: Sequence[NewEvent]) -> list[tuple[int, int]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING (id, shipment_id), through a COPY stage.

    A trigger (migration 0004) refuses the whole statement when an event names a shipment the
    current tenant cannot see.
    """
    if not batch:
        return []
    tenant_id = current_tenant_id()
    _check_supersedes(batch)
    now = timezone.now()
    with connection.cursor() as cursor:
        EVENT_STAGE.load(cursor.cursor, [_event_values(tenant_id, e, now) for e in batch])
        try:
            cursor.execute(INSERT_STAGED_EVENTS)
        except IntegrityError as error:
            raise _unknown_shipment(error) from error
        return cursor.fetchall()


def _unknown_shipment(error: IntegrityError) -> Exception:
    diag = getattr(error.__cause__, "diag", None)
    if diag is None or diag.constraint_name != "event_shipment_exists":
        return error
    return ShipmentError(
        f"Unknown shipment {diag.message_detail}", code="unknown_shipment", field="shipment_id"
    )


EVENT_STAGE = Stage("stage_tracking_event", "shipments_trackingevent", EVENT_COLUMNS)
# The RLS policy's WITH CHECK still applies to every row going into the real table.
INSERT_STAGED_EVENTS = (
    f"INSERT INTO shipments_trackingevent ({EVENT_STAGE.column_list}) "  # noqa: S608 — constants
    f"SELECT {EVENT_STAGE.column_list} FROM {EVENT_STAGE.name} "
    "ON CONFLICT (tenant_id, shipment_id, dedupe_key) DO NOTHING RETURNING id, shipment_id"
)


def _check_supersedes(batch: Sequence[NewEvent]) -> None:
    """A superseded event must be of the same shipment, in the current tenant.

    PostgreSQL foreign key checks bypass row-level security, so without this an event in
    tenant A's context could point at an event of tenant B.
    """
    targets = {e.supersedes_id for e in batch if e.supersedes_id is not None}
    if not targets:
        return
    owner = dict(TrackingEvent.objects.filter(pk__in=targets).values_list("pk", "shipment_id"))
    for e in batch:
        if e.supersedes_id is not None and owner.get(e.supersedes_id) != e.shipment_id:
            raise ShipmentError(
                f"Unknown event {e.supersedes_id} for shipment {e.shipment_id}",
                code="unknown_event",
                field="supersedes_id",
            )


def _event_values(tenant_id: int, e: NewEvent, now: datetime) -> tuple:
    return (
        tenant_id,
        e.shipment_id,
        e.milestone,
        e.occurred_at,
        e.classifier,
        e.location[:120],
        e.source_kind,
        e.source_name[:120],
        e.raw_code[:40],
        e.key(),
        e.recorded_at or now,
        e.supersedes_id,
        e.voids,
        e.reason,
        e.author_id,
        e.inbound_message_id,
        e.tz_unknown,
        e.details,
        e.issued_at,
        e.place_id,
        e.tenant_place_id,
    )


@transaction.atomic
def milestone_record_manual(
    *,
    shipment: Shipment,
    milestone: str,
    occurred_at: datetime,
    reason: str,
    actor: User,
    classifier: str = Classifier.ACTUAL,
    location: str = "",
) -> TrackingEvent:
    """Ops record a milestone by hand; audited, with the reason on the event."""
    if not reason.strip():
        raise ShipmentError("A reason is required for a manual update", field="reason")
    event = _record_one(
        NewEvent(
            shipment_id=shipment.pk,
            milestone=milestone,
            occurred_at=occurred_at,
            classifier=classifier,
            source_kind=SourceKind.USER,
            source_name=f"user:{actor.email}",
            location=location,
            reason=reason,
            author_id=actor.pk,
            dedupe_key=f"manual:{timezone.now().timestamp()}:{milestone}:{actor.pk}",
        )
    )
    audit_record(
        action="event.manual",
        target_type="shipment",
        target_id=shipment.pk,
        actor=actor,
        reason=reason,
        changes={
            "event": event.pk,
            "milestone": milestone,
            "occurred_at": occurred_at.isoformat(),
            "classifier": classifier,
        },
    )
    return event


@transaction.atomic
def event_correct(
    *,
    event: TrackingEvent,
    reason: str,
    actor: User,
    occurred_at: datetime | None = None,
    milestone: str | None = None,
    location: str | None = None,
) -> TrackingEvent:
    """A correction is a new event superseding the wrong one; the original stays."""
    return _supersede(
        event,
        action="event.correct",
        reason=reason,
        actor=actor,
        milestone=milestone or event.milestone,
        occurred_at=occurred_at or event.occurred_at,
        location=event.location if location is None else location,
        raw_code=event.raw_code,
        dedupe_key=f"correct:{event.pk}:{timezone.now().timestamp()}",
    )


@transaction.atomic
def event_void(*, event: TrackingEvent, reason: str, actor: User) -> TrackingEvent:
    """Cancel a fact without replacing it (the original stays, marked superseded)."""
    return _supersede(
        event,
        action="event.void",
        reason=reason,
        actor=actor,
        milestone=event.milestone,
        occurred_at=event.occurred_at,
        voids=True,
        dedupe_key=f"void:{event.pk}",
    )


def _supersede(event: TrackingEvent, *, action: str, reason: str, actor: User, **fields):
    """Record a user's event superseding ``event``, audited with the reason."""
    if not reason.strip():
        raise ShipmentError(f"A reason is required ({action})", field="reason")
    new = _record_one(
        NewEvent(
            shipment_id=event.shipment_id,
            classifier=event.classifier,
            source_kind=SourceKind.USER,
            source_name=f"user:{actor.email}",
            reason=reason,
            author_id=actor.pk,
            supersedes_id=event.pk,
            **fields,
        )
    )
    audit_record(
        action=action,
        target_type="shipment",
        target_id=event.shipment_id,
        actor=actor,
        reason=reason,
        changes={"event": event.pk, "by": new.pk},
    )
    return new


def _record_one(event: NewEvent) -> TrackingEvent:
    inserted = events_record(events=[event])
    if not inserted:
        raise ShipmentError("This change was already recorded", code="duplicate")
    return TrackingEvent.objects.get(pk=inserted[0])


# --- timelines ------------------------------------------------------------------------------


class _ToCompute(NamedTuple):
    """What computing a timeline needs of a shipment (compute_for reads these attributes)."""

    pk: int
    template_version_id: int
    booked_at: datetime


def timelines_refresh(*, shipment_ids: Sequence[int], _depth: int = 0) -> None:
    """Recompute and cache the timelines of these shipments, then of their dependants."""
    # Plain tuples, not model instances: every cached field is about to be replaced.
    shipments = [
        _ToCompute(*row)
        for row in Shipment.objects.filter(pk__any=list(shipment_ids)).values_list(
            "pk", "template_version_id", "booked_at"
        )
    ]
    if not shipments:
        return
    timelines = compute_for(shipments)
    now = timezone.now()
    _write_cached_timelines([_cache_row(s.pk, timelines[s.pk], now) for s in shipments])
    ids = [s.pk for s in shipments]
    deferred = _hooks_deferred.get()
    if deferred is None:
        hooks.timeline_changed(ids)
    else:
        hooks.timeline_changed(ids, which="immediate")
        _defer_hooks(ids)
        deferred.update(ids)
    children = sorted(
        set(ShipmentLink.objects.filter(parent_id__any=ids).values_list("child_id", flat=True))
    )
    if children and _depth < MAX_LINK_DEPTH:
        timelines_refresh(shipment_ids=children, _depth=_depth + 1)


# --- deferred hooks -------------------------------------------------------------------------

# The ids whose deferrable hooks were left for later, inside timeline_hooks_deferred.
_hooks_deferred: ContextVar[set[int] | None] = ContextVar("timeline_hooks_deferred", default=None)

DEFER_HOOKS = (
    "INSERT INTO shipments_deferredhooks (tenant_id, shipment_id, since) "
    "SELECT %s, unnest(%s::bigint[]), %s ON CONFLICT (shipment_id) DO NOTHING"
)
# SKIP LOCKED: a shipment whose hooks another transaction is running is left to it.
TAKE_DEFERRED_HOOKS = """
DELETE FROM shipments_deferredhooks WHERE id IN (
    SELECT id FROM shipments_deferredhooks
    WHERE tenant_id = %(tenant)s {condition}
    ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING shipment_id
"""


@contextmanager
def timeline_hooks_deferred() -> Iterator[set[int]]:
    """Timelines refreshed inside run only their immediate hooks (live updates) in the changing
    transaction; the others (exceptions, rules, webhooks, billing, routes) are recorded in
    DeferredHooks in that same transaction and left to ``deferred_hooks_run``, which the
    caller runs after the commit (in a transaction of its own) for the ids collected here.
    What someone is watching then reaches them without waiting for the hooks; a crash in
    between loses nothing (the beat sweep runs what was recorded)."""
    collected: set[int] = set()
    token = _hooks_deferred.set(collected)
    try:
        yield collected
    finally:
        _hooks_deferred.reset(token)


def _defer_hooks(shipment_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(DEFER_HOOKS, [current_tenant_id(), shipment_ids, timezone.now()])


def deferred_hooks_run(
    *,
    shipment_ids: Iterable[int] | None = None,
    recorded_before: datetime | None = None,
    limit: int = 500,
) -> list[int]:
    """Run the deferred hooks of the current tenant's shipments (these ones, or those recorded
    before a time), in the caller's transaction, and forget them; returns the shipment ids.
    Rows another transaction is running are skipped; a failure rolls the rows back with the
    hooks' work, so they run again later. The hooks are idempotent (each keeps its own state)."""
    condition = ""
    params: dict[str, Any] = {"tenant": current_tenant_id(), "limit": limit}
    if shipment_ids is not None:
        condition += " AND shipment_id = ANY(%(ids)s)"
        params["ids"] = sorted(set(shipment_ids))
    if recorded_before is not None:
        condition += " AND since < %(before)s"
        params["before"] = recorded_before
    with connection.cursor() as cursor:
        cursor.execute(TAKE_DEFERRED_HOOKS.format(condition=condition), params)
        taken = sorted(row[0] for row in cursor.fetchall())
    if taken:
        hooks.timeline_changed(taken, which="deferred")
    return taken


# updated_at too: a recomputed timeline is a change partners sync on (updated_since).
CACHE_COLUMNS = ("id", *Shipment.CACHED_TIMELINE_FIELDS, "updated_at")
CACHE_STAGE = Stage("stage_shipment_cache", "shipments_shipment", CACHE_COLUMNS)
WRITE_STAGED_CACHE = CACHE_STAGE.update_statement()


def _write_cached_timelines(rows: list[tuple]) -> None:
    """One COPY and one UPDATE … FROM for all rows (CACHE_COLUMNS): Django's bulk_update
    builds a CASE per field and row, which cost more than computing the timelines."""
    with connection.cursor() as cursor:
        CACHE_STAGE.load(cursor.cursor, rows)
        cursor.execute(WRITE_STAGED_CACHE)


def _cache_row(shipment_id: int, timeline: engine.Timeline, now: datetime) -> tuple:
    """The cached fields of a shipment, in CACHE_COLUMNS order."""
    return (
        shipment_id,
        str(timeline.status),
        timeline.current_stage or "",
        timeline.next_milestone or "",
        timeline.eta,
        timeline.progress_percent,
        bool(timeline.late_milestones),
        timeline_summary(timeline),
        now,
        now,
    )

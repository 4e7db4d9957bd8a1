"""Position pings: validate, store the trail, upsert latest positions, run stop geofences.

A batch of messages (channel "position", already row-locked by the pipeline) is handled with a
constant number of queries however many pings it holds: one reference lookup, one bulk insert
of the trail, one upsert of latest positions, one read and one bulk update of stops, one
events_record call and one bulk update of the messages.

Counters on each message: events_parsed = pings in the body, events_applied = pings stored,
events_held = pings whose reference matched no shipment (kept only in the raw body; a replay
after the shipment exists applies them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg2.extras import execute_values

from integrations import geo
from integrations.models import (
    FINISHED_STATUSES,
    DeadLetter,
    InboundMessage,
    IngestPolicy,
    MessageStatus,
    PositionPing,
    Stop,
    StopState,
)
from integrations.parsers.base import ParseError
from integrations.pipeline import STAGE_INTAKE, STAGE_PARSE, register_channel_processor
from integrations.positions.parse import Ping, ping_validate, pings_from_body
from integrations.selectors import SenderScope
from shipments.models import Classifier, Shipment, SourceKind
from shipments.selectors import shipment_ids_by_reference_values
from shipments.services import NewEvent, events_record
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import DomainError
from tenancy.models import User
from tenancy.text import check_text

GEOFENCE_SOURCE = "geofence"


@dataclass
class _Outcome:
    parsed: int = 0
    applied: int = 0
    held: int = 0
    fatal: str = ""


def process_position_messages(messages: list[InboundMessage], *, force: bool = False) -> None:
    """Pipeline channel processor for "position" messages (already locked by the caller)."""
    if not messages:
        return
    refused = set(
        DeadLetter.objects.filter(
            message_id__in=[m.pk for m in messages], stage=STAGE_INTAKE
        ).values_list("message_id", flat=True)
    )
    messages = [
        m for m in messages if m.pk not in refused and (force or m.status not in FINISHED_STATUSES)
    ]
    if not messages:
        return
    now = timezone.now()
    outcomes = {m.pk: _Outcome() for m in messages}
    errors: list[tuple[InboundMessage, ParseError]] = []
    pings: list[Ping] = []
    for message in messages:
        message.attempts += 1
        try:
            items = pings_from_body(bytes(message.body))
        except ParseError as error:
            outcomes[message.pk].fatal = str(error)
            errors.append((message, error))
            continue
        outcomes[message.pk].parsed = len(items)
        for index, item in enumerate(items):
            try:
                pings.append(ping_validate(item, index, message, now))
            except ParseError as error:
                errors.append((message, error))

    found = shipment_ids_by_reference_values(
        {p.reference for p in pings if p.reference}
        | {p.vehicle_ref for p in pings if p.vehicle_ref}
    )
    scope = SenderScope(messages, {s for ids in found.values() for s in ids})
    rows = _trail_rows(pings, found, scope, outcomes, now)
    # Re-processing (a replay) replaces what this message stored before: idempotent.
    PositionPing.objects.filter(message_id__in=[m.pk for m in messages]).delete()
    PositionPing.objects.bulk_create(rows, batch_size=5000)
    _upsert_latest(rows)
    _geofence(rows)
    _dead_letters(errors)
    _finish(messages, outcomes, errors, now)


def _trail_rows(
    pings: list[Ping],
    found: dict[str, set[int]],
    scope: SenderScope,
    outcomes: dict[int, _Outcome],
    now: datetime,
) -> list[PositionPing]:
    rows: list[PositionPing] = []
    tenant_id = current_tenant_id()
    for ping in pings:
        shipment_ids = found.get(ping.reference) or found.get(ping.vehicle_ref) or set()
        shipment_ids = scope.allowed(ping.message, shipment_ids)
        if not shipment_ids and not ping.vehicle_ref:
            outcomes[ping.message.pk].held += 1  # unknown reference: nothing to attach it to
            continue
        targets = sorted(shipment_ids) or [None]
        for shipment_id in targets:
            rows.append(
                PositionPing(
                    tenant_id=tenant_id,
                    message=ping.message,
                    shipment_id=shipment_id,
                    vehicle_ref=ping.vehicle_ref,
                    lat=ping.lat,
                    lon=ping.lon,
                    at=ping.at,
                    received_at=now,
                    speed_kmh=ping.speed_kmh,
                    heading=ping.heading,
                    accuracy_m=ping.accuracy_m,
                )
            )
        outcomes[ping.message.pk].applied += 1
    return rows


def _upsert_latest(rows: list[PositionPing]) -> None:
    """INSERT … ON CONFLICT DO UPDATE WHERE newer, one row per subject, one statement."""
    newest: dict[tuple[str, str], PositionPing] = {}
    for row in rows:
        subjects = []
        if row.shipment_id is not None:
            subjects.append(("shipment", str(row.shipment_id)))
        if row.vehicle_ref:
            subjects.append(("vehicle", row.vehicle_ref))
        for subject in subjects:
            current = newest.get(subject)
            if current is None or row.at > current.at:
                newest[subject] = row
    if not newest:
        return
    tenant_id = current_tenant_id()
    values = [
        (
            tenant_id,
            kind,
            subject,
            row.shipment_id if kind == "shipment" else None,
            row.vehicle_ref,
            row.lat,
            row.lon,
            row.at,
        )
        for (kind, subject), row in sorted(newest.items())
    ]
    sql = (
        "INSERT INTO integrations_latestposition "
        "(tenant_id, subject_kind, subject, shipment_id, vehicle_ref, lat, lon, at) VALUES %s "
        "ON CONFLICT (tenant_id, subject_kind, subject) DO UPDATE SET "
        "shipment_id = EXCLUDED.shipment_id, vehicle_ref = EXCLUDED.vehicle_ref, "
        "lat = EXCLUDED.lat, lon = EXCLUDED.lon, at = EXCLUDED.at "
        "WHERE EXCLUDED.at > integrations_latestposition.at"
    )
    with connection.cursor() as cursor:
        execute_values(cursor.cursor, sql, values, page_size=len(values))


# --- geofences ----------------------------------------------------------------------------------


def _last_transition(stop: Stop) -> datetime | None:
    times = [t for t in (stop.approaching_at, stop.entered_at, stop.left_at) if t]
    return max(times) if times else None


def _geofence(rows: list[PositionPing]) -> None:
    by_shipment: dict[int, list[PositionPing]] = defaultdict(list)
    for row in rows:
        if row.shipment_id is not None:
            by_shipment[row.shipment_id].append(row)
    if not by_shipment:
        return
    stops = list(Stop.objects.filter(shipment_id__in=list(by_shipment)).order_by("pk"))
    if not stops:
        return
    events: list[NewEvent] = []
    changed: list[Stop] = []
    for stop in stops:
        before = (stop.state, stop.approaching_at, stop.entered_at, stop.left_at)
        trail = sorted(by_shipment[stop.shipment_id], key=lambda r: (r.at, r.pk or 0))
        for ping in trail:
            last = _last_transition(stop)
            if last is not None and ping.at <= last:
                continue  # late ping: older than what the stop already knows
            event = _step(stop, ping)
            if event is not None:
                events.append(event)
        if (stop.state, stop.approaching_at, stop.entered_at, stop.left_at) != before:
            changed.append(stop)
    if events:
        events_record(events=events, refresh=True)
    if changed:
        Stop.objects.bulk_update(changed, ["state", "approaching_at", "entered_at", "left_at"])


def _event(stop: Stop, ping: PositionPing, milestone: str, kind: str, **extra) -> NewEvent:
    return NewEvent(
        shipment_id=stop.shipment_id,
        milestone=milestone,
        occurred_at=extra.pop("occurred_at", ping.at),
        classifier=extra.pop("classifier", Classifier.ACTUAL),
        source_kind=SourceKind.INTEGRATION,
        source_name=GEOFENCE_SOURCE,
        dedupe_key=f"geofence:{stop.pk}:{kind}",
        location=f"{stop.name}"[:200],
        inbound_message_id=ping.message_id,
        details={
            "geofence": {
                "stop_id": stop.pk,
                "stop": stop.name,
                "transition": kind,
                "ping": {"lat": ping.lat, "lon": ping.lon, "at": ping.at.isoformat()},
                **extra,
            }
        },
    )


def _step(stop: Stop, ping: PositionPing) -> NewEvent | None:
    """Advance the stop's state machine by one ping; the event it causes, if any."""
    distance = geo.haversine_m(ping.lat, ping.lon, stop.lat, stop.lon)
    if distance <= stop.radius_m:
        if stop.state in (StopState.OUTSIDE, StopState.APPROACHING):
            stop.state = StopState.INSIDE
            stop.entered_at = ping.at
            return _event(stop, ping, stop.arrive_milestone, "arrive", distance_m=round(distance))
        return None
    if stop.state == StopState.INSIDE:
        stop.state = StopState.LEFT
        stop.left_at = ping.at
        return _event(stop, ping, stop.depart_milestone, "depart", distance_m=round(distance))
    if stop.state == StopState.OUTSIDE and distance <= stop.arriving_soon_m:
        stop.state = StopState.APPROACHING
        stop.approaching_at = ping.at
        estimate = geo.eta(ping.at, distance - stop.radius_m, ping.speed_kmh)
        if estimate is None:
            return None  # arriving soon is flagged on the stop; no speed, no estimate
        return _event(
            stop,
            ping,
            stop.arrive_milestone,
            "approach",
            occurred_at=estimate,
            classifier=Classifier.ESTIMATED,
            distance_m=round(distance),
            speed_kmh=ping.speed_kmh,
        )
    return None


# --- outcome ------------------------------------------------------------------------------------


def _dead_letters(errors: list[tuple[InboundMessage, ParseError]]) -> None:
    """One unresolved dead letter per (message, reason, position): deduplicated set-based."""
    if not errors:
        return
    existing = set(
        DeadLetter.objects.filter(
            message_id__in={m.pk for m, _ in errors}, resolved_at__isnull=True
        ).values_list("message_id", "reason", "position")
    )
    new: list[DeadLetter] = []
    for message, error in errors:
        key = (message.pk, error.reason, (error.position or "")[:200])
        if key in existing:
            continue
        existing.add(key)
        new.append(
            DeadLetter(
                tenant_id=message.tenant_id,
                message=message,
                reason=error.reason,
                position=key[2],
                unit=(error.unit or "")[:200],
                stage=STAGE_PARSE,
            )
        )
    DeadLetter.objects.bulk_create(new)


def _finish(
    messages: list[InboundMessage],
    outcomes: dict[int, _Outcome],
    errors: list[tuple[InboundMessage, ParseError]],
    now: datetime,
) -> None:
    first_error: dict[int, str] = {}
    for message, error in errors:
        first_error.setdefault(message.pk, str(error))
    for message in messages:
        outcome = outcomes[message.pk]
        message.format = "position"
        message.events_parsed = outcome.parsed
        message.events_applied = outcome.applied
        message.events_held = outcome.held
        message.processed_at = now
        message.last_error = first_error.get(message.pk, "")[:2000]
        if outcome.fatal or (message.pk in first_error and outcome.applied + outcome.held == 0):
            message.status = MessageStatus.DEAD
        elif message.pk in first_error:
            message.status = MessageStatus.PARTIALLY_FAILED
        else:
            message.status = MessageStatus.PROCESSED
    InboundMessage.objects.bulk_update(messages, ["attempts", *InboundMessage.OUTCOME_FIELDS])


# --- stops (ops) --------------------------------------------------------------------------------


class StopInvalid(DomainError):
    """A stop of a stops list is unusable; ``field`` names it (e.g. ``stops[2].lat``)."""

    code = "invalid_stop"

    def __init__(self, message: str, *, field: str):
        super().__init__(f"{field}: {message}", field=field)
        self.fields = {field: [message]}


def _stop_defaults() -> tuple[int, int]:
    policy = IngestPolicy.objects.first()
    if policy is None:
        return Stop._meta.get_field("radius_m").default, Stop._meta.get_field(
            "arriving_soon_m"
        ).default
    return policy.default_stop_radius_m, policy.arriving_soon_m


def _positive_int(item: dict, name: str, default: int, where: str) -> int:
    value = item.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise StopInvalid(f"{name} must be a whole number of metres (1..1000000)", field=where)
    return value


def stops_set(
    *, shipment: Shipment, stops: Any, known: set[str], actor: User | None = None
) -> list[Stop]:
    """Replace a shipment's stops (states start over); radii default from IngestPolicy."""
    if not isinstance(stops, list) or len(stops) > 100:
        raise StopInvalid("send a list of at most 100 stops", field="stops")
    radius_default, soon_default = _stop_defaults()
    built: list[Stop] = []
    for index, item in enumerate(stops):
        where = f"stops[{index}]"
        if not isinstance(item, dict):
            raise StopInvalid("a stop must be an object", field=where)
        name = item.get("name")
        check_text(name, f"{where}.name")
        if not isinstance(name, str) or not name.strip() or len(name) > 120:
            raise StopInvalid("name is required (at most 120 characters)", field=f"{where}.name")
        if not geo.valid_lat(item.get("lat")):
            raise StopInvalid("lat must be a number between -90 and 90", field=f"{where}.lat")
        if not geo.valid_lon(item.get("lon")):
            raise StopInvalid("lon must be a number between -180 and 180", field=f"{where}.lon")
        radius = _positive_int(item, "radius_m", radius_default, f"{where}.radius_m")
        soon = _positive_int(
            item, "arriving_soon_m", max(soon_default, radius), f"{where}.arriving_soon_m"
        )
        if soon < radius:
            raise StopInvalid(
                "arriving_soon_m must not be smaller than radius_m",
                field=f"{where}.arriving_soon_m",
            )
        milestones = {}
        for key, default in (("arrive_milestone", "arrived"), ("depart_milestone", "departed")):
            value = item.get(key) or default
            if value not in known:
                raise StopInvalid(f"unknown milestone {value!r}", field=f"{where}.{key}")
            milestones[key] = value
        built.append(
            Stop(
                shipment=shipment,
                sequence=index + 1,
                name=name.strip(),
                lat=float(item["lat"]),
                lon=float(item["lon"]),
                radius_m=radius,
                arriving_soon_m=soon,
                **milestones,
            )
        )
    with transaction.atomic():
        Stop.objects.filter(shipment=shipment).delete()
        for stop in built:
            stop.save()
        audit_record(
            action="shipment.stops",
            target_type="shipment",
            target_id=shipment.pk,
            actor=actor,
            changes={"stops": [[s.name, s.lat, s.lon, s.radius_m] for s in built]},
        )
    return built


register_channel_processor("position", process_position_messages)

"""Lifecycle of an exception by people: acknowledge, assign (a user or a role), resolve with a
note. Every step is audited; a resolution is announced like an automatic one (outbox, live
update, the workflow hooks). Detection (opening, re-detecting, auto-resolving) lives in
``integrations.exceptions.detection``.

Corridors: ``corridor_publish`` replaces the planned polyline the route-deviation check
compares positions with (called by the planner, portal.routing, whenever a route's order is
saved); ``corridor_clear`` drops it (the check falls back to origin→destination)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from integrations.exceptions import detection
from integrations.exceptions.models import (
    CorridorPoint,
    ExceptionStatus,
    PlannedCorridor,
    ShipmentException,
)
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError
from tenancy.models import ApiKey, Membership, Role, User

MAX_NOTE = 2000


def _change(x: ShipmentException) -> detection.Change:
    return detection.Change(
        kind="resolved",
        id=x.pk,
        public_id=x.public_id,
        type=x.type,
        shipment_id=x.shipment_id,
        milestone=x.milestone,
        severity=x.severity,
    )


def _unresolved(exception: ShipmentException) -> ShipmentException:
    locked = ShipmentException.objects.select_for_update().get(pk=exception.pk)
    if locked.status == ExceptionStatus.RESOLVED:
        raise Conflict("This exception is resolved already.", code="exception_resolved")
    return locked


@transaction.atomic
def exception_acknowledge(
    *, exception: ShipmentException, actor: User | None = None, api_key: ApiKey | None = None
) -> ShipmentException:
    x = _unresolved(exception)
    now = timezone.now()
    if x.status == ExceptionStatus.OPEN:
        x.status = ExceptionStatus.ACKNOWLEDGED
    x.acknowledged_at = x.acknowledged_at or now
    x.updated_at = now
    x.save(update_fields=["status", "acknowledged_at", "updated_at"])
    audit_record(
        action="exception.acknowledged",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"status": x.status},
    )
    return x


@transaction.atomic
def exception_assign(
    *,
    exception: ShipmentException,
    user_id: int | None = None,
    role: str | None = None,
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ShipmentException:
    """To a member of the tenant (``user_id``) or a role; exactly one of them."""
    if (user_id is None) == (not role):
        raise DomainError("Assign to a user or to a role.", code="invalid", field="user")
    if role and (role not in Role.values or role == Role.CUSTOMER):
        raise DomainError("Unknown staff role.", code="invalid", field="role")
    if (
        user_id is not None
        and not Membership.objects.filter(user_id=user_id, is_active=True)
        .exclude(role=Role.CUSTOMER)
        .exists()
    ):
        raise DomainError("Not a member of this tenant.", code="invalid", field="user")
    x = _unresolved(exception)
    now = timezone.now()
    x.status = ExceptionStatus.ASSIGNED
    x.assignee_user_id = user_id
    x.assignee_role = role or ""
    x.acknowledged_at = x.acknowledged_at or now
    x.updated_at = now
    x.save(
        update_fields=["status", "assignee_user", "assignee_role", "acknowledged_at", "updated_at"]
    )
    audit_record(
        action="exception.assigned",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"user": user_id, "role": role or ""},
    )
    return x


@transaction.atomic
def exception_resolve(
    *,
    exception: ShipmentException,
    note: str,
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ShipmentException:
    note = (note or "").strip()
    if not note:
        raise DomainError("Say how it was resolved.", code="invalid", field="note")
    if len(note) > MAX_NOTE or "\x00" in note:
        raise DomainError(f"At most {MAX_NOTE} characters.", code="invalid", field="note")
    x = _unresolved(exception)
    now = timezone.now()
    x.status = ExceptionStatus.RESOLVED
    x.resolved_at = now
    x.updated_at = now
    x.resolution_note = note
    x.save(update_fields=["status", "resolved_at", "updated_at", "resolution_note"])
    audit_record(
        action="exception.resolved",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"auto": False},
        reason=note,
    )
    detection.announce(x.tenant_id, [_change(x)])
    return x


# --- planned corridors ------------------------------------------------------------------------

MAX_CORRIDOR_POINTS = 2000


@dataclass(frozen=True)
class CorridorVertex:
    lat: float
    lon: float
    shipment_id: int | None = None  # the stop's shipment (none for the start)


def _valid(vertex: CorridorVertex, index: int) -> None:
    lat, lon = vertex.lat, vertex.lon
    if not (
        isinstance(lat, int | float)
        and isinstance(lon, int | float)
        and math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    ):
        raise DomainError(
            "A corridor point needs a latitude and a longitude.",
            code="invalid",
            field=f"points[{index}]",
        )


@transaction.atomic
def corridor_publish(
    *,
    key: str,
    points: Sequence[CorridorVertex],
    start: tuple[float | None, float | None] | None = None,
    vehicle_ref: str = "",
) -> PlannedCorridor:
    """Replace the corridor ``key`` (the current tenant's) with ``start`` (when both its
    coordinates are known) followed by ``points``, the planned stops in order. The shipments
    named by the points are measured against its legs by the sweep from now on, with the newer
    of their own position and ``vehicle_ref``'s. Fewer than two points in all (no leg) clears
    it. A handful of statements, whatever the number of points."""
    if start is not None and start[0] is not None and start[1] is not None:
        points = [CorridorVertex(start[0], start[1]), *points]
    if not key or len(key) > 60:
        raise DomainError("A corridor needs a key of 1-60 characters.", code="invalid", field="key")
    if len(points) > MAX_CORRIDOR_POINTS:
        raise DomainError(
            f"At most {MAX_CORRIDOR_POINTS} corridor points.", code="invalid", field="points"
        )
    for index, vertex in enumerate(points):
        _valid(vertex, index)
    if len(points) < 2:
        corridor_clear(key=key)
        return PlannedCorridor(key=key, vehicle_ref=vehicle_ref)
    corridor, _ = PlannedCorridor.objects.update_or_create(
        key=key,
        defaults={
            "vehicle_ref": vehicle_ref[:60],
            "planned_at": timezone.now(),
        },
    )
    CorridorPoint.objects.filter(corridor=corridor).delete()
    tenant_id = current_tenant_id()
    CorridorPoint.objects.bulk_create(
        CorridorPoint(
            tenant_id=tenant_id,
            corridor=corridor,
            sequence=index,
            lat=float(vertex.lat),
            lon=float(vertex.lon),
            shipment_id=vertex.shipment_id,
        )
        for index, vertex in enumerate(points)
    )
    return corridor


def corridor_clear(*, key: str) -> None:
    PlannedCorridor.objects.filter(key=key).delete()

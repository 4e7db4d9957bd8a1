"""Reads of the positions channel: a shipment's stops, its latest position and its trail."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from integrations.models import LatestPosition, PositionPing, Stop
from shipments.models import Shipment

TRAIL_LIMIT = 1000


def stop_list(*, shipment: Shipment) -> QuerySet[Stop]:
    return Stop.objects.filter(shipment=shipment).order_by("sequence")


def latest_position(*, shipment: Shipment) -> LatestPosition | None:
    return LatestPosition.objects.filter(subject_kind="shipment", subject=str(shipment.pk)).first()


def position_trail(
    *, shipment: Shipment, since: datetime | None = None, limit: int = TRAIL_LIMIT
) -> tuple[list[PositionPing], bool]:
    """(pings oldest first, truncated): the ``limit`` after ``since``, else the latest ones."""
    pings = PositionPing.objects.filter(shipment=shipment)
    if since is not None:
        trail = list(pings.filter(at__gt=since).order_by("at", "id")[: limit + 1])
        return trail[:limit], len(trail) > limit
    trail = list(pings.order_by("-at", "-id")[: limit + 1])
    return trail[:limit][::-1], len(trail) > limit

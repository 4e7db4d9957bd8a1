"""Reads of routes for the dispatcher's pages (portal.ops.views_routes) and the driver page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Prefetch, Q

from integrations.models import LatestPosition
from portal.routing.models import Route, RouteStop, StopStatus
from shipments.models import ShipmentReference


@dataclass(frozen=True)
class StopRow:
    stop: RouteStop
    reference: str
    movable: bool  # pending: a dispatcher may move it (visited stops stay first)


def routes_of_day(*, day: date) -> list[Route]:
    """The tenant's routes of that day, by driver, with their stops in order (the stops'
    shipments and references fetched in three more queries, whatever the count)."""
    stops = RouteStop.objects.select_related("shipment").order_by("sequence", "id")
    return list(
        Route.objects.filter(day=day)
        .select_related("driver")
        .annotate(
            done_count=Count("stops", filter=~Q(stops__status=StopStatus.PENDING)),
            stop_count=Count("stops"),
        )
        .prefetch_related(
            Prefetch("stops", queryset=stops, to_attr="ordered_stops"),
            Prefetch(
                "ordered_stops__shipment__references",
                queryset=ShipmentReference.objects.exclude(kind="milepost").order_by("pk"),
                to_attr="shown_references",
            ),
        )
        .order_by("driver__email", "pk")
    )


def route_by_id(*, route_id: int) -> Route | None:
    """One route of the current tenant (another tenant's id finds nothing, like a missing one)."""
    return Route.objects.filter(pk=route_id).select_related("driver").first()


def route_stop_rows(*, route: Route) -> list[StopRow]:
    stops = list(
        RouteStop.objects.filter(route=route)
        .select_related("shipment")
        .prefetch_related(
            Prefetch(
                "shipment__references",
                queryset=ShipmentReference.objects.exclude(kind="milepost").order_by("pk"),
                to_attr="shown_references",
            )
        )
        .order_by("sequence", "id")
    )
    return [stop_row(s) for s in stops]


def stop_row(stop: RouteStop) -> StopRow:
    refs = getattr(stop.shipment, "shown_references", None) or []
    return StopRow(
        stop=stop,
        reference=refs[0].value if refs else stop.shipment.public_id,
        movable=stop.status == StopStatus.PENDING,
    )


def vehicle_position(*, route: Route) -> dict | None:
    """The route vehicle's latest fix (the driver page draws it), or None."""
    if not route.vehicle_ref:
        return None
    latest = (
        LatestPosition.objects.filter(subject_kind="vehicle", subject=route.vehicle_ref)
        .order_by("-at")
        .first()
    )
    if latest is None:
        return None
    return {"lat": latest.lat, "lon": latest.lon, "at": latest.at.isoformat()}

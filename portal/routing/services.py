"""Writes of routes: add stops, sequence them with the solver, re-order by hand, follow scans.

ETAs: each pending stop's arrival follows from the sequence, driven from the driver's latest
position (else the route's start) with the road model of portal.routing.solver; they are
recomputed when the route is sequenced or re-ordered, when a scan changes a stop's shipment
(shipments.hooks.on_timeline_changed) and when the driver page sends a position.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from integrations.exceptions.services import CorridorVertex, corridor_publish
from integrations.models import LatestPosition
from portal.routing import solver
from portal.routing.models import Route, RouteStop, StopStatus
from shipments.models import Shipment
from shipments.zones import zone_named
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import DomainError, NotFound
from tenancy.models import Tenant, User

DONE_MILESTONES = {"delivery": ("delivered", "proof_of_delivery"), "pickup": ("picked_up",)}
FAILED_MILESTONES = ("failed_delivery",)


class RouteError(DomainError):
    code = "invalid_route"
    status = 400


def route_for(*, driver: User, day: datetime | None = None, vehicle_ref: str = "") -> Route:
    """The driver's route of the day ``day`` (default now) falls on where the tenant works: the
    dispatcher's page lists the tenant's local day, so between midnight there and midnight UTC
    a route keyed by the UTC date was missing from "today" (found by a test run at 23:30 UTC)."""
    day_date = tenant_day(day)
    route, _ = Route.objects.get_or_create(
        driver=driver, day=day_date, defaults={"vehicle_ref": vehicle_ref or f"driver-{driver.pk}"}
    )
    return route


def tenant_day(at: datetime | None = None) -> date:
    """The current tenant's local date at ``at`` (default now): what "a route of the day" means."""
    return timezone.localtime(at or timezone.now(), _tenant_zone()).date()


def _tenant_zone() -> ZoneInfo:
    name = Tenant.objects.filter(pk=current_tenant_id()).values_list("timezone", flat=True).first()
    return zone_named(name or "UTC")


def stop_add(
    *,
    route: Route,
    shipment: Shipment,
    kind: str = "delivery",
    lat: float | None = None,
    lon: float | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    service_s: int = 180,
) -> RouteStop:
    """A stop of the shipment on the route, at its destination (delivery) or origin (pickup)
    coordinates, else the registry place of that end."""
    end = "destination" if kind == "delivery" else "origin"
    if lat is None or lon is None:
        lat, lon = _coordinates(shipment, end)
    if lat is None or lon is None:
        raise RouteError("The shipment has no coordinates for this stop.", field="lat")
    return RouteStop.objects.create(
        route=route,
        shipment=shipment,
        kind=kind,
        sequence=route.stops.count() + 1,
        name=shipment.consignee_name if kind == "delivery" else shipment.shipper_name,
        address=getattr(shipment, f"{end}_address"),
        lat=lat,
        lon=lon,
        window_start=window_start,
        window_end=window_end,
        service_s=service_s,
    )


def _coordinates(shipment: Shipment, end: str) -> tuple[float | None, float | None]:
    lat, lon = getattr(shipment, f"{end}_lat"), getattr(shipment, f"{end}_lon")
    if lat is not None and lon is not None:
        return lat, lon
    place = getattr(shipment, f"{end}_place", None)
    if place is not None and place.latitude is not None:
        return place.latitude, place.longitude
    return None, None


def driver_start(route: Route) -> tuple[solver.Point, datetime]:
    """Where and when the driver goes on from: the latest position, else the route's start,
    else the first stop."""
    now = timezone.now()
    latest = (
        LatestPosition.objects.filter(subject_kind="vehicle", subject=route.vehicle_ref)
        .order_by("-at")
        .first()
        if route.vehicle_ref
        else None
    )
    if latest is not None:
        return solver.Point(latest.lat, latest.lon), max(now, latest.at)
    if route.start_lat is not None and route.start_lon is not None:
        return solver.Point(route.start_lat, route.start_lon), max(now, route.start_at or now)
    first = route.stops.order_by("sequence").first()
    if first is None:
        return solver.Point(0, 0), now
    return solver.Point(first.lat, first.lon), now


@transaction.atomic
def route_sequence(*, route: Route, actor: User | None = None) -> list[RouteStop]:
    """Order the pending stops with the solver (done ones keep their place first)."""
    stops = list(route.stops.select_for_update().order_by("sequence", "id"))
    done = [s for s in stops if s.status != StopStatus.PENDING]
    pending = [s for s in stops if s.status == StopStatus.PENDING]
    start, zero = driver_start(route)
    jobs = [
        solver.Job(
            key=s.pk, at=solver.Point(s.lat, s.lon), service_s=s.service_s, window=_window(s, zero)
        )
        for s in pending
    ]
    plan = solver.solve([solver.Vehicle(key=route.pk, start=start)], jobs)
    by_pk = {s.pk: s for s in pending}
    ordered = done + [by_pk[k] for k in plan.routes[route.pk]]
    _renumber(ordered)
    route.sequenced_at = timezone.now()
    route.sequenced_by = "solver"
    route.planned_km = round(plan.km, 2)
    route.save(update_fields=["sequenced_at", "sequenced_by", "planned_km"])
    etas_recompute(route=route)
    audit_record(
        action="route.sequence",
        target_type="route",
        target_id=route.pk,
        actor=actor,
        changes={"stops": [s.pk for s in ordered], "km": route.planned_km},
    )
    return ordered


def _window(stop: RouteStop, zero: datetime) -> tuple[int, int] | None:
    if stop.window_start is None and stop.window_end is None:
        return None
    start = max(0, int(((stop.window_start or zero) - zero).total_seconds()))
    end = int(((stop.window_end or zero + timedelta(days=1)) - zero).total_seconds())
    return (start, end) if end > start else None


def _renumber(stops: Sequence[RouteStop]) -> None:
    for index, stop in enumerate(stops, start=1):
        stop.sequence = index
    RouteStop.objects.bulk_update(stops, ["sequence"])
    if stops:
        # The planned order is the corridor route deviation measures positions against.
        route = stops[0].route
        corridor_publish(
            key=f"route:{route.pk}",
            vehicle_ref=route.vehicle_ref,
            start=(route.start_lat, route.start_lon),
            points=[CorridorVertex(s.lat, s.lon, s.shipment_id) for s in stops],
        )


@transaction.atomic
def route_reorder(
    *, route: Route, stop_ids: Sequence[int], actor: User | None = None
) -> list[RouteStop]:
    """A dispatcher's order: every stop of the route exactly once."""
    stops = {s.pk: s for s in route.stops.select_for_update()}
    if sorted(stop_ids) != sorted(stops) or len(set(stop_ids)) != len(stop_ids):
        raise RouteError("Name every stop of the route exactly once.", field="stop_ids")
    ordered = [stops[pk] for pk in stop_ids]
    _renumber(ordered)
    route.sequenced_at = timezone.now()
    route.sequenced_by = "dispatcher"
    start, _ = driver_start(route)
    route.planned_km = round(
        solver.route_km(start, [solver.Point(s.lat, s.lon) for s in ordered]), 2
    )
    route.save(update_fields=["sequenced_at", "sequenced_by", "planned_km"])
    etas_recompute(route=route)
    audit_record(
        action="route.reorder",
        target_type="route",
        target_id=route.pk,
        actor=actor,
        changes={"stops": list(stop_ids)},
    )
    return ordered


def etas_recompute(*, route: Route, start: tuple[solver.Point, datetime] | None = None) -> None:
    """Each pending stop's ETA from the driver's latest position (or ``start``: a fix that
    has just arrived) along the sequence."""
    point, zero = start or driver_start(route)
    pending = list(route.stops.filter(status=StopStatus.PENDING).order_by("sequence", "id"))
    arrivals = solver.etas(point, 0, [(solver.Point(s.lat, s.lon), s.service_s) for s in pending])
    for stop, seconds in zip(pending, arrivals, strict=True):
        eta = zero + timedelta(seconds=seconds)
        if stop.window_start and eta < stop.window_start:
            eta = stop.window_start  # the driver waits for the window to open
        stop.eta = eta
    RouteStop.objects.bulk_update(pending, ["eta"])


def stops_follow_timelines(shipment_ids: list[int]) -> None:
    """Hook: mark the stops of these shipments done/failed from their timelines and
    recompute the ETAs of the routes touched. One query when none of them is routed."""
    stops = list(
        RouteStop.objects.filter(
            shipment_id__in=shipment_ids, status=StopStatus.PENDING
        ).select_related("shipment", "route")
    )
    if not stops:
        return
    routes: dict[int, Route] = {}
    for stop in stops:
        completed = set((stop.shipment.timeline or {}).get("completed") or [])
        status = stop.shipment.status
        if completed & set(DONE_MILESTONES.get(stop.kind, ())):
            stop.status = StopStatus.DONE
        elif stop.kind == "delivery" and status == "failed_delivery":
            stop.status = StopStatus.FAILED
        else:
            continue
        stop.done_at = timezone.now()
        stop.save(update_fields=["status", "done_at"])
        routes[stop.route_id] = stop.route
    for route in routes.values():
        etas_recompute(route=route)


def route_get(*, route_id: int) -> Route:
    route = Route.objects.filter(pk=route_id).first()
    if route is None:
        raise NotFound("No such route.")
    return route


# --- The dispatcher's page (portal.ops.views_routes): checked orders, live pushes. ---


def route_order_check(*, route: Route, stop_ids: Sequence[int]) -> None:
    """A dispatcher's order must name every stop of the route exactly once, and the stops
    already visited (done or failed) stay first, in the order they were visited: only the
    pending stops can be moved."""
    stops = list(route.stops.order_by("sequence", "id"))
    if len(set(stop_ids)) != len(stop_ids) or sorted(stop_ids) != sorted(s.pk for s in stops):
        raise RouteError("Name every stop of the route exactly once.", field="stop_ids")
    visited = [s.pk for s in stops if s.status != StopStatus.PENDING]
    if list(stop_ids[: len(visited)]) != visited:
        raise RouteError(
            "Stops already visited stay first, in the order they were visited.",
            field="stop_ids",
        )


@transaction.atomic
def route_order_set(
    *, route: Route, stop_ids: Sequence[int], actor: User | None = None
) -> list[RouteStop]:
    """Check and save a dispatcher's order (``route_reorder``: sequenced_by "dispatcher",
    ETAs recomputed, audited), then tell the driver's page and the customers' after commit."""
    from portal.routing import live

    locked = Route.objects.select_for_update().get(pk=route.pk)
    route_order_check(route=locked, stop_ids=stop_ids)
    ordered = route_reorder(route=locked, stop_ids=stop_ids, actor=actor)
    live.route_changed_publish(locked)
    route.refresh_from_db()
    return ordered


@transaction.atomic
def route_resequence(*, route: Route, actor: User | None = None) -> list[RouteStop]:
    """The solver's order again (``route_sequence``), pushed live like a dispatcher's."""
    from portal.routing import live

    locked = Route.objects.select_for_update().get(pk=route.pk)
    ordered = route_sequence(route=locked, actor=actor)
    live.route_changed_publish(locked)
    route.refresh_from_db()
    return ordered

"""The dispatcher's pages: the day's routes per driver (/ops/routes/) and one route
(/ops/routes/<id>/) whose pending stops a dispatcher re-orders (drag and drop, or the move
up/down buttons, which also work without JavaScript) or hands back to the solver.

Office roles read; admin and ops (the dispatchers) change the order. Writes go through
portal.routing.services (checked order, ETAs recomputed, audited, pushed to the driver).
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.ops.access import can_change, ops_view, user_of
from portal.routing import selectors, services
from portal.routing.models import Route
from tenancy.errors import DomainError
from tenancy.models import STAFF


def _route_or_404(route_id: int) -> Route:
    route = selectors.route_by_id(route_id=route_id)
    if route is None:
        raise Http404()
    return route


def _day(request: HttpRequest) -> date:
    try:
        return date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localdate()  # ops_view set the tenant's zone


@require_GET
@ops_view()
def route_list(request: HttpRequest) -> HttpResponse:
    day = _day(request)
    routes = selectors.routes_of_day(day=day)
    for route in routes:
        route.rows = [selectors.stop_row(s) for s in route.ordered_stops]  # type: ignore[attr-defined]
    return render(
        request,
        "ops/routes.html",
        {
            "routes": routes,
            "day": day,
            "today": timezone.localdate(),
            "ws_url": settings.OPS_WEBSOCKET_URL or "",
        },
    )


@require_GET
@ops_view()
def route_detail(request: HttpRequest, route_id: int) -> HttpResponse:
    route = _route_or_404(route_id)
    rows = selectors.route_stop_rows(route=route)
    return render(
        request,
        "ops/route_detail.html",
        {
            "route": route,
            "rows": rows,
            "can_change": can_change(request),
            "late": sum(1 for r in rows if r.stop.late and r.movable),
            "ws_url": settings.OPS_WEBSOCKET_URL or "",
        },
    )


def _moved(order: list[int], move: str) -> list[int]:
    """The no-JavaScript move buttons: ``<stop id>:up`` or ``:down`` applied to ``order``."""
    stop_id, _sep, direction = move.partition(":")
    if not stop_id.isdigit() or int(stop_id) not in order or direction not in ("up", "down"):
        raise services.RouteError(_("Unknown move."), field="move")
    index = order.index(int(stop_id))
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


@require_POST
@ops_view(STAFF)
def route_order(request: HttpRequest, route_id: int) -> HttpResponse:
    route = _route_or_404(route_id)
    raw = request.POST.getlist("stop")
    try:
        if not all(value.isdigit() for value in raw):
            raise services.RouteError(_("Stops are named by their ids."), field="stop")
        order = [int(value) for value in raw]
        if move := request.POST.get("move", ""):
            order = _moved(order, move)
        services.route_order_set(route=route, stop_ids=order, actor=user_of(request))
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Order saved; the ETAs are recomputed and the driver has it."))
    return redirect(reverse("ops-route", args=[route.pk]))


@require_POST
@ops_view(STAFF)
def route_resequence(request: HttpRequest, route_id: int) -> HttpResponse:
    route = _route_or_404(route_id)
    try:
        services.route_resequence(route=route, actor=user_of(request))
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Re-sequenced by the solver; the driver has the new order."))
    return redirect(reverse("ops-route", args=[route.pk]))

"""The driver page (/driver/): today's stops, scanning, POD, an offline queue (PWA).

Field roles only (tenancy.models.FIELD: drivers, and ops/admins who stand in); anyone else
gets the same 404 as a missing page. Writes go through portal.driver.services.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from integrations.scans.parse import MAX_ATTACHMENT_BYTES, Upload
from portal.driver import services
from portal.routing import selectors as routing_selectors
from portal.routing import services as routing
from portal.routing.models import RouteStop, StopStatus
from portal.tracking import services as portal_services
from portal.tracking.i18n import pick_locale
from portal.tracking.views import branding
from tenancy.errors import DomainError
from tenancy.models import FIELD, Tenant

# Every word the page shows is translated (locale/de): the template's through {% translate %},
# the script's through WORDS, rendered into the page as JSON (no catalogue request: the page
# must work offline from the service worker's cache).
STATE_LABELS = {
    "on_time": _("On time"),
    "delayed": _("Delayed"),
    "not_visited": _("Not visited"),
    "done": _("Done"),
    "failed": _("Failed"),
}
KIND_LABELS = {"pickup": _("Pickup"), "delivery": _("Delivery")}
REASON_LABELS = {
    "not_home": _("Nobody at home"),
    "refused": _("Refused by the recipient"),
    "address_wrong": _("Wrong address"),
    "no_access": _("No access"),
    "damaged": _("Damaged"),
    "other": _("Other"),
}
WORDS = {
    "online": pgettext_lazy("network", "online"),
    "offline": pgettext_lazy("network", "offline"),
    "sent": _("Sent:"),
    "waiting": _("waiting"),
    "refused": _("refused"),
    "photo": _("photo"),
    "signature": _("signature"),
    "eta": _("ETA"),
    "window": _("window"),
    "start": _("Start"),
    "you": _("You are here"),
    "stop": _("Stop"),
    "rerouted": _("The dispatcher changed the order of your stops."),
    "actions": {"pickup": _("Pickup"), "delivery": _("Delivery"), "failed": _("Failed")},
}


def driver_locale(request: HttpRequest, tenant: Tenant) -> str:
    """As the portal picks it (portal.tracking.i18n): ?lang=, else the language the user chose
    (the language switch's cookie), else the tenant's locale, else the browser's."""
    return pick_locale(
        requested=request.GET.get("lang", "")
        or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""),
        tenant_locale=tenant.locale,
        accept=request.headers.get("Accept-Language", ""),
    )


def _words() -> dict:
    return {
        k: ({a: str(w) for a, w in v.items()} if isinstance(v, dict) else str(v))
        for k, v in WORDS.items()
    }


def _driver(request: HttpRequest):
    membership = getattr(request, "membership", None)
    if membership is None or membership.role not in FIELD:
        raise Http404
    return membership


def _login(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    return None


def stops_data(request: HttpRequest) -> dict:
    route = routing.route_for(driver=request.user)  # type: ignore[arg-type]
    membership = getattr(request, "membership", None)
    zone = zoneinfo.ZoneInfo(membership.tenant.timezone if membership else "UTC")
    stops = list(route.stops.select_related("shipment").order_by("sequence", "id"))
    rows = []
    for stop in stops:
        if stop.status == StopStatus.DONE:
            state = "done"
        elif stop.status == StopStatus.FAILED:
            state = "failed"
        elif stop.late:
            state = "delayed"
        elif stop.eta is not None:
            state = "on_time"
        else:
            state = "not_visited"
        ref = stop.shipment.references.exclude(kind="milepost").order_by("pk").first()
        rows.append(
            {
                "id": stop.pk,
                "sequence": stop.sequence,
                "kind": stop.kind,
                "kind_label": str(KIND_LABELS.get(stop.kind, stop.kind)),
                "state": state,
                "label": str(STATE_LABELS[state]),
                "name": stop.name,
                "address": stop.address,
                "reference": ref.value if ref else stop.shipment.public_id,
                "shipment": stop.shipment.public_id,
                "lat": stop.lat,
                "lon": stop.lon,
                "eta": timezone.localtime(stop.eta, zone).strftime("%H:%M") if stop.eta else "",
                "window": (
                    f"{timezone.localtime(stop.window_start, zone):%H:%M}\u2013"
                    f"{timezone.localtime(stop.window_end, zone):%H:%M}"
                    if stop.window_start and stop.window_end
                    else ""
                ),
            }
        )
    start = None
    if route.start_lat is not None and route.start_lon is not None:
        start = {"lat": route.start_lat, "lon": route.start_lon}
    return {
        "route": route.pk,
        "km": route.planned_km,
        "stops": rows,
        "start": start,
        "me": routing_selectors.vehicle_position(route=route),
        "sequenced_by": route.sequenced_by,
    }


@never_cache
@require_GET
def driver_page(request: HttpRequest) -> HttpResponse:
    if (redirect := _login(request)) is not None:
        return redirect
    membership = _driver(request)
    locale = driver_locale(request, membership.tenant)
    with translation.override(locale):
        context = {
            "brand": branding(membership.tenant),
            "data": stops_data(request),
            "reasons": [(r, REASON_LABELS.get(r, r)) for r in services.FAILURE_REASONS],
            "words": _words(),
            "map": {
                "tiles": settings.OPS_MAP_TILE_URL,
                "attribution": settings.OPS_MAP_TILE_ATTRIBUTION,
            },
            "locale": locale,
        }
        response = render(request, "driver/index.html", context)
    response["Content-Language"] = locale
    return response


@never_cache
@require_GET
def driver_stops(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        raise Http404
    membership = _driver(request)
    with translation.override(driver_locale(request, membership.tenant)):
        return JsonResponse(stops_data(request))


def _uploads(request: HttpRequest) -> list[Upload]:
    return [
        Upload(
            kind=kind,
            name=f.name or "",
            content_type=f.content_type or "",
            data=f.read(MAX_ATTACHMENT_BYTES + 1),
            size=f.size or 0,
        )
        for kind in ("photo", "signature")
        if (f := request.FILES.get(kind)) is not None
    ]


@require_POST
def driver_scan(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        raise Http404
    _driver(request)
    post = request.POST
    try:
        result = services.driver_scan_record(
            driver=request.user,
            key=request.headers.get("Idempotency-Key", "") or post.get("key", ""),
            action=post.get("action", ""),
            reference=post.get("reference", ""),
            occurred_at=post.get("occurred_at", ""),
            lat=post.get("lat") or None,
            lon=post.get("lon") or None,
            accuracy_m=post.get("accuracy_m") or None,
            recipient_name=post.get("recipient_name", ""),
            reason=post.get("reason", ""),
            uploads=_uploads(request),
        )
    except DomainError as error:
        body = {"error": {"code": error.code, "message": str(error), "fields": error.fields}}
        return JsonResponse(body, status=error.status)
    response = JsonResponse(
        {"id": result.scan.pk, "milestone": result.scan.milestone, "replayed": result.replayed},
        status=200 if result.replayed else 201,
    )
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@require_POST
def driver_position(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        raise Http404
    _driver(request)
    try:
        lat, lon = float(request.POST["lat"]), float(request.POST["lon"])
    except (KeyError, ValueError):
        return JsonResponse(
            {"error": {"code": "invalid_position", "message": "lat, lon"}}, status=400
        )
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return JsonResponse({"error": {"code": "invalid_position", "message": "range"}}, status=400)
    at = parse_datetime(request.POST.get("at", "")) or timezone.now()
    services.driver_position_record(
        driver=request.user, lat=lat, lon=lon, at=min(at, timezone.now())
    )
    return JsonResponse({"ok": True})


@require_POST
def driver_message(request: HttpRequest, stop_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        raise Http404
    _driver(request)
    stop = (
        RouteStop.objects.filter(pk=stop_id, route__driver=request.user)
        .select_related("shipment")
        .first()
    )
    if stop is None:
        raise Http404
    try:
        portal_services.message_post(
            shipment=stop.shipment,
            author_kind="driver",
            body=request.POST.get("body", ""),
            author=request.user,
        )
    except DomainError as error:
        return JsonResponse(
            {"error": {"code": error.code, "message": str(error)}}, status=error.status
        )
    return JsonResponse({"ok": True}, status=201)


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "name": "Milepost Driver",
            "short_name": "Driver",
            "start_url": "/driver/",
            "scope": "/driver/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#0b5fff",
            "icons": [{"src": "/static/driver/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
        },
        content_type="application/manifest+json",
    )


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    response = render(request, "driver/sw.js", content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/driver/"
    response["Cache-Control"] = "no-cache"
    return response

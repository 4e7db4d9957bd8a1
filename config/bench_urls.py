"""The URLconf of the API benchmark's server only (config/bench_wsgi.py): every production URL
plus the floor, a bare Django view. Never mounted in production (config.urls knows nothing of
it)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.urls import urlpatterns as production
from shipments.models import Shipment

FLOOR_ROWS = 30


def floor(request: HttpRequest) -> JsonResponse:
    """One indexed 30-row query as JSON: the cheapest thing the same stack can answer (the
    middleware has already resolved the key and opened the tenant's transaction)."""
    rows = list(
        Shipment.objects.order_by("-booked_at", "-public_id").values(
            "public_id", "status", "mode", "booked_at", "eta", "progress_percent"
        )[:FLOOR_ROWS]
    )
    return JsonResponse({"results": rows})


urlpatterns = [path("bench/floor/", floor, name="bench-floor"), *production]

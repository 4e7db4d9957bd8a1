"""The shipment page's map (Leaflet, fetched only when a driver position is shown) and the
tenant's privacy setting: exact, approximate (~1 km) or none, and only while out for delivery.
The page never holds more than the setting allows, and stays inside its weight budget."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import LatestPosition
from portal.tracking import services
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.portal.conftest import record

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

EXACT = (53.561234, 9.987654)
LEAFLET = Path(django_settings.BASE_DIR) / "static" / "vendor" / "leaflet-1.9.4"


def _full_page(world, mode: str) -> str:
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        services.settings_set(driver_position=mode)
        LatestPosition.objects.update_or_create(
            subject_kind="shipment",
            subject=str(world.a.pk),
            defaults={"shipment": world.a, "lat": EXACT[0], "lon": EXACT[1], "at": timezone.now()},
        )
        _, token = services.share_link_create(shipment=world.a)
    response = Client().get(reverse("track-share", args=[token]))
    assert response.status_code == 200
    return response.content.decode()


def _driver_json(html: str):
    match = re.search(r'<script id="driver-pos" type="application/json">(.*?)</script>', html)
    assert match, "the page carries the driver position as JSON"
    return json.loads(match.group(1))


def _map_card(html: str) -> str:
    match = re.search(r'<section class="card" id="map-card"[^>]*>', html)
    assert match
    return match.group(0)


@covers_url("track-share")
def test_exact_position_on_a_leaflet_map_without_tiles_by_default(world):
    html = _full_page(world, "exact")
    card = _map_card(html)
    assert " hidden" not in card
    assert 'data-js="/static/vendor/leaflet-1.9.4/leaflet.js"' in card
    assert 'data-tiles=""' in card  # no tile server: a plain background
    assert '<div class="map" id="map"' in html and '<svg class="map"' not in html
    assert not re.search(r"<script[^>]+leaflet", html)  # fetched lazily, not with the page
    driver = _driver_json(html)
    assert driver["approximate"] is False
    assert (driver["lat"], driver["lon"]) == (round(EXACT[0], 5), round(EXACT[1], 5))


@covers_url("track-share")
def test_approximate_position_never_reaches_the_page_exactly(world):
    html = _full_page(world, "approximate")
    driver = _driver_json(html)
    assert driver["approximate"] is True
    assert (driver["lat"], driver["lon"]) == (53.56, 9.99)
    for exact in ("53.5612", "9.9876", "53.56123", "9.98765"):
        assert exact not in html
    assert "L.circle(" in html  # drawn as an area, not a point


@covers_url("track-share")
def test_no_position_when_the_setting_is_none_or_not_out_for_delivery(world):
    html = _full_page(world, "none")
    assert _driver_json(html) is None
    assert " hidden" in _map_card(html)
    assert "53.56" not in html and "9.98" not in html
    record(world.personas.tenant, world.a, "delivered", 1)
    html = _full_page(world, "exact")
    assert _driver_json(html) is None and " hidden" in _map_card(html)


@covers_url("track-page")
def test_the_basic_page_has_no_map_and_the_tile_setting_reaches_the_full_one(world, settings):
    acme = world.personas.tenant
    basic = Client().get(reverse("track-page", args=[acme.slug, "ACME123456"])).content.decode()
    assert 'id="map-card"' not in basic and "leaflet.js" not in basic
    settings.OPS_MAP_TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
    settings.OPS_MAP_TILE_ATTRIBUTION = "© Example"
    card = _map_card(_full_page(world, "exact"))
    assert 'data-tiles="https://tiles.example.test/{z}/{x}/{y}.png"' in card
    assert 'data-attribution="© Example"' in card


def test_weight_with_the_map_stays_in_budget(world):
    """README "Customer portal" budget: the page HTML ≤ 60 KB; with the map shown, the page plus
    Leaflet (js + css, gzip as served in production) ≤ 110 KB on the wire."""
    html = _full_page(world, "exact").encode()
    leaflet = sum(
        len(gzip.compress((LEAFLET / name).read_bytes(), 9))
        for name in ("leaflet.js", "leaflet.css")
    )
    page = len(gzip.compress(html, 9))
    print(f"page {len(html)} B ({page} B gzip), Leaflet {leaflet} B gzip")
    assert len(html) <= 60 * 1024
    assert page + leaflet <= 110 * 1024

"""The driver page in German (the user's choice, else the tenant's locale, else the browser's)
and its Leaflet route map (vendored, tiles only when configured)."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from portal.routing import services as routing
from tenancy.context import tenant_context
from tests.access import covers_url

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

GERMAN = (
    "Stopps",
    "Scannen",
    "Barcode oder Referenz",
    "Erfassen",
    "Name des Empfängers",
    "Unterschrift löschen",
    "Warteschlange",
    "Navigation",
    "Zustellung",
    "Niemand zu Hause",
)
ENGLISH = (
    "Barcode or reference",
    "Recipient name",
    "Clear signature",
    "Nothing waiting",
    "Navigate",
    "Nobody at home",
    "Record<",
)


@pytest.fixture
def day(world):
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        route = routing.route_for(driver=world.personas.users["driver"])
        stop = routing.stop_add(route=route, shipment=world.a)
        routing.route_sequence(route=route)
    return route, stop


def _words(html: str) -> dict:
    match = re.search(r'<script id="driver-words" type="application/json">(.*?)</script>', html)
    assert match
    return json.loads(match.group(1))


@covers_url("driver-page", "driver-stops")
def test_driver_page_in_german_from_the_tenants_locale(world, day):
    acme = world.personas.tenant
    acme.locale = "de"
    acme.save()
    driver = world.personas.client("driver")
    response = driver.get(reverse("driver-page"))
    html = response.content.decode()
    assert response["Content-Language"] == "de" and '<html lang="de">' in html
    for word in GERMAN:
        assert word in html, word
    for word in ENGLISH:
        assert word not in html, word
    words = _words(html)
    assert words["sent"] == "Gesendet:" and words["actions"]["failed"] == "Fehlgeschlagen"
    assert words["rerouted"].startswith("Die Disposition")
    stops = driver.get(reverse("driver-stops")).json()["stops"]
    assert stops[0]["kind_label"] == "Zustellung"
    assert stops[0]["label"] in ("Pünktlich", "Verspätet")


@covers_url("driver-page")
def test_the_users_choice_wins_over_the_tenant_and_english_stays_english(world, day):
    driver = world.personas.client("driver")
    english = driver.get(reverse("driver-page")).content.decode()
    assert "Barcode or reference" in english and '<html lang="en">' in english
    driver.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "de"
    assert "Barcode oder Referenz" in driver.get(reverse("driver-page")).content.decode()
    assert (
        "Barcode or reference"
        in driver.get(reverse("driver-page"), {"lang": "en"}).content.decode()
    )
    # a tenant locale the page has no words for (French): the browser's language decides
    acme = world.personas.tenant
    acme.locale = "fr"
    acme.save()
    browser = world.personas.client("driver")
    german = browser.get(reverse("driver-page"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert "Barcode oder Referenz" in german.content.decode()


@covers_url("driver-page", "driver-sw")
def test_the_route_map_is_leaflet_and_offline_ready(world, day, settings):
    driver = world.personas.client("driver")
    html = driver.get(reverse("driver-page")).content.decode()
    assert '<script src="/static/vendor/leaflet-1.9.4/leaflet.js" defer>' in html
    assert '<div id="map" class="map"' in html and 'data-tiles=""' in html
    assert "<svg" not in html
    data = json.loads(
        re.search(r'<script id="route-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["stops"][0]["lat"] == pytest.approx(53.5503)
    worker = driver.get(reverse("driver-sw")).content.decode()
    assert "vendor/leaflet-1.9.4/leaflet.js" in worker  # the shell works offline, map included
    settings.OPS_MAP_TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
    html = driver.get(reverse("driver-page")).content.decode()
    assert 'data-tiles="https://tiles.example.test/{z}/{x}/{y}.png"' in html

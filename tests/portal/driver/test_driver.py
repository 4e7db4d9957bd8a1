"""The driver page: field roles only, scans once per idempotency key with their original
time, POD reaches the customer page, other tenants see none of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import InboundMessage
from portal.routing import services as routing
from portal.routing.models import DriverScan, RouteStop
from portal.tracking import selectors
from portal.tracking.models import ThreadMessage
from shipments.models import Shipment, TrackingEvent
from tenancy.context import tenant_context
from tests.access import covers_url

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def day(world):
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        route = routing.route_for(driver=world.personas.users["driver"])
        stop = routing.stop_add(route=route, shipment=world.a)
        routing.route_sequence(route=route)
    return route, stop


@covers_url("driver-page", "driver-stops", "driver-manifest", "driver-sw")
def test_driver_sees_todays_stops_and_others_do_not(world, day):
    personas = world.personas
    driver = personas.client("driver")
    html = driver.get(reverse("driver-page")).content.decode()
    assert "ACME123456" in html and "google.com/maps/dir" in html
    stops = driver.get(reverse("driver-stops")).json()["stops"]
    assert [s["reference"] for s in stops] == ["ACME123456"]
    assert stops[0]["state"] in ("on_time", "delayed")
    assert personas.client("customer").get(reverse("driver-page")).status_code == 404
    assert personas.client("finance").get(reverse("driver-stops")).status_code == 404
    outsider = personas.client("outsider").get(reverse("driver-stops")).json()
    assert outsider["stops"] == []  # B's admin has its own (empty) day, never A's
    assert Client().get(reverse("driver-page")).status_code == 302
    assert driver.get(reverse("driver-manifest")).json()["scope"] == "/driver/"
    assert b"caches" in driver.get(reverse("driver-sw")).content


@pytest.fixture(autouse=True)
def _commit(request):
    """Scans are processed after commit: run those callbacks in these (atomic) tests."""
    global _capture
    _capture = request.getfixturevalue("django_capture_on_commit_callbacks")


_capture = None


def scan(client, key: str, **fields):
    data = {"action": "delivery", "reference": "ACME123456"} | fields
    with _capture(execute=True):
        return client.post(reverse("driver-scan"), data, HTTP_IDEMPOTENCY_KEY=key)


@covers_url("driver-scan")
def test_a_retried_scan_is_stored_once_with_its_original_time(world, day, eager):
    driver = world.personas.client("driver")
    original = (timezone.now() - timedelta(minutes=20)).replace(microsecond=0)
    fields = {
        "occurred_at": original.isoformat(),
        "lat": "53.55",
        "lon": "10.0",
        "recipient_name": "E. Mustermann",
        "photo": SimpleUploadedFile("p.png", PNG, "image/png"),
        "signature": SimpleUploadedFile("s.png", PNG, "image/png"),
    }
    first = scan(driver, "key-1", **fields)
    assert first.status_code == 201, first.content
    again = scan(
        driver, "key-1", **(fields | {"photo": SimpleUploadedFile("p.png", PNG, "image/png")})
    )
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        assert DriverScan.objects.count() == 1
        assert InboundMessage.objects.filter(channel="scan").count() == 2  # delivered + POD
        delivered = TrackingEvent.objects.get(shipment=world.a, milestone="delivered")
        assert delivered.occurred_at == original
        shipment = Shipment.objects.get(pk=world.a.pk)
        assert shipment.status == "delivered"
        pod = selectors.proof_of_delivery(shipment)
        assert pod["recipient_name"] == "E. Mustermann" and pod["photo_id"] and pod["signature_id"]
        assert RouteStop.objects.get(pk=day[1].pk).status == "done"


@covers_url("driver-scan")
def test_failed_delivery_needs_a_reason(world, day, eager):
    driver = world.personas.client("driver")
    refused = scan(driver, "k2", action="failed")
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {
        "reason": refused.json()["error"]["fields"]["reason"]
    }
    assert scan(driver, "k3", action="failed", reason="not_home").status_code == 201
    with tenant_context(world.personas.tenant.pk):
        assert Shipment.objects.get(pk=world.a.pk).status == "failed_delivery"
        assert RouteStop.objects.get(pk=day[1].pk).status == "failed"


@covers_url("driver-scan")
def test_tenant_b_driver_cannot_scan_tenant_a_shipments(world, eager):
    outsider = world.personas.client("outsider")
    response = scan(outsider, "k4")
    assert response.status_code == 202 or response.status_code in (201, 400)
    with tenant_context(world.personas.tenant.pk):
        assert not TrackingEvent.objects.filter(shipment=world.a, milestone="delivered").exists()


@covers_url("driver-position", "driver-message")
def test_position_moves_etas_and_driver_messages_join_the_thread(world, day, eager):
    personas = world.personas
    driver = personas.client("driver")
    acme = personas.tenant
    with tenant_context(acme.pk):
        before = RouteStop.objects.get(pk=day[1].pk).eta
    with _capture(execute=True):
        response = driver.post(reverse("driver-position"), {"lat": "53.0", "lon": "9.0"})
    assert response.status_code == 200
    assert driver.post(reverse("driver-position"), {"lat": "x"}).status_code == 400
    with tenant_context(acme.pk):
        assert RouteStop.objects.get(pk=day[1].pk).eta > before
    url = reverse("driver-message", args=[day[1].pk])
    assert driver.post(url, {"body": "At the door"}).status_code == 201
    assert personas.client("outsider").post(url, {"body": "hi"}).status_code == 404
    with tenant_context(acme.pk):
        assert list(ThreadMessage.objects.values_list("author_kind", "body")) == [
            ("driver", "At the door")
        ]
    view_pos = None
    with tenant_context(acme.pk):
        shipment = Shipment.objects.get(pk=world.a.pk)
        view_pos = selectors.driver_position(shipment, "approximate", timezone.now())
    assert view_pos == {"lat": 53.0, "lon": 9.0, "approximate": True}

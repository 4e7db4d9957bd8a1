"""Position pings: validation, trail, latest positions, geofenced stops, isolation, queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import geo, pipeline, selectors, services
from integrations.models import (
    DeadLetter,
    InboundMessage,
    IngestPolicy,
    LatestPosition,
    MessageStatus,
    PositionPing,
    Stop,
    StopState,
)
from integrations.positions import services as positions
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.shipments.factories import ShipmentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

HAMBURG = (53.5511, 9.9937)
T0 = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


def _key(tenant, scopes=("ingest",)):
    with tenant_context(tenant.pk):
        return api_key_issue(name="telematics", scopes=list(scopes)).raw_key


def _ping(lat, lon, minutes, reference="TRUCK1", **extra):
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return {"reference": reference, "lat": lat, "lon": lon, "at": at, **extra}


def _post(client, pings, capture, **headers):
    with capture(execute=True):
        return client.post(
            reverse("ingest-field-positions"),
            data=json.dumps(pings),
            content_type="application/json",
            headers=headers,
        )


def _stops(tenant, shipment, stops):
    with tenant_context(tenant.pk):
        return positions.stops_set(
            shipment=shipment, stops=stops, known=selectors.known_milestones()
        )


def test_haversine_and_eta():
    assert geo.haversine_m(*HAMBURG, *HAMBURG) == 0
    berlin = (52.52, 13.405)
    assert 254_000 < geo.haversine_m(*HAMBURG, *berlin) < 257_000
    assert geo.eta(T0, 10_000, 60) == T0 + timedelta(minutes=10)
    assert geo.eta(T0, 10_000, 0) is None
    assert not geo.valid_lat(True) and not geo.valid_lat(float("nan")) and geo.valid_lon(-180)


@covers_url("ingest-field-positions", "ingest-field-stops", "ingest-field-shipment-positions")
def test_pings_record_trail_latest_and_geofence_events(acme, django_capture_on_commit_callbacks):
    shipment = ShipmentFactory(tenant=acme.tenant, reference="TRUCK1")
    with tenant_context(acme.tenant.pk):
        IngestPolicy.objects.create(default_stop_radius_m=250, arriving_soon_m=4000)
    ops = acme.client("ops")
    stops_url = reverse("ingest-field-stops", args=[shipment.pk])
    response = ops.post(
        stops_url,
        data={"stops": [{"name": "Hamburg DC", "lat": HAMBURG[0], "lon": HAMBURG[1]}]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    [stop] = response.json()["results"]
    assert (stop["radius_m"], stop["arriving_soon_m"]) == (250, 4000)

    key = _key(acme.tenant)
    pings = [
        _ping(53.70, 9.9937, 0, vehicle_ref="HH-AB-123", speed_kmh=60),  # 16 km away
        _ping(53.58, 9.9937, 10, vehicle_ref="HH-AB-123", speed_kmh=40),  # 3.2 km: soon
        _ping(53.5515, 9.9937, 20, vehicle_ref="HH-AB-123", speed_kmh=5),  # inside
        _ping(53.56, 9.9937, 40, vehicle_ref="HH-AB-123", speed_kmh=30),  # left
        _ping(95, 9.99, 41),  # bad lat
        _ping(53.5, 9.99, 42) | {"at": "2026-03-05T09:00:00"},  # naive
        _ping(53.5, 9.99, 0) | {"at": (timezone.now() + timedelta(hours=1)).isoformat()},
        "not a ping",
    ]
    response = _post(
        Client(), pings, django_capture_on_commit_callbacks, Authorization=f"Bearer {key}"
    )
    assert response.status_code == 202, response.content
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get(pk=response.json()["message_id"])
        assert message.channel == "position"
        assert message.status == MessageStatus.PARTIALLY_FAILED
        assert (message.events_parsed, message.events_applied, message.events_held) == (8, 4, 0)
        letters = dict(DeadLetter.objects.filter(message=message).values_list("position", "reason"))
        assert set(letters) == {"$[4].lat", "$[5].at", "$[6].at", "$[7]"}
        assert "UTC offset" in letters["$[5].at"]
        assert "future" in letters["$[6].at"]
        assert PositionPing.objects.filter(shipment=shipment).count() == 4
        latest = {
            (p.subject_kind, p.subject): p for p in LatestPosition.objects.order_by("subject")
        }
        assert latest["shipment", str(shipment.pk)].at == T0 + timedelta(minutes=40)
        assert latest["vehicle", "HH-AB-123"].lat == 53.56
        stop_row = Stop.objects.get(shipment=shipment)
        assert stop_row.state == StopState.LEFT
        assert stop_row.approaching_at == T0 + timedelta(minutes=10)
        assert stop_row.entered_at == T0 + timedelta(minutes=20)
        assert stop_row.left_at == T0 + timedelta(minutes=40)
        events = {
            (e.milestone, e.classifier): e for e in TrackingEvent.objects.filter(shipment=shipment)
        }
    assert events["arrived", "ACT"].occurred_at == T0 + timedelta(minutes=20)
    assert events["arrived", "ACT"].dedupe_key == f"geofence:{stop_row.pk}:arrive"
    assert events["departed", "ACT"].occurred_at == T0 + timedelta(minutes=40)
    estimate = events["arrived", "EST"].occurred_at
    # ~2.95 km outside the radius at 40 km/h: about 4.4 minutes after the ping.
    assert T0 + timedelta(minutes=14) < estimate < T0 + timedelta(minutes=15)

    positions_url = reverse("ingest-field-shipment-positions", args=[shipment.pk])
    body = ops.get(positions_url).json()
    assert body["latest"]["lat"] == 53.56
    assert [p["lat"] for p in body["trail"]] == [53.70, 53.58, 53.5515, 53.56]
    since = (T0 + timedelta(minutes=15)).isoformat()
    body = acme.client("driver").get(positions_url, {"since": since}).json()
    assert [p["lat"] for p in body["trail"]] == [53.5515, 53.56]
    bad = ops.get(positions_url, {"since": "2026-03-05T08:15:00"})
    assert bad.status_code == 400
    assert "since" in bad.json()["error"]["fields"]
    assert ops.get(stops_url).json()["results"][0]["state"] == "left"

    # A replay records nothing twice; an older ping never overwrites the latest position.
    with tenant_context(acme.tenant.pk):
        pipeline.process_messages([message.pk], force=True)
        assert PositionPing.objects.filter(shipment=shipment).count() == 4
        assert TrackingEvent.objects.filter(shipment=shipment).count() == len(events)
    _post(
        Client(),
        [_ping(50.0, 8.0, -60)],
        django_capture_on_commit_callbacks,
        Authorization=f"Bearer {key}",
    )
    with tenant_context(acme.tenant.pk):
        shipment_latest = LatestPosition.objects.get(subject_kind="shipment")
        assert shipment_latest.at == T0 + timedelta(minutes=40)
        assert PositionPing.objects.filter(shipment=shipment).count() == 5


@covers_url("ingest-field-stops")
def test_stops_validation_and_access(acme):
    shipment = ShipmentFactory(tenant=acme.tenant, reference="TRUCK1")
    url = reverse("ingest-field-stops", args=[shipment.pk])
    ops = acme.client("ops")
    for stops, field in [
        ([{"lat": 1, "lon": 1}], "stops[0].name"),
        ([{"name": "A", "lat": 100, "lon": 1}], "stops[0].lat"),
        ([{"name": "A", "lat": 1, "lon": 1, "radius_m": -5}], "stops[0].radius_m"),
        (
            [{"name": "A", "lat": 1, "lon": 1, "arrive_milestone": "zz"}],
            "stops[0].arrive_milestone",
        ),
        ("nope", "stops"),
    ]:
        response = ops.post(url, data={"stops": stops}, content_type="application/json")
        assert response.status_code == 400, stops
        assert field in response.json()["error"]["fields"]
    good = {"stops": [{"name": "A", "lat": 1, "lon": 1}, {"name": "B", "lat": 2, "lon": 2}]}
    assert (
        acme.client("driver").post(url, data=good, content_type="application/json").status_code
        == 403
    )
    assert acme.client("customer").get(url).status_code == 403
    response = ops.post(url, data=good, content_type="application/json")
    assert [s["sequence"] for s in response.json()["results"]] == [1, 2]
    assert response.json()["results"][0]["radius_m"] == 300  # model default without a policy
    assert acme.client("driver").get(url).status_code == 200
    # Tenant B's shipment id is simply not found.
    other = ShipmentFactory(tenant=acme.other_tenant, reference="B-ONLY")
    other_url = reverse("ingest-field-stops", args=[other.pk])
    assert ops.get(other_url).status_code == 404
    assert ops.post(other_url, data=good, content_type="application/json").status_code == 404
    assert acme.client("outsider").get(url).status_code == 404


@covers_url("ingest-field-positions", "ingest-field-shipment-positions")
def test_positions_isolation_between_tenants(acme, django_capture_on_commit_callbacks):
    other = ShipmentFactory(tenant=acme.other_tenant, reference="B-TRUCK")
    key_a = _key(acme.tenant)
    response = _post(
        Client(),
        [_ping(53.5, 9.9, 0, reference="B-TRUCK")],
        django_capture_on_commit_callbacks,
        Authorization=f"Bearer {key_a}",
    )
    assert response.status_code == 202
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get()
        assert (message.events_applied, message.events_held) == (0, 1)
        assert message.status == MessageStatus.PROCESSED
        assert not PositionPing.objects.exists()
    with tenant_context(acme.other_tenant.pk):
        assert not PositionPing.objects.exists()
        assert not LatestPosition.objects.exists()
    url = reverse("ingest-field-shipment-positions", args=[other.pk])
    assert acme.client("ops").get(url).status_code == 404
    read_a = _key(acme.tenant, ["read"])
    assert Client().get(url, headers={"Authorization": f"Bearer {read_a}"}).status_code == 404
    assert acme.client("outsider").get(url).json()["latest"] is None
    assert acme.client("customer").get(url).status_code == 403


@covers_url("ingest-field-positions")
def test_positions_bad_bodies_are_400_and_roles(acme):
    url = reverse("ingest-field-positions")
    driver = acme.client("driver")
    for body, code in [
        (b"{not json", "invalid_json"),
        (b'{"lat": 1}', "invalid_json"),
        (json.dumps([_ping(1, 1, 0)] * 5001).encode(), "too_many_pings"),
    ]:
        response = driver.post(url, data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
    with tenant_context(acme.tenant.pk):
        # Refused, but kept: each body is a dead message with the reason in its dead letter.
        refused = list(InboundMessage.objects.order_by("pk"))
        assert [m.status for m in refused] == [MessageStatus.DEAD] * 3
        assert refused[0].body.tobytes() == b"{not json"
        reasons = [m.dead_letters.get().reason for m in refused]
        assert "invalid JSON" in reasons[0] and "too many pings" in reasons[2]
    for role in ("customer", "finance"):
        refused = acme.client(role).post(url, data=b"[]", content_type="application/json")
        assert refused.status_code == 403
    read_key = _key(acme.tenant, ["read"])
    refused = Client().post(
        url,
        data=b"[]",
        content_type="application/json",
        headers={"Authorization": f"Bearer {read_key}"},
    )
    assert refused.status_code == 403
    accepted = driver.post(url, data=json.dumps({"pings": []}), content_type="application/json")
    assert accepted.status_code == 202


def _batch_queries(tenant, n, prefix):
    """Queries to process n pings of 5 shipments that each cross a geofenced stop."""
    for i in range(5):
        shipment = ShipmentFactory(tenant=tenant, reference=f"{prefix}{i}")
        _stops(tenant, shipment, [{"name": "Mid", "lat": 53.25, "lon": 9.9}])
    per_shipment = n // 5
    pings = [
        _ping(53.25 + (j - per_shipment // 2) * 0.5 / per_shipment, 9.9, j, f"{prefix}{i}")
        for j in range(per_shipment)
        for i in range(5)
    ]
    with tenant_context(tenant.pk):
        message = services.message_store(
            integration=None, channel="position", body=json.dumps(pings).encode()
        )
        with CaptureQueriesContext(connection) as captured:
            pipeline.process_messages([message.pk])
        message.refresh_from_db()
        assert message.events_applied == n
        # Every shipment got its arrival and departure from the batch.
        actuals = TrackingEvent.objects.filter(inbound_message_id=message.pk, classifier="ACT")
        assert actuals.count() == 10
    return len(captured)


def test_query_count_does_not_grow_with_the_batch(acme):
    small = _batch_queries(acme.tenant, 50, "S")
    large = _batch_queries(acme.tenant, 500, "L")
    assert large == small
    assert large < 40

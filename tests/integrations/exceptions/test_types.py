"""The data-driven types: sequence violations, cascades from a parent, predicted late
delivery (the ETA selectors against the promise), route deviation and stale feeds (sweep)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exceptions import detection
from integrations.models import InboundMessage, Integration, LatestPosition
from integrations.services import integration_create
from shipments.services import shipment_link
from tenancy.context import tenant_context
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment, unresolved

pytestmark = pytest.mark.django_db


def _of(tenant, kind):
    return [u for u in unresolved(tenant) if u[0] == kind]


def test_sequence_violation_opens_per_milestone_and_resolves_on_correction(acme):
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "departed", ago(hours=10))
    event(acme.tenant, s, "picked_up", ago(hours=5), key="late-pickup")
    assert _of(acme.tenant, "sequence_violation") == [("sequence_violation", "departed", "minor")]
    event(acme.tenant, s, "arrived", ago(hours=1))
    assert len(exceptions(acme.tenant, type="sequence_violation")) == 1
    # The pickup report is voided: nothing is inverted any more.
    from shipments.models import TrackingEvent
    from shipments.services import event_void

    with tenant_context(acme.tenant.pk):
        pickup = TrackingEvent.objects.get(shipment=s, milestone="picked_up")
        event_void(event=pickup, reason="wrong scan", actor=acme.member)
    assert _of(acme.tenant, "sequence_violation") == []


def test_cascade_names_the_parent_on_each_child(acme):
    parent = shipment(acme.tenant, booked=ago(days=3), reference="PARENT-1")
    children = [shipment(acme.tenant, booked=ago(days=3)) for _ in range(2)]
    with tenant_context(acme.tenant.pk):
        for child in children:
            shipment_link(parent=parent, child=child, kind="consolidation")
    event(acme.tenant, parent, "picked_up", ago(days=1))  # departure now late
    cascades = exceptions(acme.tenant, type="cascade")
    assert sorted(x.shipment_id for x in cascades) == sorted(c.pk for c in children)
    assert all("PARENT-1" in " ".join(x.details["waiting_on"]) for x in cascades)
    event(acme.tenant, parent, "departed", ago(hours=1))
    assert _of(acme.tenant, "cascade") == []


def test_predicted_late_against_the_promise(acme):
    promise = timezone.now() + timedelta(hours=6)
    s = shipment(acme.tenant, booked=ago(hours=1), promised_at=promise)
    event(acme.tenant, s, "picked_up", ago(minutes=30))
    [late] = exceptions(acme.tenant, type="predicted_late")
    assert late.milestone == "delivered" and late.details["predicted_late_minutes"] > 30
    assert late.severity == "critical"  # two days late
    # A promise far enough out: resolved at the next change.
    with tenant_context(acme.tenant.pk):
        from shipments.models import Shipment

        Shipment.objects.filter(pk=s.pk).update(promised_at=promise + timedelta(days=10))
    event(acme.tenant, s, "departed", ago(minutes=10))
    assert _of(acme.tenant, "predicted_late") == []


def test_route_deviation_by_distance_from_the_line(acme):
    # Hamburg → Munich; a position near Frankfurt is ~190 km off the line.
    s = shipment(
        acme.tenant,
        booked=ago(hours=10),
        origin_lat=53.55,
        origin_lon=9.99,
        destination_lat=48.14,
        destination_lon=11.58,
    )
    event(acme.tenant, s, "picked_up", ago(hours=1))

    def at(lat, lon):
        with tenant_context(acme.tenant.pk):
            LatestPosition.objects.update_or_create(
                subject_kind="shipment",
                subject=str(s.pk),
                defaults={"shipment": s, "lat": lat, "lon": lon, "at": timezone.now()},
            )
        detection.sweep(tenant_ids=[acme.tenant.pk])

    at(51.0, 10.8)  # on the line (near Erfurt)
    assert _of(acme.tenant, "route_deviation") == []
    at(50.11, 8.68)  # Frankfurt
    [(_, _, severity)] = _of(acme.tenant, "route_deviation")
    assert severity == "major"
    [x] = exceptions(acme.tenant, type="route_deviation")
    assert 150 < x.details["km_off_route"] < 300
    at(49.5, 11.1)  # back on the corridor (Nuremberg)
    assert _of(acme.tenant, "route_deviation") == []


def _message(integration: Integration, received_at) -> None:
    InboundMessage.objects.create(
        integration=integration,
        channel="webhook",
        body=b"{}",
        sha256="0" * 64,
        received_at=received_at,
        status="processed",
    )


def test_stale_feed_opens_for_a_quiet_integration_and_resolves_when_it_speaks(acme):
    with tenant_context(acme.tenant.pk):
        feed = integration_create(name="carrier feed", kind="dcsa")
        _message(feed, ago(hours=7))
    detection.sweep(tenant_ids=[acme.tenant.pk])
    [x] = exceptions(acme.tenant, type="stale_feed")
    assert x.integration_id == feed.pk and x.severity == "minor" and x.shipment_id is None
    detection.sweep(tenant_ids=[acme.tenant.pk])
    assert len(exceptions(acme.tenant, type="stale_feed")) == 1
    with tenant_context(acme.tenant.pk):
        _message(feed, timezone.now())
    detection.sweep(tenant_ids=[acme.tenant.pk])
    assert _of(acme.tenant, "stale_feed") == []
    # Thresholds: a tenant allowing 8 h sees nothing for a 7-hour silence.
    with tenant_context(acme.tenant.pk):
        from integrations.exceptions.models import ExceptionThreshold

        ExceptionThreshold.objects.create(
            type="stale_feed", after_minutes=480, major_minutes=600, critical_minutes=900
        )
        quiet = integration_create(name="quiet", kind="x12")
        _message(quiet, ago(hours=7))
    detection.sweep(tenant_ids=[acme.tenant.pk])
    assert _of(acme.tenant, "stale_feed") == []

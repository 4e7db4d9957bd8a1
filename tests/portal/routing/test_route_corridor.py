"""The planned sequence is the corridor of route deviation (issue 16): sequencing and a
dispatcher's re-order publish it to integrations.exceptions, and the sweep measures the van's
position against the legs in the new order."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.exceptions import detection
from integrations.exceptions.models import CorridorPoint, PlannedCorridor, ShipmentException
from integrations.models import LatestPosition
from portal.routing import services
from portal.routing.models import RouteStop
from tenancy.context import tenant_context
from tests.portal.conftest import last_mile, record

pytestmark = pytest.mark.django_db

HAMBURG = (53.55, 9.99)
COLOGNE = (50.94, 6.96)
MUNICH = (48.14, 11.58)
ON_THE_COLOGNE_LEG = (52.26, 8.50)


def _open_deviations(tenant):
    with tenant_context(tenant.pk):
        return sorted(
            ShipmentException.objects.filter(type="route_deviation")
            .exclude(status="resolved")
            .values_list("shipment_id", flat=True)
        )


def test_sequencing_and_reordering_publish_the_corridor(world):
    personas = world.personas
    tenant = personas.tenant
    far = [
        last_mile(
            tenant,
            f"ACMEC{n}",
            origin_lat=HAMBURG[0],
            origin_lon=HAMBURG[1],
            destination_lat=lat,
            destination_lon=lon,
        )
        for n, (lat, lon) in enumerate((COLOGNE, MUNICH))
    ]
    for s in far:
        record(tenant, s, "picked_up", 60)
    to_cologne, to_munich = far
    with tenant_context(tenant.pk):
        route = services.route_for(driver=personas.users["driver"])
        route.start_lat, route.start_lon = HAMBURG
        route.save()
        for s in far:
            services.stop_add(route=route, shipment=s)
        services.route_sequence(route=route)
        corridor = PlannedCorridor.objects.get(key=f"route:{route.pk}")
        assert corridor.vehicle_ref == route.vehicle_ref
        stops = list(RouteStop.objects.filter(route=route).order_by("sequence"))
        points = list(
            CorridorPoint.objects.filter(corridor=corridor).values_list("lat", "lon", "shipment_id")
        )
        assert points == [(*HAMBURG, None)] + [(s.lat, s.lon, s.shipment_id) for s in stops]
        by_shipment = {s.shipment_id: s.pk for s in stops}
        services.route_reorder(
            route=route, stop_ids=[by_shipment[to_cologne.pk], by_shipment[to_munich.pk]]
        )
        LatestPosition.objects.create(
            subject_kind="vehicle",
            subject=route.vehicle_ref,
            vehicle_ref=route.vehicle_ref,
            lat=ON_THE_COLOGNE_LEG[0],
            lon=ON_THE_COLOGNE_LEG[1],
            at=timezone.now(),
        )
    detection.sweep(tenant_ids=[tenant.pk])
    assert _open_deviations(tenant) == []  # on the first leg, Hamburg → Cologne
    with tenant_context(tenant.pk):
        services.route_reorder(
            route=route, stop_ids=[by_shipment[to_munich.pk], by_shipment[to_cologne.pk]]
        )
        assert [p.shipment_id for p in CorridorPoint.objects.filter(corridor=corridor)] == [
            None,
            to_munich.pk,
            to_cologne.pk,
        ]
    detection.sweep(tenant_ids=[tenant.pk])
    assert _open_deviations(tenant) == sorted([to_cologne.pk, to_munich.pk])

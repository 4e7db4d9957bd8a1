"""Route deviation against the planned corridor (issue 16: "the planned sequence is the corridor
the route-deviation exception compares positions with"): the nearest leg of the polyline
counts, the origin→destination line only when no corridor names the shipment; the vehicle's
position stands in for a shipment that has none of its own; corridors stay in their tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exceptions import detection
from integrations.exceptions.models import CorridorPoint, PlannedCorridor
from integrations.exceptions.services import CorridorVertex, corridor_clear, corridor_publish
from integrations.models import LatestPosition
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment, unresolved

pytestmark = pytest.mark.django_db

HAMBURG = (53.55, 9.99)
COLOGNE = (50.94, 6.96)
MUNICH = (48.14, 11.58)
BERLIN = (52.52, 13.40)
# About halfway along Hamburg → Cologne, some 125 km west of the Hamburg → Munich line.
ON_THE_COLOGNE_LEG = (52.26, 8.50)


def _deviations(tenant):
    return [u for u in unresolved(tenant) if u[0] == "route_deviation"]


def _moving(tenant, destination):
    s = shipment(
        tenant,
        booked=ago(hours=10),
        origin_lat=HAMBURG[0],
        origin_lon=HAMBURG[1],
        destination_lat=destination[0],
        destination_lon=destination[1],
    )
    event(tenant, s, "picked_up", ago(hours=1))
    return s


def _at(tenant, kind, subject, point, shipment_obj=None, minutes_ago=0):
    with tenant_context(tenant.pk):
        LatestPosition.objects.update_or_create(
            subject_kind=kind,
            subject=subject,
            defaults={
                "shipment": shipment_obj,
                "vehicle_ref": subject if kind == "vehicle" else "",
                "lat": point[0],
                "lon": point[1],
                "at": timezone.now() - timedelta(minutes=minutes_ago),
            },
        )
    detection.sweep(tenant_ids=[tenant.pk])


def _publish(tenant, *stops, key="route:1", vehicle="van-1"):
    with tenant_context(tenant.pk):
        corridor_publish(
            key=key,
            vehicle_ref=vehicle,
            start=HAMBURG,
            points=[CorridorVertex(lat, lon, s.pk if s else None) for (lat, lon), s in stops],
        )


def test_a_position_on_a_planned_leg_but_off_the_od_line_does_not_fire(acme):
    tenant = acme.tenant
    to_munich = _moving(tenant, MUNICH)
    to_cologne = _moving(tenant, COLOGNE)
    # Without a corridor the Hamburg → Munich line is the measure: ~125 km off, minor.
    _at(tenant, "shipment", str(to_munich.pk), ON_THE_COLOGNE_LEG, to_munich)
    assert _deviations(tenant) == [("route_deviation", "", "minor")]
    [x] = exceptions(tenant, type="route_deviation")
    assert x.details["against"] == "origin_destination" and 100 < x.details["km_off_route"] < 150
    # Planned: Hamburg → Cologne (the other shipment's stop) → Munich. The position lies on
    # the first leg: the exception resolves.
    _publish(tenant, (COLOGNE, to_cologne), (MUNICH, to_munich))
    detection.sweep(tenant_ids=[tenant.pk])
    assert _deviations(tenant) == []
    [x] = exceptions(tenant, type="route_deviation")
    assert x.status == "resolved" and x.auto_resolved


def test_a_position_far_from_every_planned_leg_fires(acme):
    tenant = acme.tenant
    to_munich = _moving(tenant, MUNICH)
    to_cologne = _moving(tenant, COLOGNE)
    _publish(tenant, (COLOGNE, to_cologne), (MUNICH, to_munich))
    _at(tenant, "shipment", str(to_munich.pk), BERLIN, to_munich)
    [(_, _, severity)] = _deviations(tenant)
    [x] = exceptions(tenant, type="route_deviation")
    assert x.shipment_id == to_munich.pk and x.details["against"] == "planned_corridor"
    # Berlin is ~255 km from Hamburg, the nearest point of the corridor.
    assert 230 < x.details["km_off_route"] < 290 and severity == "major"


def test_the_vehicle_position_counts_and_reordering_changes_the_corridor(acme):
    tenant = acme.tenant
    to_munich = _moving(tenant, MUNICH)
    to_cologne = _moving(tenant, COLOGNE)
    _publish(tenant, (COLOGNE, to_cologne), (MUNICH, to_munich))
    # Only the van reports: both shipments on its corridor are measured with its position.
    _at(tenant, "vehicle", "van-1", ON_THE_COLOGNE_LEG)
    assert _deviations(tenant) == []
    # Re-ordered: Munich first, then Cologne. The same position is now ~125 km from the
    # Hamburg → Munich leg and further from Munich → Cologne: both shipments deviate.
    _publish(tenant, (MUNICH, to_munich), (COLOGNE, to_cologne))
    detection.sweep(tenant_ids=[tenant.pk])
    found = exceptions(tenant, type="route_deviation")
    assert sorted(x.shipment_id for x in found) == sorted([to_munich.pk, to_cologne.pk])
    assert all(x.details["against"] == "planned_corridor" for x in found)
    # A newer position of the shipment itself wins over the van's older one.
    _at(tenant, "shipment", str(to_munich.pk), (50.0, 10.9), to_munich)  # on Hamburg → Munich
    assert [x.shipment_id for x in exceptions(tenant, type="route_deviation", status="open")] == [
        to_cologne.pk
    ]


def test_cleared_corridor_falls_back_to_origin_destination(acme):
    tenant = acme.tenant
    to_munich = _moving(tenant, MUNICH)
    _publish(tenant, (COLOGNE, None), (MUNICH, to_munich))
    _at(tenant, "shipment", str(to_munich.pk), ON_THE_COLOGNE_LEG, to_munich)
    assert _deviations(tenant) == []
    with tenant_context(tenant.pk):
        corridor_clear(key="route:1")
        assert not CorridorPoint.objects.exists()
    detection.sweep(tenant_ids=[tenant.pk])
    assert _deviations(tenant) == [("route_deviation", "", "minor")]


def test_publish_replaces_the_points_and_refuses_bad_ones(acme):
    tenant = acme.tenant
    to_munich = _moving(tenant, MUNICH)
    _publish(tenant, (COLOGNE, None), (MUNICH, to_munich))
    _publish(tenant, (MUNICH, to_munich))
    with tenant_context(tenant.pk):
        points = list(CorridorPoint.objects.values_list("sequence", "lat", "shipment_id"))
        assert points == [(0, HAMBURG[0], None), (1, MUNICH[0], to_munich.pk)]
        with pytest.raises(DomainError) as error:
            corridor_publish(key="route:1", points=[CorridorVertex(91.0, 0.0)])
        assert error.value.field == "points[0]"
        # One point and no start: no leg, no corridor.
        corridor_publish(key="route:1", points=[CorridorVertex(*MUNICH, to_munich.pk)])
        assert not PlannedCorridor.objects.exists()


def test_corridors_are_confined_to_their_tenant(acme):
    to_munich = _moving(acme.tenant, MUNICH)
    _publish(acme.tenant, (COLOGNE, None), (MUNICH, to_munich))
    # Tenant B's van at the same key and a position far off: A's corridor is not B's.
    other = _moving(acme.other_tenant, MUNICH)
    _at(acme.other_tenant, "shipment", str(other.pk), ON_THE_COLOGNE_LEG, other)
    assert _deviations(acme.other_tenant) == [("route_deviation", "", "minor")]
    with tenant_context(acme.other_tenant.pk):
        assert not PlannedCorridor.objects.exists() and not CorridorPoint.objects.exists()
        corridor_clear(key="route:1")  # B clearing "its" key touches nothing of A's
    with tenant_context(acme.tenant.pk):
        assert PlannedCorridor.objects.count() == 1 and CorridorPoint.objects.count() == 3

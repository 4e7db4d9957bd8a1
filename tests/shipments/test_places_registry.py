"""The global place registry: built from the data packages, every UN/LOCODE walked, loaded
idempotently, searched fast, and read-only to the app role."""

from __future__ import annotations

import collections
import statistics
import time

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from shipments import zones
from shipments.places import data
from shipments.places.keys import gs1_keys, location_keys
from shipments.places.models import Place
from shipments.places.selectors import places_search
from tests.shipments.places_fixtures import load_registry


def test_every_packaged_unlocode_is_walked_and_placed_where_the_data_can():
    records = [r for r in data.registry_records() if r.kind == data.KIND_UNLOCODE]
    assert len(records) > 80_000
    single = data.single_zone_countries(data.country_zones())
    unplaced = collections.Counter()
    for record in records:
        zone = zones.zone_name_for_locode(record.code)
        # The parsers' lookup agrees with the registry, entry by entry.
        assert (zone or "") == record.timezone, record
        if not zone:
            # Never in a country with one clock; only where a subdivision spans several.
            assert record.country not in single, record
            unplaced[(record.country, record.subdivision)] += 1
    placed = len(records) - sum(unplaced.values())
    print(f"\nUN/LOCODEs: {len(records)}, placed {placed}, unplaced {sum(unplaced.values())}")
    print("unplaced by subdivision:", unplaced.most_common(12))
    assert sum(unplaced.values()) / len(records) < 0.04


@pytest.mark.parametrize(
    ("code", "zone"),
    [
        ("NLRTM", "Europe/Amsterdam"),
        ("USELP", "America/Denver"),  # El Paso, Texas: Mountain, not Central
        ("USCHI", "America/Chicago"),
        ("ESLPA", "Atlantic/Canary"),
        ("ESVLC", "Europe/Madrid"),  # missing from the package: MISSING_LOCODES
        ("AUBHQ", "Australia/Broken_Hill"),
        ("BRMAO", "America/Manaus"),
        ("RUVVO", "Asia/Vladivostok"),
        ("SGSIN", "Asia/Singapore"),
        ("CNSHA", "Asia/Shanghai"),
        ("ZAJNB", "Africa/Johannesburg"),
        ("CAVAN", "America/Vancouver"),
        ("MXTIJ", "America/Tijuana"),
    ],
)
def test_known_places(code, zone):
    assert zones.zone_name_for_locode(code) == zone


def test_places_by_city_state_country_and_by_coordinates():
    assert zones.zone_name_for_place("El Paso", "TX", "US") == "America/Denver"
    assert zones.zone_name_for_place("Pensacola", "FL", "US") == "America/Chicago"
    assert zones.zone_name_for_place("Chicago", "IL", "") == "America/Chicago"  # MS103 empty
    assert zones.zone_name_for_place("ROTTERDAM", "", "NL") == "Europe/Amsterdam"
    assert zones.zone_name_for_place("", "WA", "US") == "America/Los_Angeles"
    # Several clocks share the name, or the state spans zones and the city is unknown.
    assert zones.zone_name_for_place("Springfield", "", "US") is None
    assert zones.zone_name_for_place("Nowhere Junction", "TX", "US") is None
    assert zones.zone_name_for_coordinates(51.92, 4.47) == "Europe/Amsterdam"
    assert zones.zone_name_for_coordinates(31.76, -106.49) == "America/Denver"
    assert zones.zone_name_for_coordinates(0.0, -30.0) is None  # open sea: no place's clock


def test_location_keys_and_gs1_identifiers():
    assert location_keys("Chicago, IL, US") == ["CHICAGO,IL,US", "US:IL:CHICAGO"]
    assert "NL::ROTTERDAM" in location_keys("Rotterdam, NL")
    urn = gs1_keys("urn:epc:id:sgln:0614141.07346.1234")
    link = gs1_keys("https://id.gs1.org/414/0614141073467/254/1234")
    assert urn == link == ["SGLN:0614141073467.1234", "GLN:0614141073467"]
    assert gs1_keys("0614141073467") == ["GLN:0614141073467"]


@pytest.mark.django_db
def test_load_is_idempotent_and_the_app_role_cannot_write(place_registry):
    assert load_registry() == 0  # nothing changed: nothing written
    rotterdam = Place.objects.get(code="NLRTM")
    assert (rotterdam.subdivision_name, rotterdam.country_name) == ("Zuid-Holland", "Netherlands")
    assert round(rotterdam.latitude, 1) == 51.9 and rotterdam.timezone == "Europe/Amsterdam"
    for statement in (
        "UPDATE places_place SET name = 'x' WHERE code = 'NLRTM'",
        "DELETE FROM places_place WHERE code = 'NLRTM'",
        "INSERT INTO places_place (kind, code, name, country, country_name, subdivision,"
        " subdivision_name, timezone, population, keys, search_name)"
        " VALUES ('city', 'x', 'x', 'NL', '', '', '', '', 0, '{}', 'X')",
    ):
        with (
            pytest.raises(DatabaseError, match="permission denied"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


@pytest.mark.django_db
def test_search_rott_finds_rotterdam_first_in_a_few_ms(place_registry, personas):
    from tenancy.context import tenant_context

    with tenant_context(personas.tenant.pk):
        with CaptureQueriesContext(connection) as queries:
            hits = places_search(query="rott")
        assert len(queries) == 2  # the tenant's places, the registry
        assert (hits[0].code, hits[0].name) == ("NLRTM", "Rotterdam")
        assert hits[0].detail == "Zuid-Holland, Netherlands"
        assert places_search(query="NLRTM")[0].code == "NLRTM"
        assert places_search(query="gdańsk")[0].name.startswith("Gda")
        timings = []
        for query in ("rott", "hamb", "singa", "los ang", "ch"):
            started = time.perf_counter()
            places_search(query=query)
            timings.append(time.perf_counter() - started)
    median_ms = statistics.median(timings) * 1000
    print(f"\nsearch over {Place.objects.count()} places: median {median_ms:.1f} ms")
    assert statistics.median(timings) < 0.05


@pytest.mark.django_db
def test_shipments_and_legs_point_at_the_places_of_their_codes(place_registry, tenant):
    from shipments.models import Leg
    from shipments.places.services import tenant_place_create
    from tenancy.context import tenant_context
    from tests.shipments.conftest import new_shipment

    with tenant_context(tenant.pk):
        depot = tenant_place_create(name="Our depot", codes=["DEPOT"], timezone="Europe/Berlin")
    leg = {
        "segment": "first_mile",
        "mode": "road_ftl",
        "origin_locode": "NLRTM",
        "destination_locode": "DEPOT",
    }
    with CaptureQueriesContext(connection) as queries:
        shipment = new_shipment(
            tenant, origin_locode="NLRTM", destination_locode="ZZZZZ", legs=[leg]
        )
    assert len([q for q in queries if "places_place" in q["sql"]]) == 1  # all codes at once
    assert shipment.origin_place.code == "NLRTM" and shipment.origin_locode == "NLRTM"
    # A code nothing is known by: kept as sent, pointing nowhere.
    assert (shipment.destination_locode, shipment.destination_place_id) == ("ZZZZZ", None)
    with tenant_context(tenant.pk):
        [saved] = Leg.objects.filter(shipment=shipment)
    assert saved.origin_place.code == "NLRTM"
    assert (saved.destination_tenant_place_id, saved.destination_place_id) == (depot.pk, None)

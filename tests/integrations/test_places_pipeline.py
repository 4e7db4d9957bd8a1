"""Every location the pipeline receives is resolved to a place, in one query per batch; a
local time whose zone is unknown is a dead letter ops can fix by registering the place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations import pipeline, services
from integrations.models import DeadLetter, InboundMessage, MessageStatus
from shipments.places.models import Place, TenantPlace
from shipments.places.services import tenant_place_create
from shipments.selectors import shipment_timeline_display
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory, events_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]


def _x12(reference: str, statuses: list[tuple[str, str, str, str]]) -> bytes:
    """A 214 with one AT7 (code, CCYYMMDD, HHMM, time code) + MS1 (city*state*country) each."""
    body = [f"B10*PRO{reference}*{reference}*ABCD", "LX*1"]
    for code, date, time, (ms1) in statuses:
        body += [f"AT7*{code}*NS***{date}*{time}", f"MS1*{ms1}"]
    segments = ["ST*214*0001", *body, f"SE*{len(body) + 2}*0001"]
    isa = (
        "ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*"
        "00401*000000201*0*P*>"
    )
    return (
        "~".join(
            [
                isa,
                "GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010",
                *segments,
                "GE*1*1",
                "IEA*1*000000201",
            ]
        )
        + "~"
    ).encode()


def _edifact(consignment: str, locode: str, when: str) -> bytes:
    segments = [
        "UNH+1+IFTSTA:D:21A:UN",
        "BGM+23+DOC1+9",
        "DTM+137:202604111200?+0000:205",
        f"CNI+1+{consignment}",
        "STS+1+1",
        f"DTM+334:{when}:203",
        f"LOC+175+{locode}",
        "UNT+8+1",
    ]
    return (
        "UNB+UNOC:3+SENDER+MILEPOST+260411:1200+REF9'" + "'".join(segments) + "'UNZ+1+REF9'"
    ).encode()


def _process(tenant, integration, *bodies):
    with tenant_context(tenant.pk):
        ids = [
            services.message_store(
                integration=integration, channel="upload", body=body, content_type="text/plain"
            ).pk
            for body in bodies
        ]
        pipeline.process_messages(ids)
    return ids


def test_locations_resolve_to_places_in_one_query_per_batch(acme, place_registry):
    integration = IntegrationFactory(tenant=acme.tenant, kind="x12")
    shipments = [ShipmentFactory(tenant=acme.tenant, reference=f"S{n}") for n in range(4)]
    bodies = [
        _x12(
            f"S{n}",
            [
                ("AF", "20260310", "0900", "Rotterdam**NL"),
                ("X1", "20260311", "0900", "El Paso*TX*US"),
                ("X1", "20260312", "0900", "Nowhere Junction*TX*US"),  # zone unknown
                ("D1", "20260313", "0900", "Chicago*IL"),  # no MS103: US implied
            ],
        )
        for n in range(4)
    ]
    with CaptureQueriesContext(connection) as queries:
        _process(acme.tenant, integration, *bodies)
    place_queries = [q for q in queries if "places_place" in q["sql"]]
    assert len(place_queries) == 1  # 4 messages, 16 events, 4 locations: one query
    rotterdam, el_paso = Place.objects.get(code="NLRTM"), Place.objects.get(code="USELP")
    events = events_of(acme.tenant, shipments[0])
    assert [(e.location, e.place_id) for e in events] == [
        ("Rotterdam, NL", rotterdam.pk),
        ("El Paso, TX, US", el_paso.pk),
        ("Chicago, IL", Place.objects.get(code="USCHI").pk),
    ]
    assert events[1].occurred_at == datetime(2026, 3, 11, 15, 0, tzinfo=UTC)  # MDT, not CDT
    with tenant_context(acme.tenant.pk):
        letters = DeadLetter.objects.filter(message__integration=integration)
        assert {d.reason for d in letters} == {"time zone of Nowhere Junction, TX, US unknown"}


def test_unknown_zone_is_a_dead_letter_until_the_place_is_registered(acme, place_registry):
    integration = IntegrationFactory(tenant=acme.tenant, kind="edifact")
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("consignment", "CONS-9")])
    [message_id] = _process(acme.tenant, integration, _edifact("CONS-9", "ZZDEP", "202604110800"))
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get(pk=message_id)
        [letter] = DeadLetter.objects.filter(message=message)
        assert message.status == MessageStatus.DEAD
        assert letter.reason == "time zone of ZZDEP unknown"
        assert events_of(acme.tenant, shipment) == []
        depot = tenant_place_create(
            name="Depot Zed", codes=["ZZDEP"], latitude=35.68, longitude=139.77
        )
        assert depot.timezone == "Asia/Tokyo"  # from the coordinates (tzfpy)
        services.dead_letter_replay(dead_letter=letter)
        letter.refresh_from_db()
        assert letter.resolved_at is not None
    [event] = events_of(acme.tenant, shipment)
    assert event.occurred_at == datetime(2026, 4, 10, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo
    assert (event.tenant_place_id, event.place_id, event.location) == (depot.pk, None, "ZZDEP")
    # DTM 137 with its offset: the message's own issue time, kept in the details.
    assert event.details["issued_at"] == "2026-04-11T12:00:00+00:00"
    with tenant_context(acme.tenant.pk):
        shown = shipment_timeline_display(shipment=shipment, tenant_zone="Europe/Berlin")
    arrived = next(r for r in shown["rows"] if r["code"] == "arrived")
    assert (arrived["place"], arrived["zone"]) == ("Depot Zed", "Asia/Tokyo")
    assert arrived["local"]["actual"] == "2026-04-11T08:00:00+09:00"


def test_epcis_sgln_shows_as_the_tenant_place_and_others_do_not_see_it(acme, place_registry):
    with tenant_context(acme.tenant.pk):
        dc = tenant_place_create(
            name="Chicago DC",
            kind="gln",
            codes=["urn:epc:id:sgln:0614141.07346.1234"],
            place_code="USCHI",
        )
    integration = IntegrationFactory(tenant=acme.tenant, kind="epcis")
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("tracking_number", "EPC-1")])
    body = (
        b'{"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "ObjectEvent",'
        b' "eventTime": "2026-05-01T10:00:00-05:00", "eventTimeZoneOffset": "-05:00",'
        b' "recordTime": "2026-05-01T15:05:00Z", "epcList": ["EPC-1"], "action": "OBSERVE",'
        b' "bizStep": "arriving",'
        b' "readPoint": {"id": "https://id.gs1.org/414/0614141073467/254/1234"}}]}}'
    )
    _process(acme.tenant, integration, body)
    [event] = events_of(acme.tenant, shipment)
    assert event.tenant_place_id == dc.pk and dc.timezone == "America/Chicago"
    assert event.location == "https://id.gs1.org/414/0614141073467/254/1234"  # as sent
    assert event.details["issued_at"] == "2026-05-01T15:05:00+00:00"
    with tenant_context(acme.tenant.pk):
        shown = shipment_timeline_display(shipment=shipment, tenant_zone="Europe/Berlin")
    arrived = next(r for r in shown["rows"] if r["code"] == "arrived")
    assert (arrived["place"], arrived["zone"]) == ("Chicago DC", "America/Chicago")
    # Another tenant's identical event does not resolve to Acme's place.
    other_integration = IntegrationFactory(tenant=acme.other_tenant, kind="epcis")
    other = ShipmentFactory(tenant=acme.other_tenant, references=[("tracking_number", "EPC-1")])
    _process(acme.other_tenant, other_integration, body)
    [foreign] = events_of(acme.other_tenant, other)
    assert foreign.tenant_place_id is None
    assert "no place is known" in foreign.details["place_unresolved"]
    with tenant_context(acme.other_tenant.pk):
        assert not TenantPlace.objects.filter(pk=dc.pk).exists()


@covers_url("places-search", "places-tenant", "places-tenant-detail")
def test_places_api_search_register_and_isolation(acme, place_registry):
    ops = acme.client("ops")
    search = reverse("places-search")
    response = ops.get(search, {"q": "rott"})
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["code"] == "NLRTM"
    assert ops.get(search).json()["error"]["code"] == "invalid_query"
    listing = reverse("places-tenant")
    created = ops.post(
        listing,
        data={"name": "Main DC", "codes": ["DC-1"], "timezone": "Europe/Berlin"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    place_id = created.json()["id"]
    detail = reverse("places-tenant-detail", args=[place_id])
    assert ops.get(detail).json()["name"] == "Main DC"
    assert [p["name"] for p in ops.get(listing).json()["results"]] == ["Main DC"]
    bad = ops.post(listing, data={"name": "X", "codes": ["DC-1"]}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["codes"]
    # Someone else's place answers 404 like a missing one; other roles are refused.
    outsider = acme.client("outsider")
    assert outsider.get(detail).status_code == 404
    assert outsider.get(reverse("places-tenant-detail", args=[999999])).status_code == 404
    assert outsider.get(listing).json()["results"] == []
    for role in ("customer", "driver", "sales", "finance"):
        assert acme.client(role).get(search, {"q": "rott"}).status_code == 403, role
        assert acme.client(role).get(listing).status_code == 403, role
    assert acme.client("anonymous").get(search, {"q": "rott"}).status_code in (401, 403)

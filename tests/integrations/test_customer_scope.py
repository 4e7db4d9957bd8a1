"""A key limited to customer accounts reads and writes only those accounts' shipments, sees
only the messages it sent, never integrations (tokens, secrets, inbox paths), and its inbound
events reach only its accounts' shipments (issue 10, item 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import DeadLetter, InboundMessage, PositionPing
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scope(acme):
    mine = ShipmentFactory(
        tenant=acme.tenant,
        references=[("purchase_order", "PO-MINE")],
        customer_account=acme.customer_account,
    )
    theirs = ShipmentFactory(
        tenant=acme.tenant,
        references=[("purchase_order", "PO-THEIRS")],
        customer_account=acme.other_customer_account,
    )
    with tenant_context(acme.tenant.pk):
        key = api_key_issue(
            name="shipper portal",
            scopes=["read", "write", "ingest"],
            customer_accounts=[acme.customer_account],
        ).raw_key
    client = Client(headers={"Authorization": f"Bearer {key}"})
    return acme, mine, theirs, client


@covers_url("ingest-field-stops", "ingest-field-shipment-positions")
def test_stops_and_positions_of_another_account_are_not_found(scope):
    acme, mine, theirs, client = scope
    stops = {"stops": [{"name": "Dock", "lat": 53.5, "lon": 10.0}]}
    for shipment, expected in ((mine, 200), (theirs, 404)):
        stops_url = reverse("ingest-field-stops", args=[shipment.pk])
        positions_url = reverse("ingest-field-shipment-positions", args=[shipment.pk])
        assert client.get(stops_url).status_code == expected
        assert client.get(positions_url).status_code == expected
        created = client.post(stops_url, data=stops, content_type="application/json")
        assert created.status_code == (201 if expected == 200 else 404)
    with tenant_context(acme.tenant.pk):
        assert not theirs.stops.exists()


def _x12(reference: str, control: int) -> bytes:
    return (
        "ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*"
        f"00401*{control:09d}*0*P*>~GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010~"
        f"ST*214*0001~B10*PRO{control}*SID{control}*ABCD~L11*{reference}*PO~LX*1~"
        "AT7*AF*NS***20260305*0900*UT~SE*6*0001~"
        f"GE*1*1~IEA*1*{control:09d}~"
    ).encode()


@covers_url("ingest-messages", "ingest-message-detail")
def test_an_upload_reaches_only_the_keys_accounts_and_the_key_sees_only_its_messages(
    scope, eager_celery, django_capture_on_commit_callbacks
):
    acme, mine, theirs, client = scope
    integration = IntegrationFactory(tenant=acme.tenant, kind="x12", partner_name="ABCD")
    url = f"{reverse('ingest-messages')}?integration={integration.pk}"
    ids = {}
    for name, reference in (("mine", "PO-MINE"), ("theirs", "PO-THEIRS")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                url, data=_x12(reference, len(ids) + 1), content_type="application/edi-x12"
            )
        assert response.status_code == 202
        ids[name] = response.json()["message_id"]
    with tenant_context(acme.tenant.pk):
        assert TrackingEvent.objects.filter(shipment=mine).count() == 1
        assert not TrackingEvent.objects.filter(shipment=theirs).exists()
        [letter] = DeadLetter.objects.filter(message_id=ids["theirs"])
        assert "outside the customer accounts" in letter.reason
        staff_message = InboundMessage.objects.create(channel="upload", body=b"x", sha256="x")
    own = client.get(reverse("ingest-message-detail", args=[ids["mine"]]))
    assert own.status_code == 200
    other = client.get(reverse("ingest-message-detail", args=[staff_message.pk]))
    assert other.status_code == 404
    staff_view = acme.client("ops").get(reverse("ingest-message-detail", args=[staff_message.pk]))
    assert staff_view.status_code == 200


@covers_url("ingest-integrations", "ingest-integration-detail", "ingest-dead-letters")
def test_a_limited_key_never_sees_integrations_or_other_dead_letters(scope):
    acme, _, _, client = scope
    integration = IntegrationFactory(tenant=acme.tenant, kind="x12")
    listing = client.get(reverse("ingest-integrations"))
    detail = client.get(reverse("ingest-integration-detail", args=[integration.pk]))
    for response in (listing, detail):
        assert response.status_code == 403
        assert str(integration.token) not in response.content.decode()
    assert client.get(reverse("ingest-dead-letters")).status_code == 403


@covers_url("ingest-field-positions")
def test_pings_of_a_limited_key_attach_only_to_its_accounts(
    scope, eager_celery, django_capture_on_commit_callbacks
):
    acme, mine, theirs, client = scope
    at = datetime(2026, 3, 5, 9, tzinfo=UTC).isoformat()
    pings = [
        {"reference": "PO-MINE", "lat": 53.5, "lon": 10.0, "at": at},
        {"reference": "PO-THEIRS", "lat": 53.5, "lon": 10.0, "at": at},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("ingest-field-positions"),
            data=json.dumps(pings),
            content_type="application/json",
        )
    assert response.status_code == 202
    with tenant_context(acme.tenant.pk):
        assert PositionPing.objects.filter(shipment=mine).count() == 1
        assert not PositionPing.objects.filter(shipment=theirs).exists()

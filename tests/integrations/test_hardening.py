"""Issue 10's probes, each reproduced: bad input gets a clear JSON error and loses nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations import formats
from integrations.models import DeadLetter, InboundMessage, MessageStatus
from integrations.parsers.base import Format
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db

DEEP = ("[" * 5000 + "]" * 5000).encode()


def _deep_object(key: str) -> bytes:
    return (f'{{"{key}": ' + "[" * 5000 + "]" * 5000 + "}").encode()


def test_an_id_beyond_bigint_is_a_json_404_not_a_database_error(acme):
    url = "/api/v1/ingest/webhooks/9223372036854775808/0f0e0d0c-0b0a-4908-8706-050403020100/"
    response = Client().post(url, data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@covers_url(
    "ingest-field-scans",
    "ingest-field-stops",
    "api-keys",
    "ingest-integrations",
    "ingest-feed-mapping",
)
def test_json_nested_5000_deep_is_a_400_naming_the_limit(acme):
    integration = IntegrationFactory(tenant=acme.tenant, kind="csv")
    shipment = ShipmentFactory(tenant=acme.tenant)
    targets = [
        ("ops", reverse("ingest-field-scans"), "post"),
        ("ops", reverse("ingest-field-stops", args=[shipment.pk]), "post"),
        ("admin", reverse("api-keys"), "post"),
        ("ops", reverse("ingest-integrations"), "post"),
        ("ops", reverse("ingest-feed-mapping", args=[integration.pk]), "put"),
    ]
    for who, url, method in targets:
        client = acme.client(who)
        for body in (DEEP, _deep_object("mapping")):
            response = getattr(client, method)(url, data=body, content_type="application/json")
            assert response.status_code == 400, (url, response.content[:200])
            assert response.json()["error"]["code"] in ("too_deep", "invalid_json"), url


@covers_url("ingest-field-stops", "ingest-integrations", "ingest-field-scans")
def test_a_nul_character_is_refused_with_the_field_named(acme):
    shipment = ShipmentFactory(tenant=acme.tenant)
    ops = acme.client("ops")
    stops = ops.post(
        reverse("ingest-field-stops", args=[shipment.pk]),
        data={"stops": [{"name": "Dock\u0000A", "lat": 1, "lon": 2}]},
        content_type="application/json",
    )
    assert stops.status_code == 400
    assert "stops[0].name" in stops.json()["error"]["fields"]
    overrides = ops.post(
        reverse("ingest-integrations"),
        data={"name": "N", "kind": "x12", "code_overrides": {"A\u00001": "arrived"}},
        content_type="application/json",
    )
    assert overrides.status_code == 400
    assert "code_overrides.A\u00001" in overrides.json()["error"]["fields"]
    scan = ops.post(
        reverse("ingest-field-scans"),
        data={"reference": "SHIP\u00001", "milestone": "delivered"},
        content_type="application/json",
    )
    assert scan.status_code == 400
    assert "reference" in scan.json()["error"]["fields"]
    form_scan = ops.post(
        reverse("ingest-field-scans"), data={"reference": "SHIP\x001", "milestone": "delivered"}
    )
    assert form_scan.status_code == 400
    assert "reference" in form_scan.json()["error"]["fields"]


def _x12_with_nul() -> bytes:
    return (
        b"ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*"
        b"00401*000000301*0*P*>~GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010~ST*214*0001~"
        b"B10*PRO1*NUL\x00REF*ABCD~LX*1~AT7*AF*NS***20260305*0900*UT~SE*5*0001~"
        b"ST*214*0002~B10*PRO2*GOODREF*ABCD~LX*1~AT7*AF*NS***20260305*0900*UT~SE*5*0002~"
        b"GE*2*1~IEA*1*000000301~"
    )


@covers_url("ingest-messages", "ingest-dead-letters-replay-all")
def test_a_nul_in_a_message_dead_letters_that_event_and_replay_all_still_answers(
    acme, eager_celery, django_capture_on_commit_callbacks
):
    ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "GOODREF")])
    integration = IntegrationFactory(tenant=acme.tenant, kind="x12", partner_name="ABCD")
    ops = acme.client("ops")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = ops.post(
            f"{reverse('ingest-messages')}?integration={integration.pk}",
            data=_x12_with_nul(),
            content_type="application/edi-x12",
        )
    assert accepted.status_code == 202
    message_id = accepted.json()["message_id"]
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get(pk=message_id)
        assert message.status == MessageStatus.PARTIALLY_FAILED
        assert message.events_applied == 1
        [letter] = DeadLetter.objects.filter(message=message)
        assert "NUL" in letter.reason
    replay = acme.client("admin").post(reverse("ingest-dead-letters-replay-all"))
    assert replay.status_code == 200
    assert replay.json()["messages"] == 1 and replay.json()["failed"] == []


def _raise_bug(data: bytes, context: object) -> None:
    raise RuntimeError("parser bug")


@covers_url("ingest-dead-letters-replay-all", "ingest-dead-letter-replay")
def test_a_replay_that_fails_keeps_its_letter_with_the_new_reason_and_others_replay(
    acme, monkeypatch
):
    """A format plugin whose parser has a bug stands in for a message the pipeline cannot
    handle; nothing of the replay itself is patched."""
    monkeypatch.setitem(formats.FORMATS, "buggy", Format("buggy", "Buggy", _raise_bug))
    ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "GOODREF")])
    integration = IntegrationFactory(tenant=acme.tenant, kind="x12", partner_name="ABCD")
    with tenant_context(acme.tenant.pk):
        good = InboundMessage.objects.create(
            integration=integration,
            channel="upload",
            body=_x12_with_nul(),
            sha256="a",
            status=MessageStatus.DEAD,
        )
        bad = InboundMessage.objects.create(
            channel="upload",
            body=b"odd",
            sha256="b",
            format_hint="buggy",
            status=MessageStatus.DEAD,
        )
        for message in (good, bad):
            DeadLetter.objects.create(message=message, reason="before the fix")
    response = acme.client("ops").post(reverse("ingest-dead-letters-replay-all"))
    assert response.status_code == 200
    body = response.json()
    assert body["messages"] == 2
    assert [f["message_id"] for f in body["failed"]] == [bad.pk]
    assert "parser bug" in body["failed"][0]["reason"]
    with tenant_context(acme.tenant.pk):
        bad.refresh_from_db()
        good.refresh_from_db()
        assert bad.status == MessageStatus.DEAD and "parser bug" in bad.last_error
        assert good.status == MessageStatus.PARTIALLY_FAILED and good.events_applied == 1
        assert DeadLetter.objects.filter(message=bad, resolved_at__isnull=True).count() == 2
        letter = DeadLetter.objects.filter(message=bad, reason="before the fix").get()
    single = acme.client("ops").post(reverse("ingest-dead-letter-replay", args=[letter.pk]))
    assert single.status_code == 200
    assert single.json()["resolved_at"] is None


@covers_url("ingest-messages", "ingest-webhook", "api-me")
def test_everything_under_api_answers_json_errors(acme):
    ops = acme.client("ops")
    no_boundary = ops.post(
        reverse("ingest-messages"), data=b"--x\r\n", content_type="multipart/form-data"
    )
    assert no_boundary.status_code == 400
    assert no_boundary["Content-Type"] == "application/json"
    assert no_boundary.json()["error"]["code"] in ("bad_request", "parse_error")
    unknown = ops.get("/api/v1/no-such-thing/")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    webhook_get = Client().get(
        reverse("ingest-webhook", args=[acme.tenant.pk, "0f0e0d0c-0b0a-4908-8706-050403020100"])
    )
    assert webhook_get.status_code == 405
    assert webhook_get.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in webhook_get["Allow"]
    wrong_method = ops.delete(reverse("api-me"))
    assert wrong_method.status_code in (403, 405)
    assert "error" in wrong_method.json()
    outside = ops.get("/no-such-page/")
    assert outside.status_code == 404 and "json" not in outside["Content-Type"]


@covers_url("ingest-dead-letters-replay-all")
def test_replay_all_with_an_empty_integration_is_refused_not_taken_as_all(acme):
    """ "?integration=" names no integration: replaying everything instead would surprise."""
    response = acme.client("ops").post(f"{reverse('ingest-dead-letters-replay-all')}?integration=")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"integration": ["Unknown integration."]}

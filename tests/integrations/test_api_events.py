"""Events pushed through the partner API go through the pipeline like every other source:
stored first, then applied, idempotent by dedupe key; documents of a shipment; the guide."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from integrations.events.parse import parse_api_events
from integrations.models import DeadLetter, InboundMessage, MessageStatus
from integrations.parsers.base import ParseContext
from shipments.models import Shipment, TrackingEvent
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.shipments.api_fixtures import Api
from tests.shipments.api_fixtures import api as api

EVENT = {"milestone": "picked_up", "occurred_at": "2026-03-02T09:00:00+01:00", "classifier": "ACT"}


def _events(api: Api, shipment: Shipment) -> list[TrackingEvent]:
    with tenant_context(api.personas.tenant.pk):
        return list(TrackingEvent.objects.filter(shipment=shipment).order_by("id"))


def _push(client, path, body, capture):
    with capture(execute=True):
        return client.post(path, body, format="json")


@pytest.mark.django_db
def test_events_of_one_shipment_are_stored_then_applied_once(
    api: Api, eager_celery, django_capture_on_commit_callbacks
):
    path = f"/api/v1/shipments/{api.mine.public_id}/events/"
    body = {"events": [EVENT | {"location": "DEHAM", "dedupe_key": "pu-1", "code": "PU"}]}
    client = api.client("full")
    response = _push(client, path, body, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    assert response.json()["events"] == 1
    with tenant_context(api.personas.tenant.pk):
        message = InboundMessage.objects.get(pk=response.json()["message_id"])
        assert message.format == "api_events"
        assert message.status == MessageStatus.PROCESSED
        assert b'"dedupe_key":"pu-1"' in bytes(message.body)  # the raw body was kept
    events = _events(api, api.mine)
    picked = [e for e in events if e.milestone == "picked_up"]
    assert len(picked) == 1
    assert picked[0].location == "DEHAM" and picked[0].raw_code == "PU"
    assert picked[0].inbound_message_id == message.pk
    # Again with the same dedupe key (even in another body): recorded once.
    again = {"events": [EVENT | {"dedupe_key": "pu-1", "location": "elsewhere"}]}
    assert _push(client, path, again, django_capture_on_commit_callbacks).status_code == 202
    assert len([e for e in _events(api, api.mine) if e.milestone == "picked_up"]) == 1
    timeline = client.get(f"/api/v1/shipments/{api.mine.public_id}/timeline/").json()
    assert timeline["status"] == "in_transit"


@pytest.mark.django_db
def test_events_matched_by_reference_for_many_shipments(
    api: Api, eager_celery, django_capture_on_commit_callbacks
):
    body = {
        "events": [
            EVENT | {"reference": "MINE1"},
            EVENT | {"reference": "THEIRS1", "milestone": "departed"},
        ]
    }
    response = _push(
        api.client("full"), "/api/v1/events/", body, django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    assert [e.milestone for e in _events(api, api.mine)] == ["picked_up"]
    assert [e.milestone for e in _events(api, api.theirs)] == ["departed"]


@pytest.mark.django_db
def test_a_limited_key_reaches_only_its_accounts_shipments(
    api: Api, eager_celery, django_capture_on_commit_callbacks
):
    body = {"events": [EVENT | {"reference": "MINE1"}, EVENT | {"reference": "THEIRS1"}]}
    response = _push(
        api.client("limited"), "/api/v1/events/", body, django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    assert len(_events(api, api.mine)) == 1
    assert _events(api, api.theirs) == []
    with tenant_context(api.personas.tenant.pk):
        assert DeadLetter.objects.filter(reason__contains="outside the customer accounts").exists()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"occurred_at": "2026-03-02T09:00:00"}, "events[0].occurred_at"),
        ({"milestone": "teleported"}, "events[0].milestone"),
        ({"classifier": "MAYBE"}, "events[0].classifier"),
    ],
)
@pytest.mark.django_db
def test_bad_events_are_400_naming_the_field_and_kept_as_dead_messages(api: Api, event, field):
    path = f"/api/v1/shipments/{api.mine.public_id}/events/"
    response = api.client("full").post(path, {"events": [EVENT | event]}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(api.personas.tenant.pk):
        dead = InboundMessage.objects.get(status=MessageStatus.DEAD)
        assert DeadLetter.objects.filter(message=dead).exists()


def test_the_format_parses_both_shapes_and_keys_events_stably():
    body = (
        b'{"shipment": "shp_0123456789abcdef", "events": [{"milestone": "departed",'
        b' "occurred_at": "2026-03-02T09:00:00+01:00", "classifier": "EST"},'
        b' {"reference": "R1", "milestone": "arrived", "occurred_at": "2026-03-03T09:00:00Z",'
        b' "classifier": "ACT", "dedupe_key": "k"}, {"milestone": ""}]}'
    )
    result = parse_api_events(body, ParseContext())
    first, second = result.events
    assert first.references == (("milepost", "shp_0123456789abcdef"),)
    assert second.references == (("any", "R1"),)
    assert second.dedupe_key == "ev:k"
    assert first.dedupe_key.startswith("ev:h:")
    assert parse_api_events(body, ParseContext()).events[0].dedupe_key == first.dedupe_key
    assert len(result.errors) == 1 and "milestone" in result.errors[0].reason


@pytest.mark.django_db
def test_documents_of_a_shipment_upload_and_list(api: Api):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    path = f"/api/v1/shipments/{api.mine.public_id}/documents/"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("pod.pdf", pdf, content_type="application/pdf")
    client = api.client("full")
    response = client.post(path, {"file": upload, "document_type": "proof_of_delivery"})
    assert response.status_code == 202, response.content
    listed = client.get(path).json()["results"]
    assert len(listed) == 1
    assert listed[0]["document_type"] == "proof_of_delivery"
    assert listed[0]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert client.get(f"/api/v1/shipments/{api.theirs.public_id}/documents/").json() == {
        "results": []
    }
    assert client.post(path, {}).status_code == 400


@pytest.mark.django_db
@covers_url("api-events", "api-shipment-events", "api-shipment-documents")
def test_access_to_the_intake_endpoints(api: Api):
    mine, theirs = api.mine, api.theirs
    events = f"/api/v1/shipments/{mine.public_id}/events/"
    documents = f"/api/v1/shipments/{mine.public_id}/documents/"
    body = {"events": [EVENT]}
    outsider = api.client("outsider")
    assert outsider.post(events, body, format="json").status_code == 404
    assert outsider.get(documents).status_code == 404
    assert outsider.post(documents, {}).status_code == 404
    assert api.personas.client("outsider").get(documents).status_code == 404
    limited = api.client("limited")
    assert limited.post(events, body, format="json").status_code == 202
    assert limited.get(documents).status_code == 200
    other = f"/api/v1/shipments/{theirs.public_id}/"
    assert limited.post(other + "events/", body, format="json").status_code == 404
    assert limited.get(other + "documents/").status_code == 404
    assert (
        limited.post(
            "/api/v1/events/", {"events": [EVENT | {"reference": "x"}]}, format="json"
        ).status_code
        == 202
    )
    read = api.client("read")
    assert read.post(events, body, format="json").status_code == 403
    assert read.post("/api/v1/events/", body, format="json").status_code == 403
    assert read.get(documents).status_code == 200
    customer = api.personas.client("customer")
    assert customer.post(events, body, content_type="application/json").status_code == 403
    assert customer.get(documents).status_code == 200
    assert (
        api.personas.client("sales")
        .post("/api/v1/events/", body, content_type="application/json")
        .status_code
        == 403
    )
    assert (
        api.personas.client("ops").post(events, body, content_type="application/json").status_code
        == 202
    )
    from rest_framework.test import APIClient

    assert APIClient().post("/api/v1/events/", body, format="json").status_code in (401, 403)


@pytest.mark.django_db
@covers_url("api-guide")
def test_the_guide_shows_the_five_tasks_without_a_cdn(client):
    response = client.get("/api/guide/")
    assert response.status_code == 200
    page = response.content.decode()
    for anchor in ("create", "events", "timeline", "subscribe", "verify"):
        assert f'id="{anchor}"' in page
    assert "curl" in page and "/api/v1/webhooks/" in page and "standardwebhooks" in page
    assert "https://cdn" not in page and '<script src="http' not in page


def _sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_guides_standard_library_verification_accepts_and_rejects_as_the_package_does():
    from tenancy.api.guide import VERIFY_WITH_STDLIB

    namespace: dict = {}
    exec(VERIFY_WITH_STDLIB, namespace)  # exactly what the page shows
    verify = namespace["verify"]
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body, now = (
        b'{"type": "shipment.updated", "timestamp": "2026-03-05T09:00:00Z", "data": {}}',
        int(time.time()),
    )
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1,bm90LXRoaXMtb25l " + _sign(secret, "msg_1", now, body),
    }
    assert verify(secret, headers, body)["type"] == "shipment.updated"
    with pytest.raises(ValueError):
        verify(secret, headers, body.replace(b"updated", b"created"))
    with pytest.raises(ValueError):
        verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    stale = headers | {"webhook-timestamp": str(now - 3600)}
    stale["webhook-signature"] = _sign(secret, "msg_1", now - 3600, body)
    with pytest.raises(ValueError):
        verify(secret, stale, body)
    from standardwebhooks import webhooks as standardwebhooks

    # The package accepts what the standard library accepts.
    assert standardwebhooks.Webhook(secret).verify(body, headers)["type"] == "shipment.updated"


@pytest.mark.django_db
def test_an_offset_past_what_postgresql_takes_is_applied_in_utc(
    api: Api, eager_celery, django_capture_on_commit_callbacks
):
    # Python reads offsets up to 23:59, PostgreSQL stores at most 15:59: the event is kept
    # as the same instant, not lost with its batch.
    path = f"/api/v1/shipments/{api.mine.public_id}/events/"
    event = EVENT | {"occurred_at": "2026-03-01T08:00:00-16:50", "dedupe_key": "far-west"}
    client = api.client("full")
    response = _push(client, path, {"events": [event]}, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    with tenant_context(api.personas.tenant.pk):
        message = InboundMessage.objects.get(pk=response.json()["message_id"])
        assert message.status == MessageStatus.PROCESSED
    (applied,) = [e for e in _events(api, api.mine) if e.dedupe_key.endswith("far-west")]
    assert applied.occurred_at.isoformat() == "2026-03-02T00:50:00+00:00"

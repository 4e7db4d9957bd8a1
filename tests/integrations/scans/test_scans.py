"""Driver and warehouse scans: stored raw with attachments, parsed into ACT events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from config.celery import app
from integrations import pipeline
from integrations.models import Attachment, InboundMessage, MessageStatus
from integrations.pipeline import parse_stored
from integrations.scans import parse as scans
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.shipments.factories import ShipmentFactory, events_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture(autouse=True)
def eager_celery(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@covers_url("ingest-field-scans")
def test_driver_scan_with_photo_and_signature_becomes_an_act_event(
    acme, django_capture_on_commit_callbacks
):
    shipment = ShipmentFactory(tenant=acme.tenant, reference="SHIP200")
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("driver").post(
            reverse("ingest-field-scans"),
            data={
                "reference": "SHIP200",
                "milestone": "delivered",
                "occurred_at": "2026-03-05T09:00:00+01:00",
                "lat": "53.55",
                "lon": "9.99",
                "accuracy_m": "8",
                "note": "left at the back door",
                "photo": SimpleUploadedFile("p.png", PNG, "image/png"),
                "signature": SimpleUploadedFile("s.jpg", JPEG, "image/jpeg"),
            },
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert {a["kind"] for a in body["attachments"]} == {"photo", "signature"}
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get(pk=body["message_id"])
        assert message.channel == "scan"
        assert message.format_hint == "scan"
        assert message.status == MessageStatus.PROCESSED
        attachments = list(Attachment.objects.filter(message=message).order_by("kind"))
        assert [a.kind for a in attachments] == ["photo", "signature"]
        assert attachments[0].size == len(PNG)
        assert attachments[0].file.read() == PNG
    [event] = events_of(acme.tenant, shipment, order=("id",))
    assert event.milestone == "delivered"
    assert event.classifier == "ACT"
    assert event.occurred_at == datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    assert event.location == "53.550000,9.990000"
    extra = event.details["extra"]
    assert extra["scanned_by"]["email"] == "driver@acme.test"
    assert {a["id"] for a in extra["attachments"]} == {a.pk for a in attachments}


@covers_url("ingest-field-scans")
def test_api_key_json_scan_defaults_time_and_unknown_reference_is_held(
    acme, django_capture_on_commit_callbacks
):
    with tenant_context(acme.tenant.pk):
        key = api_key_issue(name="scanner", scopes=["ingest"]).raw_key
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            reverse("ingest-field-scans"),
            data={"reference": "NOPE1", "milestone": "picked_up", "location": "Dock 4"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 202, response.content
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get(pk=response.json()["message_id"])
        assert message.events_held == 1
        assert message.status == MessageStatus.PROCESSED
    # The shipment appears later: the held scan is applied.
    shipment = ShipmentFactory(tenant=acme.tenant, reference="NOPE1")
    with tenant_context(acme.tenant.pk):
        pipeline.apply_held_for_new_references(["NOPE1"])
    [event] = events_of(acme.tenant, shipment, order=("id",))
    assert event.milestone == "picked_up"
    assert event.location == "Dock 4"
    assert event.details["extra"]["scanned_by"]["api_key"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"milestone": "delivered"}, "reference"),
        ({"reference": "X", "milestone": "teleported"}, "milestone"),
        (
            {"reference": "X", "milestone": "delivered", "occurred_at": "2026-03-05 09:00"},
            "occurred_at",
        ),
        ({"reference": "X", "milestone": "delivered", "occurred_at": "yesterday"}, "occurred_at"),
        (
            {"reference": "X", "milestone": "delivered", "occurred_at": "2099-01-01T00:00Z"},
            "occurred_at",
        ),
        ({"reference": "X", "milestone": "delivered", "lat": 91, "lon": 0}, "lat"),
        ({"reference": "X", "milestone": "delivered", "lat": 10, "lon": "east"}, "lon"),
        ({"reference": "X", "milestone": "delivered", "lat": 10}, "lon"),
        ({"reference": "X", "milestone": "delivered", "accuracy_m": -1}, "accuracy_m"),
        ({"reference": ["X"], "milestone": "delivered"}, "reference"),
    ],
)
@covers_url("ingest-field-scans")
def test_bad_scans_are_400_naming_the_field_and_kept_as_dead_letters(acme, data, field):
    response = acme.client("driver").post(
        reverse("ingest-field-scans"), data=data, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        [refused] = InboundMessage.objects.all()
        assert refused.status == MessageStatus.DEAD
        assert json.loads(refused.body.tobytes()) == data
        assert field in refused.dead_letters.get().reason
        assert not TrackingEvent.objects.exists()


@covers_url("ingest-field-scans")
def test_scan_files_must_be_small_images_and_json_must_be_an_object(acme, settings):
    client = acme.client("ops")
    url = reverse("ingest-field-scans")
    fields = {"reference": "SHIP200", "milestone": "delivered"}
    not_image = client.post(
        url, data=fields | {"photo": SimpleUploadedFile("x.pdf", b"%PDF-1.4", "application/pdf")}
    )
    assert not_image.status_code == 400
    assert "photo" in not_image.json()["error"]["fields"]
    lying = client.post(
        url, data=fields | {"signature": SimpleUploadedFile("x.png", b"GIF89a....", "image/png")}
    )
    assert lying.status_code == 400
    big = PNG + b"\x00" * scans.MAX_ATTACHMENT_BYTES
    too_big = client.post(
        url, data=fields | {"photo": SimpleUploadedFile("big.png", big, "image/png")}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "file_too_large"
    garbage = client.post(url, data=b"{nope", content_type="application/json")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "invalid_json"
    array = client.post(url, data=b"[1,2]", content_type="application/json")
    assert array.status_code == 400
    with tenant_context(acme.tenant.pk):
        # Every refusal is kept (dead, with its reason); no file of a refused scan is saved.
        refused = list(InboundMessage.objects.order_by("pk"))
        assert len(refused) == 5
        assert {m.status for m in refused} == {MessageStatus.DEAD}
        assert json.loads(refused[0].body.tobytes())["files"][0]["name"] == "x.pdf"
        assert refused[3].body.tobytes() == b"{nope"
        assert not Attachment.objects.exists()


@covers_url("ingest-field-scans")
def test_scan_roles_and_scopes(acme):
    url = reverse("ingest-field-scans")
    data = {"reference": "SHIP200", "milestone": "delivered"}
    for role in ("customer", "finance", "sales"):
        response = acme.client(role).post(url, data=data, content_type="application/json")
        assert response.status_code == 403
    with tenant_context(acme.tenant.pk):
        read_key = api_key_issue(name="reader", scopes=["read"]).raw_key
    response = Client().post(
        url,
        data=data,
        content_type="application/json",
        headers={"Authorization": f"Bearer {read_key}"},
    )
    assert response.status_code == 403
    assert Client().post(url, data=data, content_type="application/json").status_code in (401, 403)


def test_scan_of_tenant_a_never_touches_tenant_b(acme, django_capture_on_commit_callbacks):
    other = ShipmentFactory(tenant=acme.other_tenant, reference="SHARED1")
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("driver").post(
            reverse("ingest-field-scans"),
            data={"reference": "SHARED1", "milestone": "delivered"},
            content_type="application/json",
        )
    assert response.status_code == 202
    assert events_of(acme.other_tenant, other, order=("id",)) == []
    with tenant_context(acme.tenant.pk):
        assert InboundMessage.objects.get().events_held == 1


def test_parse_scan_rejects_a_stored_body_that_is_not_a_scan(acme):
    with tenant_context(acme.tenant.pk):
        message = InboundMessage(body=b'{"reference": "X"}', format_hint="scan")
        with pytest.raises(scans.ParseError, match="milestone is missing"):
            parse_stored(message)

"""Documents: upload, text extraction (PDF text layer, OCR), proposals, auto-apply, review."""

from __future__ import annotations

import io
import os
import shutil
from datetime import UTC, datetime
from unittest.mock import ANY

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from integrations import pipeline, services
from integrations.documents import extraction
from integrations.documents import services as documents
from integrations.models import (
    Attachment,
    DeadLetter,
    InboundMessage,
    IngestPolicy,
    MessageStatus,
    ProposalStatus,
    ProposedUpdate,
)
from shipments.models import SourceKind
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.shipments.factories import ShipmentFactory, events_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

CONTAINER = "CSQU3054383"  # ISO 6346 check digit 3
TRACKING = "TRK-778899"

POD_LINES = [
    "PROOF OF DELIVERY",
    "Issued: 11 Mar 2026",
    "Container No: CSQU 305438 3",
    f"Tracking No: {TRACKING}",
    "Delivered on: 2026-03-12 14:05",
    "Received by: J. Smith",
    "Signature: J. Smith",
]
# The same without a check-digit number: 0.9, below the default threshold of 0.95.
POD_NO_CONTAINER = [line for line in POD_LINES if not line.startswith("Container")]


def make_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF whose text layer (Helvetica) holds these lines."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
    ops += [f"({escape(line)}) Tj T*" for line in lines]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_png(lines: list[str]) -> bytes:
    """Black text on white, large enough for tesseract."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=40)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        font = ImageFont.load_default()
    image = Image.new("L", (1400, 90 + 70 * len(lines)), color=255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((50, 50 + 70 * index), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _pod_shipment(tenant):
    return ShipmentFactory(
        tenant=tenant, references=[("container", CONTAINER), ("tracking_number", TRACKING)]
    )


def _upload(client, body, capture, name="pod.pdf", headers=None, **data):
    with capture(execute=True):
        return client.post(
            reverse("ingest-documents"),
            {"file": SimpleUploadedFile(name, body, content_type="application/octet-stream")}
            | data,
            headers=headers or {},
        )


def _message(tenant, message_id):
    with tenant_context(tenant.pk):
        return InboundMessage.objects.get(pk=message_id)


def _proposal(tenant, message_id):
    with tenant_context(tenant.pk):
        return ProposedUpdate.objects.get(message_id=message_id)


def _key(tenant, scopes):
    with tenant_context(tenant.pk):
        return api_key_issue(name="scanner", scopes=scopes).raw_key


def _store(tenant, body, **kwargs):
    with tenant_context(tenant.pk):
        return documents.document_store(body=body, filename="doc", **kwargs)


def _process(tenant, message_id, force=False):
    with tenant_context(tenant.pk):
        pipeline.process_messages([message_id], force=force)


# --- extraction -----------------------------------------------------------------------------


def test_check_digits():
    assert extraction.container_valid("CSQU3054383")
    assert extraction.container_valid("CSQU 305438-3")
    assert not extraction.container_valid("CSQU3054384")
    assert extraction.awb_valid("020-12345675")
    assert not extraction.awb_valid("020-12345676")


def test_references_dates_and_type_from_text():
    text = "\n".join(
        [
            "AIR WAYBILL",
            "AWB No: 020-1234 5675",
            "Booking No: BK-2026-0099  PO# 4500012345",
            "B/L No: MEDU1234567",
            "Container: CSQU3054384",  # check digit wrong: kept, marked invalid, not matched
            "Flight/Date: LH8400 / 12 Mar 2026 14:05",
            "Other dates: 12/03/2026, 3/25/2026, March 5, 2026 09:30 UTC",
        ]
    )
    found = extraction.extract_fields(text, tz="Europe/Berlin")
    refs = {(r.kind, r.value, r.valid) for r in found.references}
    assert ("air_waybill", "020-12345675", True) in refs
    assert ("booking", "BK-2026-0099", None) in refs
    assert ("purchase_order", "4500012345", None) in refs
    assert ("bill_of_lading", "MEDU1234567", None) in refs  # labelled: not a container
    assert ("container", "CSQU3054384", False) in refs
    assert found.document_type == extraction.AIR_WAYBILL
    assert found.milestone == "departed"
    # Local time in the tenant's zone (CET in March): 14:05 -> 13:05 UTC.
    assert found.occurred_at.astimezone(UTC) == datetime(2026, 3, 12, 13, 5, tzinfo=UTC)
    dates = [d.at.astimezone(UTC) for d in found.dates]
    assert datetime(2026, 3, 12, 11, 0, tzinfo=UTC) in dates  # 12/03/2026, day first, noon
    assert datetime(2026, 3, 25, 11, 0, tzinfo=UTC) in dates  # 3/25/2026 can only be M/D
    assert datetime(2026, 3, 5, 9, 30, tzinfo=UTC) in dates  # explicit UTC wins over the zone


def test_classification_and_milestones():
    assert extraction.classify("CUSTOMS RELEASE\nGoods released on 2026-03-10")[0] == (
        "customs_release"
    )
    bl = extraction.extract_fields("BILL OF LADING\nB/L No: ABC123456\nShipped on board 4 Mar 2026")
    assert (bl.document_type, bl.milestone) == ("bill_of_lading", "departed")
    unsure = extraction.extract_fields("BILL OF LADING\nB/L No: ABC123456\nIssued 4 Mar 2026")
    assert unsure.milestone == ""  # no on-board date: nothing proven
    assert extraction.extract_fields("hello world").document_type == ""


def test_pdf_text_layer_is_read():
    text = extraction.extract_text(make_pdf(POD_LINES), "application/pdf")
    assert text.method == "pdf_text"
    assert "PROOF OF DELIVERY" in text.text and TRACKING in text.text


def test_sniffing_ignores_the_declared_type():
    assert extraction.sniff(make_pdf(["x"])) == "application/pdf"
    assert extraction.sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert extraction.sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert extraction.sniff(b"II*\x00") == "image/tiff"
    assert extraction.sniff(b"GIF89a") is None


# --- upload and processing ------------------------------------------------------------------


@covers_url("ingest-documents")
def test_confident_pod_is_applied_automatically(acme, django_capture_on_commit_callbacks):
    shipment = _pod_shipment(acme.tenant)
    body = make_pdf(POD_LINES)
    response = _upload(acme.client("ops"), body, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    message_id = response.json()["message_id"]
    message = _message(acme.tenant, message_id)
    assert bytes(message.body) == body
    assert message.channel == "document"
    assert message.content_type == "application/pdf"  # sniffed, not the declared octet-stream
    assert message.status == MessageStatus.PROCESSED
    assert (message.events_parsed, message.events_applied) == (1, 1)
    with tenant_context(acme.tenant.pk):
        attachment = Attachment.objects.get(message_id=message_id)
        assert attachment.kind == "document" and attachment.size == len(body)
        assert attachment.file.read() == body
        assert IngestPolicy.objects.get().document_auto_apply_threshold == 0.95  # lazily made
    proposal = _proposal(acme.tenant, message_id)
    assert proposal.status == ProposalStatus.AUTO_APPLIED
    assert proposal.confidence == 1.0
    assert proposal.document_type == "proof_of_delivery"
    assert proposal.shipment_id == shipment.pk
    assert proposal.attachment_id == attachment.pk
    assert proposal.milestone == "delivered"
    # The date has no offset: local time of the tenant (Europe/Berlin, CET in March).
    assert proposal.occurred_at == datetime(2026, 3, 12, 13, 5, tzinfo=UTC)
    assert {"kind": "container", "value": CONTAINER, "valid": True} in proposal.references
    assert "Received by" in proposal.extracted_text
    [event] = events_of(acme.tenant, shipment, order=("id",))
    assert event.pk == proposal.event_id
    assert event.milestone == "delivered"
    assert event.source_kind == SourceKind.INTEGRATION
    assert event.source_name == "document:proof_of_delivery"
    assert event.dedupe_key == f"document:{message_id}:delivered"
    assert event.inbound_message_id == message_id

    # Processing again (a redelivered task, a replay) changes nothing.
    _process(acme.tenant, message_id, force=True)
    assert len(events_of(acme.tenant, shipment, order=("id",))) == 1
    with tenant_context(acme.tenant.pk):
        assert ProposedUpdate.objects.count() == 1


def test_local_dates_use_the_tenant_time_zone(acme):
    acme.tenant.timezone = "America/New_York"
    acme.tenant.save()
    _pod_shipment(acme.tenant)
    message = _store(acme.tenant, make_pdf(POD_LINES))
    _process(acme.tenant, message.pk)
    proposal = _proposal(acme.tenant, message.pk)
    assert proposal.occurred_at == datetime(2026, 3, 12, 18, 5, tzinfo=UTC)  # EDT, UTC-4
    assert proposal.fields["time_zone"] == "America/New_York"


def test_below_threshold_waits_for_ops_and_threshold_is_per_tenant(acme):
    shipment = _pod_shipment(acme.tenant)
    message = _store(acme.tenant, make_pdf(POD_NO_CONTAINER))
    _process(acme.tenant, message.pk)
    proposal = _proposal(acme.tenant, message.pk)
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.confidence == pytest.approx(0.9)
    assert proposal.shipment_id == shipment.pk and proposal.milestone == "delivered"
    assert events_of(acme.tenant, shipment, order=("id",)) == []
    assert _message(acme.tenant, message.pk).status == MessageStatus.PROCESSED

    with tenant_context(acme.tenant.pk):
        IngestPolicy.objects.update_or_create(defaults={"document_auto_apply_threshold": 0.8})
    again = _store(acme.tenant, make_pdf([*POD_NO_CONTAINER, "Delivery note: DN-1"]))
    _process(acme.tenant, again.pk)
    assert _proposal(acme.tenant, again.pk).status == ProposalStatus.AUTO_APPLIED
    assert len(events_of(acme.tenant, shipment, order=("id",))) == 1


def test_no_matching_shipment_stays_pending(acme):
    message = _store(acme.tenant, make_pdf(POD_LINES))
    _process(acme.tenant, message.pk)
    proposal = _proposal(acme.tenant, message.pk)
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.shipment_id is None
    assert proposal.confidence == pytest.approx(0.65)


def test_other_tenants_shipment_is_never_matched(acme):
    _pod_shipment(acme.other_tenant)
    message = _store(acme.tenant, make_pdf(POD_LINES))
    _process(acme.tenant, message.pk)
    assert _proposal(acme.tenant, message.pk).shipment_id is None


@covers_url("ingest-documents")
def test_hints_and_unknown_shipment_hint(acme, django_capture_on_commit_callbacks):
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "S-1")])
    other = _pod_shipment(acme.other_tenant)
    client = acme.client("admin")
    refused = _upload(
        client, make_pdf(POD_LINES), django_capture_on_commit_callbacks, shipment_id=other.pk
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_shipment"
    bad_type = _upload(
        client, make_pdf(POD_LINES), django_capture_on_commit_callbacks, document_type="invoice"
    )
    assert bad_type.status_code == 400
    assert bad_type.json()["error"]["fields"] == {"document_type": [ANY]}
    response = _upload(
        client,
        make_pdf(["Goods handed over", "Date: 2026-03-12 10:00"]),
        django_capture_on_commit_callbacks,
        shipment_id=shipment.pk,
        document_type="pod",
    )
    assert response.status_code == 202, response.content
    proposal = _proposal(acme.tenant, response.json()["message_id"])
    assert proposal.shipment_id == shipment.pk
    assert proposal.document_type == "proof_of_delivery"
    assert proposal.milestone == "delivered"
    assert proposal.status == ProposalStatus.PENDING  # hints alone earn little confidence
    assert proposal.confidence < 0.5


@covers_url("ingest-documents")
def test_unsupported_file_is_refused_and_recorded(acme, django_capture_on_commit_callbacks):
    response = _upload(
        acme.client("ops"), b"GIF89a not a document", django_capture_on_commit_callbacks, "a.pdf"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get()
        assert message.status == MessageStatus.DEAD and message.channel == "document"
        [letter] = DeadLetter.objects.filter(message=message)
        assert letter.stage == "intake" and "unsupported document type" in letter.reason
        assert not ProposedUpdate.objects.exists()
    missing = acme.client("ops").post(reverse("ingest-documents"), {})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "file_required"


@covers_url("ingest-documents")
def test_oversized_document_is_413_and_recorded(acme, settings):
    settings.INGEST_MAX_DOCUMENT_BYTES = 1000
    response = acme.client("ops").post(
        reverse("ingest-documents"),
        {"file": SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * 2000)},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get()
        assert message.status == MessageStatus.DEAD and message.size > 1000


@covers_url("ingest-documents")
def test_broken_pdf_is_stored_then_dead_lettered(acme, django_capture_on_commit_callbacks):
    body = b"%PDF-1.4\nthis is not really a pdf"
    response = _upload(acme.client("ops"), body, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    message = _message(acme.tenant, response.json()["message_id"])
    assert bytes(message.body) == body
    assert message.status == MessageStatus.DEAD
    assert message.last_error.startswith(("unreadable PDF", "PDF has no text layer"))
    with tenant_context(acme.tenant.pk):
        [letter] = DeadLetter.objects.filter(message=message)
        assert letter.stage == "parse" and letter.reason == message.last_error
        assert not ProposedUpdate.objects.exists()


def test_without_ocr_engine_images_are_dead_lettered_then_replayed(acme, monkeypatch):
    monkeypatch.setattr(extraction, "ocr_available", lambda: False)
    message = _store(acme.tenant, make_png(["PROOF OF DELIVERY"]))
    _process(acme.tenant, message.pk)
    assert _message(acme.tenant, message.pk).status == MessageStatus.DEAD
    with tenant_context(acme.tenant.pk):
        [letter] = DeadLetter.objects.filter(message_id=message.pk)
    assert letter.reason == "no OCR engine available"
    # Once an engine is there, replaying the letter reads the document and resolves it.
    monkeypatch.setattr(extraction, "ocr_available", lambda: True)
    monkeypatch.setattr(extraction, "_ocr_image", lambda image: "PROOF OF DELIVERY\nSigned")
    with tenant_context(acme.tenant.pk):
        letter = services.dead_letter_replay(dead_letter=letter)
    assert letter.resolved_at is not None
    assert _message(acme.tenant, message.pk).status == MessageStatus.PROCESSED
    assert _proposal(acme.tenant, message.pk).document_type == "proof_of_delivery"


@pytest.mark.skipif(
    shutil.which("tesseract") is None and os.geteuid() != 0,
    reason="tesseract is not installed and cannot be without root (scripts/ocr.sh)",
)
def test_ocr_reads_an_image_document(acme):
    assert shutil.which("tesseract"), "tesseract missing: run scripts/ocr.sh (as root)"
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("tracking_number", "TRK778899")])
    lines = [
        "PROOF OF DELIVERY",
        "Tracking No: TRK778899",
        "Delivered on: 2026-03-12 14:05",
        "Signature: J. Smith",
    ]
    message = _store(acme.tenant, make_png(lines))
    _process(acme.tenant, message.pk)
    assert _message(acme.tenant, message.pk).status == MessageStatus.PROCESSED
    proposal = _proposal(acme.tenant, message.pk)
    assert proposal.fields["method"] == "ocr"
    assert proposal.document_type == "proof_of_delivery"
    assert {"kind": "tracking_number", "value": "TRK778899", "valid": None} in (proposal.references)
    assert proposal.shipment_id == shipment.pk
    assert proposal.milestone == "delivered"
    assert proposal.occurred_at == datetime(2026, 3, 12, 13, 5, tzinfo=UTC)  # Berlin local


# --- ops review -----------------------------------------------------------------------------


def _pending(acme, lines=POD_NO_CONTAINER):
    shipment = _pod_shipment(acme.tenant)
    message = _store(acme.tenant, make_pdf(lines))
    _process(acme.tenant, message.pk)
    return shipment, _proposal(acme.tenant, message.pk)


@covers_url(
    "ingest-document-proposals",
    "ingest-document-proposal-detail",
    "ingest-document-proposal-confirm",
)
def test_ops_list_and_confirm_with_overrides(acme):
    shipment, proposal = _pending(acme)
    ops = acme.client("ops")
    listed = ops.get(reverse("ingest-document-proposals"), {"status": "pending"})
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["results"]] == [proposal.pk]
    assert "extracted_text" not in listed.json()["results"][0]
    assert ops.get(reverse("ingest-document-proposals"), {"status": "applied"}).json() == {
        "results": []
    }
    bad = ops.get(reverse("ingest-document-proposals"), {"status": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_status"
    detail = ops.get(reverse("ingest-document-proposal-detail", args=[proposal.pk]))
    assert detail.status_code == 200
    assert detail.json()["milestone"] == "delivered"
    assert "PROOF OF DELIVERY" in detail.json()["extracted_text"]

    url = reverse("ingest-document-proposal-confirm", args=[proposal.pk])
    naive = ops.post(url, {"occurred_at": "2026-03-12T15:00:00"}, content_type="application/json")
    assert naive.status_code == 400
    assert naive.json()["error"]["code"] == "invalid_occurred_at"
    confirmed = ops.post(
        url,
        {"milestone": "proof_of_delivery", "occurred_at": "2026-03-12T15:00:00+00:00"},
        content_type="application/json",
    )
    assert confirmed.status_code == 200, confirmed.content
    body = confirmed.json()
    assert body["status"] == "applied" and body["decided_by"] == "ops@acme.test"
    [event] = events_of(acme.tenant, shipment, order=("id",))
    assert event.pk == body["event_id"]
    assert event.milestone == "proof_of_delivery"
    assert event.occurred_at == datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
    assert event.source_kind == SourceKind.USER
    assert event.author_id == acme.users["ops"].pk
    assert event.reason == "confirmed from document proof_of_delivery"
    with tenant_context(acme.tenant.pk):
        audit = AuditLog.objects.get(action="document.confirm")
        assert audit.target_id == str(proposal.pk) and audit.actor == acme.users["ops"]

    again = ops.post(url, {}, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_decided"
    assert len(events_of(acme.tenant, shipment, order=("id",))) == 1


@covers_url("ingest-document-proposal-confirm")
def test_confirm_needs_what_the_document_did_not_say(acme):
    other = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "S-2")])
    message = _store(acme.tenant, make_pdf(["PROOF OF DELIVERY", "Signed by J. Smith"]))
    _process(acme.tenant, message.pk)
    proposal = _proposal(acme.tenant, message.pk)
    assert proposal.shipment_id is None and proposal.occurred_at is None
    url = reverse("ingest-document-proposal-confirm", args=[proposal.pk])
    admin = acme.client("admin")
    missing = admin.post(url, {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "shipment_required"
    assert missing.json()["error"]["fields"] == {"shipment_id": [ANY]}
    no_time = admin.post(url, {"shipment_id": other.pk}, content_type="application/json")
    assert no_time.json()["error"]["code"] == "occurred_at_required"
    ok = admin.post(
        url,
        {"shipment_id": other.pk, "occurred_at": "2026-03-12T09:00:00Z"},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    assert [e.milestone for e in events_of(acme.tenant, other, order=("id",))] == ["delivered"]


@covers_url("ingest-document-proposal-reject", "ingest-document-proposal-confirm")
def test_reject_needs_a_reason_and_is_final(acme):
    shipment, proposal = _pending(acme)
    ops = acme.client("ops")
    url = reverse("ingest-document-proposal-reject", args=[proposal.pk])
    no_reason = ops.post(url, {}, content_type="application/json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["fields"]
    blank = ops.post(url, {"reason": "   "}, content_type="application/json")
    assert blank.status_code == 400
    rejected = ops.post(url, {"reason": "wrong consignee"}, content_type="application/json")
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "wrong consignee"
    with tenant_context(acme.tenant.pk):
        assert AuditLog.objects.filter(action="document.reject", reason="wrong consignee").exists()
    confirm = ops.post(
        reverse("ingest-document-proposal-confirm", args=[proposal.pk]),
        {},
        content_type="application/json",
    )
    assert confirm.status_code == 409
    assert ops.post(url, {"reason": "again"}, content_type="application/json").status_code == 409
    assert events_of(acme.tenant, shipment, order=("id",)) == []
    # Reprocessing a decided document does not reopen it.
    _process(acme.tenant, proposal.message_id, force=True)
    assert _proposal(acme.tenant, proposal.message_id).status == ProposalStatus.REJECTED


@covers_url(
    "ingest-document-proposals",
    "ingest-document-proposal-detail",
    "ingest-document-proposal-confirm",
    "ingest-document-proposal-reject",
)
def test_another_tenants_proposal_is_404(acme):
    shipment, proposal = _pending(acme)
    outsider = acme.client("outsider")
    assert outsider.get(reverse("ingest-document-proposals")).json() == {"results": []}
    assert (
        outsider.get(reverse("ingest-document-proposal-detail", args=[proposal.pk])).status_code
        == 404
    )
    for name, data in (
        ("ingest-document-proposal-confirm", {}),
        ("ingest-document-proposal-reject", {"reason": "x"}),
    ):
        response = outsider.post(
            reverse(name, args=[proposal.pk]), data, content_type="application/json"
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    other_key = _key(acme.other_tenant, ["ingest"])
    assert (
        Client()
        .get(
            reverse("ingest-document-proposal-detail", args=[proposal.pk]),
            headers={"Authorization": f"Bearer {other_key}"},
        )
        .status_code
        == 404
    )
    assert _proposal(acme.tenant, proposal.message_id).status == ProposalStatus.PENDING
    assert events_of(acme.tenant, shipment, order=("id",)) == []


@covers_url(
    "ingest-documents",
    "ingest-document-proposals",
    "ingest-document-proposal-detail",
    "ingest-document-proposal-confirm",
    "ingest-document-proposal-reject",
)
def test_roles_and_api_key_scopes(acme, django_capture_on_commit_callbacks):
    _, proposal = _pending(acme)
    detail = reverse("ingest-document-proposal-detail", args=[proposal.pk])
    confirm = reverse("ingest-document-proposal-confirm", args=[proposal.pk])
    reject = reverse("ingest-document-proposal-reject", args=[proposal.pk])
    for role in ("sales", "finance", "customer", "driver"):
        client = acme.client(role)
        assert client.post(reverse("ingest-documents"), {}).status_code == 403
        assert client.get(reverse("ingest-document-proposals")).status_code == 403
        assert client.get(detail).status_code == 403
        assert client.post(confirm, {}, content_type="application/json").status_code == 403
        assert client.post(reject, {"reason": "x"}).status_code == 403
    anonymous = Client()
    assert anonymous.get(reverse("ingest-document-proposals")).status_code in (401, 403)
    assert anonymous.post(reverse("ingest-documents"), {}).status_code in (401, 403)

    ingest = {"Authorization": f"Bearer {_key(acme.tenant, ['ingest'])}"}
    uploaded = _upload(
        Client(), make_pdf(POD_LINES), django_capture_on_commit_callbacks, headers=ingest
    )
    assert uploaded.status_code == 202
    assert Client().get(reverse("ingest-document-proposals"), headers=ingest).status_code == 200
    assert Client().get(detail, headers=ingest).status_code == 200
    # Keys read; only ops/admin people decide.
    assert Client().post(confirm, {}, headers=ingest).status_code == 403
    assert Client().post(reject, {"reason": "x"}, headers=ingest).status_code == 403
    read = {"Authorization": f"Bearer {_key(acme.tenant, ['read'])}"}
    assert Client().get(reverse("ingest-document-proposals"), headers=read).status_code == 403
    refused = _upload(
        Client(), make_pdf(POD_LINES), django_capture_on_commit_callbacks, headers=read
    )
    assert refused.status_code == 403
    assert _proposal(acme.tenant, proposal.message_id).status == ProposalStatus.PENDING

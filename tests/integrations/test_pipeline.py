"""Ingestion core: store first, process idempotently, dead letters, held events, access."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from integrations import pipeline, services
from integrations.errors import IngestError
from integrations.models import DeadLetter, HeldEvent, InboundMessage, MessageStatus
from integrations.webhooks.signing import signature_for
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory, events_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

FIXTURES = Path(__file__).resolve().parent / "parsers" / "fixtures"
X12 = FIXTURES / "x12_214_multi.edi"
# DCSA 2.2 events of our own (a booking confirmed, gated in, estimated then arrived).
DCSA = Path(__file__).resolve().parent / "fixtures" / "dcsa_v22_events.json"

X12_SMALL = (
    b"ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*00401"
    b"*000000201*0*P*>~GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010~ST*214*0001~"
    b"B10*PRO777*REF777*ABCD~LX*1~AT7*AF*NS***20260305*0900*UT~AT7*ZZ*NS***20260306*1000*UT~"
    b"AT7*D1*NS***20260307*1100*UT~SE*7*0001~GE*1*1~IEA*1*000000201~"
)


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


def _message(tenant, message_id):
    with tenant_context(tenant.pk):
        return InboundMessage.objects.get(pk=message_id)


def _letters(tenant, message_id):
    with tenant_context(tenant.pk):
        return list(DeadLetter.objects.filter(message_id=message_id).order_by("id"))


def _webhook_url(tenant, integration):
    return reverse("ingest-webhook", args=[tenant.pk, integration.token])


def _post_webhook(client, url, body, headers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url, data=body, content_type="application/json", headers=headers)


def _store_and_process(tenant, integration, body):
    with tenant_context(tenant.pk):
        message = services.message_store(
            integration=integration, channel="upload", body=body, content_type="text/plain"
        )
        pipeline.process_messages([message.pk])
    return message.pk


@covers_url("ingest-webhook")
def test_webhook_stores_then_processes_x12_into_events(acme, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(
        tenant=acme.tenant, name="Carrier", partner_name="ABCD Freight"
    )
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "SHIP001")])
    response = _post_webhook(
        Client(),
        _webhook_url(acme.tenant, integration),
        X12.read_bytes(),
        {"X-Milepost-Secret": integration.secret},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "received"
    message = _message(acme.tenant, response.json()["message_id"])
    assert bytes(message.body) == X12.read_bytes()
    assert message.status == MessageStatus.PARTIALLY_FAILED  # the fixture has 2 DST errors
    assert message.format == "x12"
    events = events_of(acme.tenant, shipment)
    assert [e.milestone for e in events] == ["picked_up", "arrived", "departed"]
    assert {e.source_name for e in events} == {"x12:ABCD Freight"}
    assert all(e.inbound_message_id == message.pk for e in events)
    assert all(e.dedupe_key.startswith(f"i{integration.pk}:") for e in events)
    # Events of SHIP002..004 are held, not lost.
    assert message.events_held > 0
    reasons = [d.reason for d in _letters(acme.tenant, message.pk)]
    assert any("non-existent local time" in r for r in reasons)
    assert any("unmapped code 'ZZ'" in r for r in reasons)
    with tenant_context(acme.tenant.pk):
        shipment.refresh_from_db()
        assert shipment.timeline_computed_at is not None


@covers_url("ingest-webhook")
def test_dcsa_webhook_with_valid_signature_applies_events(acme, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(tenant=acme.tenant, kind="dcsa", name="Ocean carrier")
    shipment = ShipmentFactory(
        tenant=acme.tenant, references=[("booking", "ABC123123123")], mode="ocean_fcl"
    )
    body = DCSA.read_bytes()
    response = _post_webhook(
        Client(),
        _webhook_url(acme.tenant, integration),
        body,
        {"Notification-Signature": signature_for(integration.secret, body)},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    events = events_of(acme.tenant, shipment)
    assert "arrived" in {e.milestone for e in events}
    message = _message(acme.tenant, response.json()["message_id"])
    assert message.status == MessageStatus.PROCESSED
    assert message.events_applied == len(events) > 0

    # The same body again (a partner retry): no duplicate events.
    again = _post_webhook(
        Client(),
        _webhook_url(acme.tenant, integration),
        body,
        {"Notification-Signature": signature_for(integration.secret, body)},
        django_capture_on_commit_callbacks,
    )
    assert again.status_code == 202
    assert len(events_of(acme.tenant, shipment)) == len(events)
    assert _message(acme.tenant, again.json()["message_id"]).status == MessageStatus.DUPLICATE


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Notification-Signature": "sha256=" + "0" * 64},
        {"Notification-Signature": "sha1=abc"},
        {"X-Milepost-Secret": "wrong"},
    ],
)
@covers_url("ingest-webhook")
def test_bad_signature_is_401_and_stored_dead(acme, headers, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier", kind="dcsa")
    shipment = ShipmentFactory(
        tenant=acme.tenant, references=[("booking", "ABC123123123")], mode="ocean_fcl"
    )
    body = DCSA.read_bytes()
    response = _post_webhook(
        Client(),
        _webhook_url(acme.tenant, integration),
        body,
        headers,
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert events_of(acme.tenant, shipment) == []
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get()
        assert message.status == MessageStatus.DEAD
        assert bytes(message.body) == body
        letter = DeadLetter.objects.get(message=message)
        assert letter.reason in ("signature mismatch", "missing signature")
        # A refused message is never replayed into events.
        with pytest.raises(IngestError):
            services.dead_letter_replay(dead_letter=letter)
    assert events_of(acme.tenant, shipment) == []


@covers_url("ingest-webhook")
def test_duplicated_signature_header_is_refused(acme, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier", kind="dcsa")
    body = DCSA.read_bytes()
    good = signature_for(integration.secret, body)
    response = _post_webhook(
        Client(),
        _webhook_url(acme.tenant, integration),
        body,
        {"Notification-Signature": f"{good},{good}"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 401


@covers_url("ingest-webhook")
def test_webhook_cross_tenant_token_is_404(acme, django_capture_on_commit_callbacks):
    other_integration = IntegrationFactory(tenant=acme.other_tenant, name="Carrier")
    body = X12_SMALL
    url = reverse("ingest-webhook", args=[acme.tenant.pk, other_integration.token])
    response = _post_webhook(
        Client(),
        url,
        body,
        {"X-Milepost-Secret": other_integration.secret},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    unknown = reverse("ingest-webhook", args=[999999, other_integration.token])
    assert Client().post(unknown, data=body, content_type="text/plain").status_code == 404
    for tenant in (acme.tenant, acme.other_tenant):
        with tenant_context(tenant.pk):
            assert not InboundMessage.objects.exists()
    assert Client().get(_webhook_url(acme.other_tenant, other_integration)).status_code == 405


def test_unparseable_body_is_a_dead_letter(acme):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    message_id = _store_and_process(acme.tenant, integration, b"this is not EDI at all")
    assert _message(acme.tenant, message_id).status == MessageStatus.DEAD
    [letter] = _letters(acme.tenant, message_id)
    assert "unknown format" in letter.reason or "ISA" in letter.reason
    assert letter.resolved_at is None


def test_unmatched_events_are_held_then_applied_when_the_shipment_appears(acme):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    message_id = _store_and_process(acme.tenant, integration, X12_SMALL)
    message = _message(acme.tenant, message_id)
    assert message.events_applied == 0
    assert message.events_held == 2  # AF and D1; ZZ is a dead letter
    # Creating the shipment applies the held events through shipments.hooks.
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("tracking_number", "PRO777")])
    with tenant_context(acme.tenant.pk):
        assert pipeline.apply_held_for_new_references(["PRO777"]) == 0
        assert not HeldEvent.objects.filter(applied_at__isnull=True).exists()
    assert [e.milestone for e in events_of(acme.tenant, shipment)] == ["picked_up", "delivered"]
    message = _message(acme.tenant, message_id)
    assert (message.events_applied, message.events_held) == (2, 0)


def test_replay_after_adding_an_override_mapping(acme):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "REF777")])
    message_id = _store_and_process(acme.tenant, integration, X12_SMALL)
    assert _message(acme.tenant, message_id).status == MessageStatus.PARTIALLY_FAILED
    [letter] = _letters(acme.tenant, message_id)
    assert "unmapped code 'ZZ'" in letter.reason
    assert len(events_of(acme.tenant, shipment)) == 2

    with tenant_context(acme.tenant.pk):
        services.dead_letter_replay(dead_letter=letter)  # nothing fixed yet
        letter.refresh_from_db()
        assert letter.resolved_at is None and letter.replay_count == 1
        services.integration_set_overrides(
            integration=integration, code_overrides={"ZZ": "arrived"}
        )
        letter = services.dead_letter_replay(dead_letter=letter)
    assert letter.resolved_at is not None
    assert letter.replay_count == 2
    milestones = [e.milestone for e in events_of(acme.tenant, shipment)]
    assert milestones == ["picked_up", "arrived", "delivered"]
    assert _message(acme.tenant, message_id).status == MessageStatus.PROCESSED
    assert len(_letters(acme.tenant, message_id)) == 1


def test_processing_twice_records_events_once(acme):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "REF777")])
    with tenant_context(acme.tenant.pk):
        message = services.message_store(
            integration=integration, channel="upload", body=X12_SMALL, content_type=""
        )
        pipeline.process_messages([message.pk])
        pipeline.process_messages([message.pk])
        pipeline.process_messages([message.pk], force=True)  # a redelivered, crashed run
    assert len(events_of(acme.tenant, shipment)) == 2
    message = _message(acme.tenant, message.pk)
    assert message.events_applied == 2
    assert len(_letters(acme.tenant, message.pk)) == 1


def test_task_gives_up_into_a_dead_letter(acme, monkeypatch):
    from integrations.tasks import process_message

    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    with tenant_context(acme.tenant.pk):
        message = services.message_store(
            integration=integration, channel="upload", body=X12_SMALL, content_type=""
        )

    def boom(ids, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(pipeline, "process_messages", boom)
    process_message.apply(kwargs={"tenant_id": acme.tenant.pk, "message_id": message.pk})
    assert _message(acme.tenant, message.pk).status == MessageStatus.DEAD
    [letter] = _letters(acme.tenant, message.pk)
    assert letter.reason.startswith("gave up after 1 attempts: kaboom")
    monkeypatch.undo()
    with tenant_context(acme.tenant.pk):
        assert services.dead_letter_replay(dead_letter=letter).resolved_at is not None


# --- authenticated API ----------------------------------------------------------------------


def _key(tenant, scopes):
    with tenant_context(tenant.pk):
        return api_key_issue(name="partner", scopes=scopes).raw_key


@covers_url("ingest-messages", "ingest-message-detail")
def test_api_key_upload_and_status(acme, django_capture_on_commit_callbacks):
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "REF777")])
    key = _key(acme.tenant, ["ingest"])
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            reverse("ingest-messages"),
            data=X12_SMALL,
            content_type="application/edi-x12",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 202, response.content
    message_id = response.json()["message_id"]
    assert len(events_of(acme.tenant, shipment)) == 2
    detail = Client().get(
        reverse("ingest-message-detail", args=[message_id]),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "partially_failed"
    assert body["events_applied"] == 2
    assert len(body["dead_letters"]) == 1

    # Tenant B's key cannot see A's message; a read-only key cannot upload.
    other_key = _key(acme.other_tenant, ["ingest", "read"])
    other = Client().get(
        reverse("ingest-message-detail", args=[message_id]),
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    read_key = _key(acme.tenant, ["read"])
    refused = Client().post(
        reverse("ingest-messages"),
        data=X12_SMALL,
        content_type="text/plain",
        headers={"Authorization": f"Bearer {read_key}"},
    )
    assert refused.status_code == 403
    assert Client().post(
        reverse("ingest-messages"), data=X12_SMALL, content_type="x"
    ).status_code in (
        401,
        403,
    )


@covers_url("ingest-messages")
def test_multipart_upload_by_ops_and_roles(acme, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("ops").post(
            reverse("ingest-messages"),
            {"file": SimpleUploadedFile("m.edi", X12_SMALL), "integration": integration.pk},
        )
    assert response.status_code == 202, response.content
    assert _message(acme.tenant, response.json()["message_id"]).integration_id == integration.pk
    for role in ("sales", "finance", "customer", "driver"):
        assert (
            acme.client(role).post(reverse("ingest-messages"), data=b"x", content_type="x")
        ).status_code == 403
    missing = acme.client("admin").post(
        reverse("ingest-messages") + "?integration=999999", data=b"x", content_type="text/plain"
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "unknown_integration"


@covers_url("ingest-messages")
def test_oversized_upload_is_413_and_recorded_dead(acme, settings):
    settings.INGEST_MAX_BODY_BYTES = 100
    response = acme.client("ops").post(
        reverse("ingest-messages"), data=b"x" * 150, content_type="text/plain"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    with tenant_context(acme.tenant.pk):
        message = InboundMessage.objects.get()
        assert message.status == MessageStatus.DEAD
        assert len(bytes(message.body)) == 100 and message.size == 150
        assert "body too large (150 bytes > 100)" in message.dead_letters.get().reason


@covers_url(
    "ingest-dead-letters",
    "ingest-dead-letter-replay",
    "ingest-dead-letters-replay-all",
    "ingest-message-detail",
)
def test_dead_letter_api_for_ops_only(acme):
    integration = IntegrationFactory(tenant=acme.tenant, name="Carrier")
    shipment = ShipmentFactory(tenant=acme.tenant, references=[("shipment_id", "REF777")])
    message_id = _store_and_process(acme.tenant, integration, X12_SMALL)
    [letter] = _letters(acme.tenant, message_id)
    ops = acme.client("ops")
    listing = ops.get(reverse("ingest-dead-letters"))
    assert listing.status_code == 200
    assert [d["id"] for d in listing.json()["results"]] == [letter.pk]

    for role in ("sales", "finance", "customer", "driver"):
        client = acme.client(role)
        assert client.get(reverse("ingest-dead-letters")).status_code == 403
        assert (
            client.post(reverse("ingest-dead-letter-replay", args=[letter.pk])).status_code == 403
        )
        assert client.post(reverse("ingest-dead-letters-replay-all")).status_code == 403
        assert client.get(reverse("ingest-message-detail", args=[message_id])).status_code == 403
    key = _key(acme.tenant, ["ingest", "read"])
    assert (
        Client()
        .get(reverse("ingest-dead-letters"), headers={"Authorization": f"Bearer {key}"})
        .status_code
        == 403
    )
    outsider = acme.client("outsider")
    assert outsider.post(reverse("ingest-dead-letter-replay", args=[letter.pk])).status_code == 404
    assert outsider.get(reverse("ingest-message-detail", args=[message_id])).status_code == 404
    assert outsider.get(reverse("ingest-dead-letters")).json()["results"] == []
    assert Client().get(reverse("ingest-dead-letters")).status_code in (401, 403)

    replay = ops.post(reverse("ingest-dead-letter-replay", args=[letter.pk]))
    assert replay.status_code == 200
    assert replay.json()["replay_count"] == 1 and replay.json()["resolved_at"] is None

    with tenant_context(acme.tenant.pk):
        services.integration_set_overrides(
            integration=integration, code_overrides={"ZZ": "arrived"}
        )
    replay_all = acme.client("admin").post(reverse("ingest-dead-letters-replay-all"))
    assert replay_all.status_code == 200
    assert replay_all.json() == {"replayed": 1, "resolved": 1, "messages": 1, "failed": []}
    assert len(events_of(acme.tenant, shipment)) == 3
    assert outsider.post(reverse("ingest-dead-letters-replay-all")).json()["replayed"] == 0

"""Email through a django-anymail provider, its HTTP sent by the outbound guard: a local stub
of Postmark's API on 127.0.0.1 receives it; outside WEBHOOK_ALLOWED_NETWORKS it is refused
before any connection and recorded as a retryable failure."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.notifications import services, tasks
from integrations.notifications.email_guard import GuardedAdapter, guarded_backend_class
from integrations.notifications.models import Notification
from tenancy.context import tenant_context
from tests.integrations.netstub import Edge, StubServer, send
from tests.integrations.notifications.conftest import set_preference

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(settings, monkeypatch):
    def respond(handler) -> None:
        body = {"To": "shipper@x.test", "MessageID": "pm-123", "ErrorCode": 0, "Message": "OK"}
        send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    server = StubServer(respond)
    edge = Edge().install(monkeypatch)
    settings.EMAIL_BACKEND = "integrations.notifications.email_guard.AnymailBackend"
    settings.ANYMAIL_ESP = "postmark"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "token", "POSTMARK_API_URL": f"{server.url}/"}
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    yield server, edge
    server.close()


def _queued_email(acme, shipment):
    set_preference(
        acme.tenant,
        customer_account_id=acme.customer_account.pk,
        email="shipper@x.test",
        email_enabled=True,
    )
    with tenant_context(acme.tenant.pk):
        [row] = services.notifications_send(
            shipment_id=shipment.pk,
            channel="email",
            topic="out_for_delivery",
            key="e1",
            now=timezone.now() - timedelta(seconds=1),
        )
    return row


def test_the_provider_is_reached_through_the_guard(acme, shipment, postmark, enqueued):
    server, edge = postmark
    row = _queued_email(acme, shipment)
    assert tasks.deliver.run(tenant_id=acme.tenant.pk, notification_id=row.pk) == "sent"
    [(method, path, headers, body)] = server.requests
    assert (method, path) == ("POST", "/email")
    assert headers["x-postmark-server-token"] == "token"
    sent = json.loads(body)
    assert sent["To"] == "shipper@x.test" and "TRK-1001" in sent["TextBody"]
    assert edge.connects == [("127.0.0.1", server.port)]  # opened by integrations.outbound
    with tenant_context(acme.tenant.pk):
        row = Notification.objects.get(pk=row.pk)
    assert (row.status, row.provider, row.provider_message_id) == ("sent", "postmark", "pm-123")


def test_a_refused_destination_never_connects_and_is_retried(
    acme, shipment, postmark, settings, enqueued
):
    server, edge = postmark
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    row = _queued_email(acme, shipment)
    assert tasks.deliver.run(tenant_id=acme.tenant.pk, notification_id=row.pk) == "queued"
    assert server.requests == [] and edge.connects == []
    with tenant_context(acme.tenant.pk):
        row = Notification.objects.get(pk=row.pk)
    assert row.attempts == 1 and row.last_error.startswith("email provider unavailable")


def test_every_http_anymail_backend_gets_the_guarded_session():
    backend_class = guarded_backend_class("postmark")
    backend = backend_class(server_token="x")
    session = backend.create_session()
    assert isinstance(session.get_adapter("https://api.postmarkapp.com/email"), GuardedAdapter)
    assert isinstance(session.get_adapter("http://127.0.0.1/"), GuardedAdapter)

"""While PostgreSQL cannot be reached, /api/ and /readyz answer 503 + Retry-After in the JSON
error shape (tenancy.unavailable), wherever the request meets the outage: in the view, in the
tenant middleware resolving an API key, or loading the session. Nothing is mocked: the app's
database connection is pointed at a port where nothing listens, as when the server is down.
The drill in tests/integrations/test_outages.py stops and restarts a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import Client

from integrations.models import InboundMessage
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_down() -> Iterator[None]:
    connection = connections["default"]
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_closed_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    assert response.json()["error"]["message"]


def _client() -> Client:
    # Django's test client re-raises a request's uncaught exception by default; a real server
    # sends the response, which is what this asserts.
    return Client(raise_request_exception=False)


def test_a_webhook_accept_during_the_outage_gets_503_then_202_once_the_database_is_back(
    personas,
):
    integration = IntegrationFactory(tenant=personas.tenant, kind="dcsa")
    path = f"/api/v1/ingest/webhooks/{personas.tenant.pk}/{integration.token}/"
    headers = {"HTTP_X_MILEPOST_SECRET": integration.secret}
    with database_down():
        response = _client().post(path, b"[]", content_type="application/json", **headers)
    _assert_unavailable(response)
    with tenant_context(personas.tenant.pk):
        assert not InboundMessage.objects.exists()
    response = _client().post(path, b"[]", content_type="application/json", **headers)
    assert response.status_code == 202, response.content


def test_an_api_key_that_cannot_be_checked_gets_503(personas):
    with tenant_context(personas.tenant.pk):
        raw = api_key_issue(name="Carrier", scopes=["ingest"]).raw_key
    with database_down():
        response = _client().post(
            "/api/v1/ingest/messages/",
            b"ISA*00~",
            content_type="application/octet-stream",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
    _assert_unavailable(response)


def test_a_session_that_cannot_be_loaded_gets_503_on_the_api_and_readyz(personas):
    client = personas.client("admin")
    client.raise_request_exception = False
    with database_down():
        _assert_unavailable(client.get("/api/v1/me/"))
        _assert_unavailable(client.get("/readyz"))


def test_readyz_without_a_session_reports_the_database_itself(personas):
    with database_down():
        response = _client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error: OperationalError")

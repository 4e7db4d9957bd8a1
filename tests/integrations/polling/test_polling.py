"""Polling carrier APIs: DCSA 2.2 against a real local HTTP server, the simulated carrier,
the beat sweep. Only the outside world (the carrier's HTTP API) is stood in for. The carrier
listens on 127.0.0.1, allowed by WEBHOOK_ALLOWED_NETWORKS (conftest.py); the SSRF tests at the
end take that away and stand at the socket edge (tests/integrations/netstub.Edge)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.models import Channel, InboundMessage, Integration, MessageStatus
from integrations.polling import tasks as polling
from shipments.models import Shipment, TrackingEvent
from shipments.services import shipment_create
from tenancy.context import tenant_context
from tests.integrations.netstub import Edge

pytestmark = pytest.mark.django_db

DCSA_EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "dcsa_v22_events.json"
API_KEY = "k-very-secret-123"


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


class FakeCarrier:
    """A DCSA 2.2 events endpoint: two pages with Next-Page-Cursor, or a 500."""

    def __init__(self) -> None:
        events = json.loads(DCSA_EXAMPLE.read_text())
        self.pages = [events[:2], events[2:]]
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail = False
        self.fail_from = 0  # fail every request from this one on (1-based), 0: never
        self.redirect_to = ""
        self.use_link = False
        carrier = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                carrier.requests.append(
                    (url.path, query, {k.lower(): v for k, v in self.headers.items()})
                )
                if carrier.fail or 0 < carrier.fail_from <= len(carrier.requests):
                    # What the carrier says about itself must never reach the tenant.
                    body = b'{"message": "boom: db=10.1.2.3 user=svc"}'
                    self._send(500, body, {}, reason="Kaputt at 10.1.2.3")
                    return
                if carrier.redirect_to:
                    self._send(302, b"", {"Location": carrier.redirect_to})
                    return
                if url.path != "/v2/events":
                    self._send(404, b"{}", {})
                    return
                headers = {}
                if query.get("cursor") == "page-2":
                    events = carrier.pages[1]
                    headers["Current-Page"] = "page-2"
                elif "eventCreatedDateTime:gte" in query:
                    since = query["eventCreatedDateTime:gte"]
                    every = carrier.pages[0] + carrier.pages[1]
                    events = [e for e in every if e["eventCreatedDateTime"] >= since]
                else:
                    events = carrier.pages[0]
                    if carrier.use_link:
                        headers["Link"] = '</v2/events?cursor=page-2&limit=2>; rel="next"'
                    else:
                        headers["Next-Page-Cursor"] = "page-2"
                self._send(200, json.dumps(events).encode(), headers)

            def _send(self, code, body, headers, reason=None):
                self.send_response(code, reason)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def page_bytes(self, index: int) -> bytes:
        return json.dumps(self.pages[index]).encode()


@pytest.fixture
def carrier():
    fake = FakeCarrier()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _dcsa_integration(tenant, carrier, **extra):
    config = {"base_url": carrier.url, "headers": {"API-Key": API_KEY}, "limit": 2, **extra}
    with tenant_context(tenant.pk):
        return Integration.objects.create(
            name="Ocean carrier API", kind="dcsa", poll_adapter="dcsa_v2", poll_config=config
        )


def _poll(tenant, integration, capture, force=True):
    with capture(execute=True):
        return polling.poll_integration.delay(
            tenant_id=tenant.pk, integration_id=integration.pk, force=force
        ).get()


def _messages(tenant):
    with tenant_context(tenant.pk):
        return list(InboundMessage.objects.filter(channel=Channel.POLL).order_by("pk"))


def _reload(tenant, integration):
    with tenant_context(tenant.pk):
        return Integration.objects.get(pk=integration.pk)


def test_dcsa_poll_stores_every_page_then_applies_events(
    acme, carrier, django_capture_on_commit_callbacks
):
    integration = _dcsa_integration(acme.tenant, carrier, eventType="TRANSPORT,EQUIPMENT")
    with tenant_context(acme.tenant.pk):
        shipment = shipment_create(
            mode="ocean_fcl",
            references=[("booking", "ABC123123123")],
            booked_at=timezone.now() - timedelta(days=30),
        )
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "polled" and result["pages"] == 2, result

    messages = _messages(acme.tenant)
    assert [bytes(m.body) for m in messages] == [carrier.page_bytes(0), carrier.page_bytes(1)]
    assert {m.integration_id for m in messages} == {integration.pk}
    assert all(m.status in (MessageStatus.PROCESSED, MessageStatus.PARTIALLY_FAILED)
               for m in messages)  # fmt: skip
    with tenant_context(acme.tenant.pk):
        milestones = set(
            TrackingEvent.objects.filter(shipment=shipment).values_list("milestone", flat=True)
        )
    assert "arrived" in milestones

    # What went over the wire: filters, limit and the key on the first page; the cursor next.
    (path1, query1, headers1), (path2, query2, _) = carrier.requests
    assert path1 == path2 == "/v2/events"
    assert query1 == {"eventType": "TRANSPORT,EQUIPMENT", "limit": "2"}
    assert headers1["api-key"] == API_KEY
    assert query2 == {"cursor": "page-2", "limit": "2"}

    saved = _reload(acme.tenant, integration)
    assert saved.last_poll_error == "" and saved.last_polled_at is not None
    cursor = json.loads(saved.poll_cursor)
    assert cursor["since"] == "2026-02-21T07:20:00+08:00"  # the newest eventCreatedDateTime
    assert "page" not in cursor

    # Next round: only the already-seen boundary events come back, so nothing new is stored.
    again = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert again["status"] == "polled" and again["messages"] == []
    assert (
        carrier.requests[-1][1]["eventCreatedDateTime:gte"] == "2026-02-21T07:20:00+08:00"
    )  # the newest eventCreatedDateTime
    assert len(_messages(acme.tenant)) == 2


def test_dcsa_link_header_paging(acme, carrier, django_capture_on_commit_callbacks, edge):
    carrier.use_link = True
    integration = _dcsa_integration(acme.tenant, carrier)
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["pages"] == 2 and len(result["messages"]) == 2
    assert carrier.requests[1][1] == {"cursor": "page-2", "limit": "2"}
    # Both pages went through the outbound guard (its sockets), to the checked address.
    assert edge.connects == [("127.0.0.1", carrier.server.server_address[1])] * 2


def test_http_error_records_the_error_stores_nothing_and_keeps_the_cursor(
    acme, carrier, django_capture_on_commit_callbacks
):
    integration = _dcsa_integration(acme.tenant, carrier)
    with tenant_context(acme.tenant.pk):
        Integration.objects.filter(pk=integration.pk).update(
            poll_cursor='{"since": "2026-01-01T00:00:00Z"}'
        )
    carrier.fail = True
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    saved = _reload(acme.tenant, integration)
    # Our text only: the status with its standard phrase, not the carrier's reason or body.
    assert saved.last_poll_error == (
        f"HTTP 500 Internal Server Error from GET {carrier.url}/v2/events"
    )
    assert saved.poll_cursor == '{"since": "2026-01-01T00:00:00Z"}'
    assert saved.last_polled_at is not None
    assert _messages(acme.tenant) == []

    # The next round succeeds and clears the error.
    carrier.fail = False
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "polled"
    assert _reload(acme.tenant, integration).last_poll_error == ""


def test_unreachable_carrier_is_a_clear_error(acme, django_capture_on_commit_callbacks):
    with tenant_context(acme.tenant.pk):
        integration = Integration.objects.create(
            name="Gone",
            kind="dcsa",
            poll_adapter="dcsa_v2",
            poll_config={"base_url": "http://127.0.0.1:9", "timeout_s": 2},
        )
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == (
        "GET http://127.0.0.1:9/v2/events: could not connect"
    )


def test_a_failing_later_page_keeps_the_pages_already_stored(
    acme, carrier, django_capture_on_commit_callbacks
):
    integration = _dcsa_integration(acme.tenant, carrier)
    carrier.fail_from = 2
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed" and result["pages"] == 1
    saved = _reload(acme.tenant, integration)
    assert json.loads(saved.poll_cursor)["page"] == "page-2"  # resumes at page 2
    assert [bytes(m.body) for m in _messages(acme.tenant)] == [carrier.page_bytes(0)]


def test_poll_due_enqueues_only_due_integrations_of_each_tenant(acme, monkeypatch):
    now = timezone.now()
    with tenant_context(acme.tenant.pk):
        due = Integration.objects.create(name="Due", kind="dcsa", poll_adapter="simulated")
        Integration.objects.create(
            name="Recent",
            kind="dcsa",
            poll_adapter="simulated",
            poll_interval_s=300,
            last_polled_at=now - timedelta(seconds=60),
        )
        stale = Integration.objects.create(
            name="Stale",
            kind="dcsa",
            poll_adapter="simulated",
            poll_interval_s=60,
            last_polled_at=now - timedelta(seconds=61),
        )
        Integration.objects.create(name="Webhook only", kind="x12")
        Integration.objects.create(
            name="Off", kind="dcsa", poll_adapter="simulated", is_active=False
        )
    with tenant_context(acme.other_tenant.pk):
        other = Integration.objects.create(name="B", kind="dcsa", poll_adapter="simulated")
    queued = []
    monkeypatch.setattr(polling.poll_integration, "delay", lambda **kw: queued.append(kw))
    assert polling.poll_due() == 3
    assert sorted((q["tenant_id"], q["integration_id"]) for q in queued) == sorted(
        [
            (acme.tenant.pk, due.pk),
            (acme.tenant.pk, stale.pk),
            (acme.other_tenant.pk, other.pk),
        ]
    )


def test_poll_task_skips_an_integration_that_is_not_due(acme, django_capture_on_commit_callbacks):
    with tenant_context(acme.tenant.pk):
        integration = Integration.objects.create(
            name="Sim", kind="dcsa", poll_adapter="simulated", last_polled_at=timezone.now()
        )
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks, force=False)
    assert result["status"] == "skipped"


def test_simulated_carrier_moves_in_flight_shipments_idempotently(
    acme, django_capture_on_commit_callbacks
):
    now = timezone.now()
    with tenant_context(acme.tenant.pk):
        integration = Integration.objects.create(
            name="Simulated carrier",
            kind="dcsa",
            poll_adapter="simulated",
            poll_interval_s=60,
            code_overrides={"GTIN": "warehouse_received"},
        )
        moving = shipment_create(
            mode="road_ftl",
            references=[("tracking_number", "SIM000001")],
            booked_at=now - timedelta(days=3),
        )
        fresh = shipment_create(
            mode="ocean_fcl",
            references=[("container", "MSKU1234567"), ("booking", "BKG-SIM-2")],
            booked_at=now + timedelta(hours=2),
        )
    reached = []
    for _ in range(4):
        result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
        assert result["status"] == "polled", result
        with tenant_context(acme.tenant.pk):
            moving.refresh_from_db()
            reached.append(len(moving.timeline["completed"]))
    assert reached == sorted(reached) and reached[-1] > reached[0], reached
    with tenant_context(acme.tenant.pk):
        events = list(TrackingEvent.objects.filter(shipment=moving))
        keys = [e.dedupe_key for e in events]
        assert len(keys) == len(set(keys))
        assert {e.source_name for e in events} == {"dcsa:Simulated carrier"}
        # The future shipment got an estimate for its next milestone, and no actuals.
        future = TrackingEvent.objects.filter(shipment=fresh)
        assert not future.filter(classifier="ACT").exists()
        assert future.filter(classifier="EST").count() <= 1
        saved = Integration.objects.get(pk=integration.pk)
        assert saved.last_poll_error == ""
        assert saved.poll_cursor  # ISO time of the last run
        messages = InboundMessage.objects.filter(channel=Channel.POLL)
        assert not messages.filter(status=MessageStatus.DEAD).exists()
        assert Shipment.objects.get(pk=moving.pk).status != "booked"


# -- server-side request forgery: what a tenant's base_url may reach ---------------------------


@pytest.fixture
def edge(monkeypatch) -> Edge:
    return Edge().install(monkeypatch)


def _integration_at(tenant, base_url, **config):
    """Created in the ORM, as a row saved before the API refused such URLs would be."""
    with tenant_context(tenant.pk):
        return Integration.objects.create(
            name="Carrier",
            kind="dcsa",
            poll_adapter="dcsa_v2",
            poll_config={"base_url": base_url, "headers": {"API-Key": API_KEY}, **config},
        )


REFUSED = "poll_config: base_url must not point to"


@pytest.mark.parametrize(
    ("base_url", "error"),
    [
        ("http://{stub}", f"{REFUSED} a loopback address (127.0.0.1)"),
        ("http://2130706433:{port}", f"{REFUSED} a loopback address (127.0.0.1)"),
        ("http://0x7f.1:{port}", f"{REFUSED} a loopback address (127.0.0.1)"),
        ("http://169.254.169.254", f"{REFUSED} a cloud metadata address (169.254.169.254)"),
        ("http://[::ffff:127.0.0.1]:{port}", f"{REFUSED} a loopback address (::ffff:7f00:1)"),
        ("http://localhost:{port}", f"{REFUSED} localhost"),
    ],
)
def test_a_poll_to_a_refused_address_records_a_short_reason_and_connects_nowhere(
    acme, carrier, edge, settings, django_capture_on_commit_callbacks, base_url, error
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    port = carrier.server.server_address[1]
    url = base_url.format(stub=carrier.url.removeprefix("http://"), port=port)
    integration = _integration_at(acme.tenant, url)
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == error
    assert carrier.requests == [] and edge.connects == [] and edge.lookups == []
    assert _messages(acme.tenant) == []


def test_a_poll_to_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(
    acme, edge, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    edge.answer("carrier.test", "10.0.0.12")
    integration = _integration_at(acme.tenant, "https://carrier.test/dcsa")
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == (
        "GET https://carrier.test/dcsa/v2/events: destination refused (a private address)"
    )
    assert edge.lookups == ["carrier.test"] and edge.connects == []


def test_a_carrier_that_redirects_to_metadata_is_refused_and_not_followed(
    acme, carrier, edge, django_capture_on_commit_callbacks
):
    carrier.redirect_to = "http://169.254.169.254/latest/meta-data/iam/"
    integration = _dcsa_integration(acme.tenant, carrier)
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == (
        f"GET {carrier.url}/v2/events: redirect refused: must not point to a cloud metadata "
        "address (169.254.169.254)"
    )
    assert edge.connects == [("127.0.0.1", carrier.server.server_address[1])]


def test_an_oversized_page_is_refused_while_fetching_and_stores_nothing(
    acme, carrier, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_MAX_BODY_BYTES = 500  # the first page is larger
    assert len(carrier.page_bytes(0)) > 500
    integration = _dcsa_integration(acme.tenant, carrier)
    result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == (
        f"GET {carrier.url}/v2/events: response larger than 500 bytes"
    )
    assert _messages(acme.tenant) == []


def test_a_carrier_that_never_answers_times_out(acme, django_capture_on_commit_callbacks):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections (the kernel does) and never says a word
    try:
        port = silent.getsockname()[1]
        integration = _integration_at(acme.tenant, f"http://127.0.0.1:{port}", timeout_s=0.5)
        result = _poll(acme.tenant, integration, django_capture_on_commit_callbacks)
    finally:
        silent.close()
    assert result["status"] == "failed"
    assert _reload(acme.tenant, integration).last_poll_error == (
        f"GET http://127.0.0.1:{port}/v2/events: timed out after 0.5s"
    )

"""The ops dashboard in a real browser over the ASGI server (websockets included): live
timeline updates, resuming after a cut, tenant isolation, role gates, console errors, and the
screenshots the README shows (docs/screenshots/)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from config.celery import app as celery_app
from integrations.models import DeadLetter, InboundMessage, Integration
from milestones.services import templates_install_defaults
from shipments.models import Classifier, Shipment, SourceKind
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.browser.ops_server import asgi_server
from tests.shipments.factories import ShipmentFactory
from tests.tenancy.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with asgi_server() as url:
        yield url


@pytest.fixture
def eager():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def ops_page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: m.type == "error" and page.console_errors.append(m.text),  # type: ignore[attr-defined]
    )
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))  # type: ignore[attr-defined]
    yield page
    context.close()


def _log_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', TEST_PASSWORD)
    page.locator('form:has(input[name="password"]) [type="submit"]').click()
    page.wait_for_load_state()


CARRIERS = ["DHL Freight", "DSV Road", "Kuehne+Nagel", "Dachser", "DB Schenker"]
LANES = [
    ("DEHAM", (53.55, 9.99), "FRPAR", (48.86, 2.35)),
    ("NLRTM", (51.92, 4.48), "DEMUC", (48.14, 11.58)),
    ("PLWAW", (52.23, 21.01), "DEBER", (52.52, 13.40)),
    ("ITMIL", (45.46, 9.19), "ATVIE", (48.21, 16.37)),
]


def _seed(personas) -> dict:
    """_make_data in a thread of its own: Playwright runs an event loop in this one, and the
    live updates the writes publish on commit refuse to start a loop inside a running one."""
    found: dict = {}

    def run() -> None:
        try:
            found.update(_make_data(personas))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert found, "seeding failed"
    return found


def _make_data(personas) -> dict:
    """A tenant that looks in use: shipments on a few lanes and carriers, events, a few late
    and delivered, an integration with a dead letter; and tenant B with its own shipment."""
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    now = timezone.now()
    shipments = []
    for n in range(14):
        origin, (olat, olon), destination, (dlat, dlon) = LANES[n % len(LANES)]
        shipments.append(
            ShipmentFactory(
                tenant=personas.tenant,
                reference=f"ACME-{4100 + n}",
                carrier=CARRIERS[n % len(CARRIERS)],
                customer_account=personas.customer_account if n % 2 else None,
                booked_at=now - timedelta(hours=60 - n * 3),
                origin_locode=origin,
                origin_lat=olat,
                origin_lon=olon,
                destination_locode=destination,
                destination_lat=dlat,
                destination_lon=dlon,
                shipper_name="Nordlicht Components GmbH",
                consignee_name="Atelier Rive Gauche SARL",
            )
        )
    events = []
    for n, shipment in enumerate(shipments[:10]):
        base = shipment.booked_at
        events.append(_event(shipment, "picked_up", base + timedelta(hours=4), f"pu-{n}"))
        if n < 7:
            events.append(_event(shipment, "departed", base + timedelta(hours=5), f"dep-{n}"))
        if n < 4:
            events.append(_event(shipment, "arrived", base + timedelta(hours=20), f"arr-{n}"))
            events.append(_event(shipment, "delivered", base + timedelta(hours=21), f"del-{n}"))
    with tenant_context(personas.tenant.pk):
        events_record(events=events)
        Shipment.objects.filter(pk__in=[s.pk for s in shipments[8:11]]).update(is_late=True)
        integration = Integration.objects.create(name="DHL Freight EDI", kind="edifact")
        message = InboundMessage.objects.create(
            integration=integration,
            channel="webhook",
            body=b"UNB+...",
            sha256="1" * 64,
            status="dead",
        )
        DeadLetter.objects.create(
            message=message,
            reason="unknown status code 'ZZ9' for carrier DHL Freight",
            stage="mapping",
            position="segment 7 (STS)",
            unit="STS+1+ZZ9'",
        )
        key = api_key_issue(name="browser", scopes=["read", "write", "ingest"]).raw_key
    theirs = ShipmentFactory(
        tenant=personas.other_tenant, reference="RIVAL-9001", booked_at=now, carrier="Rival Co"
    )
    with tenant_context(personas.other_tenant.pk):
        their_key = api_key_issue(name="browser", scopes=["read", "write", "ingest"]).raw_key
    return {"shipments": shipments, "key": key, "theirs": theirs, "their_key": their_key}


def _event(shipment, milestone: str, at: datetime, key: str) -> NewEvent:
    return NewEvent(
        shipment_id=shipment.pk,
        milestone=milestone,
        occurred_at=at,
        classifier=Classifier.ACTUAL,
        source_kind=SourceKind.INTEGRATION,
        source_name="carrier:DHL",
        location="",
        dedupe_key=key,
    )


def _post_event(server: str, key: str, public_id: str, milestone: str, at: datetime) -> None:
    body = json.dumps(
        {
            "events": [
                {
                    "milestone": milestone,
                    "occurred_at": at.isoformat(),
                    "classifier": "ACT",
                    "dedupe_key": f"e2e-{milestone}-{time.time()}",
                }
            ]
        }
    ).encode()
    request = urllib.request.Request(
        f"{server}/api/v1/shipments/{public_id}/events/",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def _wait_live(page: Page) -> None:
    page.wait_for_function("window.__live && window.__live.connected()")


@covers_url("ops-shipment", "ops-shipment-timeline", "api-shipment-events")
def test_timeline_updates_within_a_second_and_after_a_cut(
    ops_page: Page, server, browser_personas, eager
):
    data = _seed(browser_personas)
    shipment = data["shipments"][12]  # no events yet
    _log_in(ops_page, "ops@acme.test")
    ops_page.goto(f"/ops/shipments/{shipment.public_id}/")
    _wait_live(ops_page)
    picked = ops_page.get_by_test_id("actual-picked_up")
    expect(picked).to_have_count(0)

    started = time.monotonic()
    _post_event(server, data["key"], shipment.public_id, "picked_up", datetime.now(UTC))
    expect(picked).to_be_visible(timeout=1000)
    assert time.monotonic() - started < 1.5  # the POST itself included

    ops_page.evaluate("window.__live.pause()")
    ops_page.wait_for_function("!window.__live.connected()")
    _post_event(server, data["key"], shipment.public_id, "departed", datetime.now(UTC))
    ops_page.wait_for_timeout(300)
    departed = ops_page.get_by_test_id("actual-departed")
    expect(departed).to_have_count(0)  # cut: nothing arrived
    ops_page.evaluate("window.__live.resume()")
    expect(departed).to_be_visible(timeout=3000)  # replayed from the last seq
    assert ops_page.console_errors == []  # type: ignore[attr-defined]


@covers_url("ops-shipments", "ops-rows", "ops-shipment")
def test_tenant_a_never_sees_tenant_b(ops_page: Page, server, browser_personas, eager):
    data = _seed(browser_personas)
    _log_in(ops_page, "ops@acme.test")
    ops_page.goto("/ops/?q=RIVAL-9001")
    expect(ops_page.locator("#rows")).to_contain_text("No shipments match")
    response = ops_page.goto(f"/ops/shipments/{data['theirs'].public_id}/")
    assert response is not None and response.status == 404
    expect(ops_page.locator("body")).not_to_contain_text("RIVAL")
    ops_page.goto("/ops/")
    _wait_live(ops_page)
    ops_page.evaluate(
        """() => { window.__got = [];
          const ws = new WebSocket(`ws://${location.host}/ws/ops/`);
          ws.onmessage = (e) => window.__got.push(e.data); window.__probe = ws; }"""
    )
    ops_page.wait_for_function("window.__probe.readyState === 1")
    theirs = data["theirs"].public_id
    _post_event(server, data["their_key"], theirs, "picked_up", datetime.now(UTC))
    mine = data["shipments"][13].public_id
    _post_event(server, data["key"], mine, "picked_up", datetime.now(UTC))
    ops_page.wait_for_function(f"window.__got.some(m => m.includes('{mine}'))")
    got = ops_page.evaluate("window.__got")
    assert not any(theirs in message for message in got)
    expect(ops_page.locator("body")).not_to_contain_text("RIVAL")


@covers_url("ops-shipments")
@pytest.mark.parametrize("who", ["customer", "driver"])
def test_customer_and_driver_logins_cannot_open_ops(ops_page: Page, browser_personas, who):
    _log_in(ops_page, f"{who}@acme.test")
    response = ops_page.goto("/ops/")
    assert response is not None and response.status == 404
    expect(ops_page.locator("body")).not_to_contain_text("Acme")
    expect(ops_page.locator("body")).not_to_contain_text("Shipments")


@covers_url("ops-shipments", "ops-shipment", "ops-integrations", "ops-analytics", "ops-settings")
def test_every_page_renders_without_console_errors_and_is_screenshotted(
    ops_page: Page, browser_personas
):
    data = _seed(browser_personas)
    _log_in(ops_page, "admin@acme.test")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    detail = data["shipments"][5]
    pages = [
        ("/ops/", "ops-list.png"),
        (f"/ops/shipments/{detail.public_id}/", "ops-shipment.png"),
        (f"/ops/shipments/{detail.public_id}/?candidates=1", None),
        ("/ops/integrations/", "ops-integrations.png"),
        ("/ops/analytics/", "ops-analytics.png"),
        ("/ops/settings/", "ops-settings.png"),
    ]
    for url, shot in pages:
        response = ops_page.goto(url)
        assert response is not None and response.status == 200, url
        ops_page.wait_for_load_state("networkidle")
        if shot:
            ops_page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    ops_page.set_viewport_size({"width": 768, "height": 1000})
    ops_page.goto("/ops/")
    ops_page.wait_for_load_state("networkidle")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-list-768.png"), full_page=False)
    assert ops_page.console_errors == []  # type: ignore[attr-defined]
    expect(ops_page.locator("#rows")).to_contain_text("ACME-41")
    expect(ops_page.locator("body")).not_to_contain_text("RIVAL")


@covers_url("ops-shipments")
def test_german_dashboard(ops_page: Page, browser_personas):
    _seed(browser_personas)
    _log_in(ops_page, "ops@acme.test")
    ops_page.goto("/ops/")
    with ops_page.expect_navigation():
        ops_page.select_option("#lang-select", "de")
    expect(ops_page.locator("h1")).to_have_text("Sendungen")
    expect(ops_page.locator("#kpis")).to_contain_text(re.compile("Verspätet"))

# ruff: noqa: F811  (the fixtures ops_page and server come from test_ops_e2e)
"""The ops bulk import in a real browser: upload, guessed mapping, dry run with rejected rows,
the real run's progress bar moving (htmx polling) and the result; screenshots for the README."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from milestones.services import templates_install_defaults
from portal.ops import import_work, tasks
from portal.ops.models import ShipmentImport
from shipments import services as shipment_services
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.test_ops_e2e import SCREENSHOTS, _log_in, ops_page, server  # noqa: F401

pytestmark = pytest.mark.browser

LANES = [("DEHAM", "FRPAR"), ("NLRTM", "DEMUC"), ("PLWAW", "DEBER")]


def _csv(path: Path) -> Path:
    lines = ["Order ref,Transport mode,Booking date,Carrier,Customer,From,To"]
    for n in range(1, 13):
        origin, destination = LANES[n % 3]
        mode, customer = "road_ftl", ""
        if n == 9:
            mode = "hovercraft"
        if n == 11:
            customer = "NOSUCH"
        booked = f"2026-11-30 0{n % 10}:15"
        lines.append(f"PO-{7000 + n},{mode},{booked},DSV Road,{customer},{origin},{destination}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _in_thread(work) -> threading.Thread:
    """Writes publish live updates on commit, which refuse to start inside Playwright's loop."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@covers_url("ops-import", "ops-import-detail", "ops-import-progress")
def test_import_shows_dry_run_progress_and_result(
    ops_page: Page,
    server,
    browser_personas,
    tmp_path,
    monkeypatch,
):
    tenant = browser_personas.tenant

    def seed() -> None:
        with tenant_context(tenant.pk):
            templates_install_defaults()

    _in_thread(seed).join()
    queued: list[dict] = []
    monkeypatch.setattr(tasks.import_run, "delay", lambda **kwargs: queued.append(kwargs))
    # the run pauses before its 7th shipment (first row of the second batch) until released
    release, calls = threading.Event(), []
    original = shipment_services.shipment_create

    def slow_create(**kwargs):
        calls.append(1)
        if len(calls) == 7:
            assert release.wait(20)
        return original(**kwargs)

    monkeypatch.setattr(shipment_services, "shipment_create", slow_create)

    _log_in(ops_page, "ops@acme.test")
    ops_page.goto("/ops/")
    ops_page.get_by_role("link", name="Import").click()
    ops_page.set_input_files('input[name="file"]', str(_csv(tmp_path / "november.csv")))
    ops_page.get_by_role("button", name="Upload").click()
    expect(ops_page.locator("#map_reference")).to_have_value("0")  # guessed from "Order ref"
    expect(ops_page.locator("#map_destination")).to_have_value("6")
    ops_page.get_by_role("button", name="Dry run").click()
    expect(ops_page.locator("#dry-create")).to_have_text("10")
    expect(ops_page.locator("#dry-reject")).to_have_text("2")
    expect(ops_page.locator("#dry-run")).to_contain_text('"hovercraft" is not a valid choice')
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-import-dry-run.png"), full_page=True)

    ops_page.get_by_role("button", name=re.compile(r"Import \(10 to create\)")).click()
    bar = ops_page.locator("#import-bar")
    expect(bar).to_have_attribute("value", "0")
    expect(bar).to_have_attribute("max", "12")
    assert len(queued) == 1
    job_id = queued[0]["import_id"]
    worker = _in_thread(
        lambda: import_work.import_run(tenant_id=tenant.pk, import_id=job_id, batch=6)
    )
    expect(bar).to_have_attribute("value", "6", timeout=8000)  # polled, no reload
    expect(ops_page.locator("#import-status")).to_have_text("Running")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-import-progress.png"), full_page=True)
    release.set()
    worker.join(20)
    expect(ops_page.locator("#import-status")).to_have_text("Done", timeout=8000)
    expect(bar).to_have_attribute("value", "12")
    counts = ops_page.locator("#import-counts")
    expect(counts).to_contain_text("Created 10")
    expect(counts).to_contain_text("Rejected 2")
    rejected = ops_page.locator("#import-rejected")
    expect(rejected).to_contain_text("PO-7009")
    expect(rejected).to_contain_text("unknown customer account 'NOSUCH'")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-import-result.png"), full_page=True)
    # the result stays: the list of imports links it
    ops_page.goto("/ops/import/")
    expect(ops_page.locator("table")).to_contain_text("november.csv")
    ops_page.get_by_role("link", name="november.csv").click()
    expect(ops_page.locator("#import-status")).to_have_text("Done")
    with tenant_context(tenant.pk):
        assert ShipmentImport.objects.get(pk=job_id).created_count == 10
    assert ops_page.console_errors == []  # type: ignore[attr-defined]

    # the outsider (tenant B) gets a 404 for it
    ops_page.context.clear_cookies()
    _log_in(ops_page, "admin@rival.test")
    response = ops_page.goto(f"/ops/import/{job_id}/")
    assert response is not None and response.status == 404

# ruff: noqa: F811  (the fixtures ops_page and server come from test_ops_e2e)
"""Long operations and the code table in a real browser: a code added in the page, the
replay dry run, save and replay with the progress bar reaching done (htmx polling, no
reload), the list exported as XLSX with its download link, and the SLA countdowns ticking in
the exception queue; screenshots for the README."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Page, expect

from integrations import pipeline, services
from integrations.exceptions.models import ShipmentException
from milestones.services import templates_install_defaults
from portal.ops import jobs, tasks
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.test_ops_e2e import SCREENSHOTS, _log_in, ops_page, server  # noqa: F401
from tests.integrations.factories import IntegrationFactory
from tests.portal.ops.test_codes import X12
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.browser


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


def _seed_messages(tenant) -> None:
    """Four X12 messages, each with an unmapped code (ZZ): four dead letters."""
    with tenant_context(tenant.pk):
        templates_install_defaults()
    integration = IntegrationFactory(tenant=tenant, name="ABCD Freight", kind="x12")
    for n in range(4):
        ShipmentFactory(
            tenant=tenant, reference=f"PO-810{n}", references=[("shipment_id", f"REF77{n}")]
        )
    with tenant_context(tenant.pk):
        for n in range(4):
            body = X12.replace(b"REF777", f"REF77{n}".encode()).replace(
                b"000000201", f"00000040{n}".encode()
            )
            message = services.message_store(integration=integration, channel="upload", body=body)
            pipeline.process_messages([message.pk])


def _seed_list(tenant, out: dict) -> None:
    """Shipments of two carriers (one named like a spreadsheet formula) and two exceptions:
    a critical one opened 3 h ago (SLA 1 h: overdue) and a minor one opened now (24 h)."""
    with tenant_context(tenant.pk):
        templates_install_defaults()
    for n in range(4):
        carrier = "DHL Freight" if n % 2 == 0 else "=cmd|' /C calc'!A0"
        ShipmentFactory(tenant=tenant, reference=f"PO-810{n}", carrier=carrier)
    now = timezone.now()
    for n, (severity, opened) in enumerate(
        (("critical", now - timedelta(hours=3)), ("minor", now))
    ):
        shipment = ShipmentFactory(tenant=tenant, reference=f"PO-820{n}")
        with tenant_context(tenant.pk):
            out[severity] = ShipmentException.objects.create(
                tenant=tenant,
                shipment=shipment,
                type="missed_milestone",
                severity=severity,
                opened_at=opened,
            ).public_id


@covers_url("ops-integrations", "ops-integration-codes", "ops-job", "ops-job-progress")
def test_code_table_preview_then_save_and_replay_shows_the_progress_bar_reach_done(
    ops_page: Page, server, browser_personas, monkeypatch
):
    tenant = browser_personas.tenant
    _in_thread(lambda: _seed_messages(tenant)).join()
    queued: list[dict] = []
    monkeypatch.setattr(tasks.job_run, "delay", lambda **kwargs: queued.append(kwargs))
    # the replay pauses after its first slice until released: the page shows it half way
    release, slices = threading.Event(), []
    original = jobs._replay_slice

    def paused(job, ids):
        slices.append(ids)
        if len(slices) == 2:
            assert release.wait(20)
        original(job, ids)

    monkeypatch.setattr(jobs, "_replay_slice", paused)

    _log_in(ops_page, "ops@acme.test")
    ops_page.goto("/ops/integrations/")
    ops_page.get_by_role("link", name="Code table").click()
    ops_page.locator("summary").click()  # the format's own mapping, folded at first
    expect(ops_page.locator("#format-defaults")).to_contain_text("AF")
    ops_page.get_by_role("button", name="Add row").click()
    ops_page.locator('input[name="code"]').last.fill("ZZ")
    ops_page.locator('select[name="milestone"]').last.select_option("arrived")
    ops_page.locator('input[name="code"]').first.fill("QQ")  # a row without a milestone
    ops_page.get_by_role("button", name="Preview replay").click()
    expect(ops_page.locator('[data-testid="row-error"]')).to_have_text(
        re.compile(r"row 1: choose a milestone")
    )
    ops_page.get_by_role("button", name="Remove row 1").click()
    ops_page.get_by_role("button", name="Preview replay").click()
    expect(ops_page.locator("#pv-accepted")).to_have_text("4")
    expect(ops_page.locator("#preview-changes")).to_contain_text("arrived")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-code-table-preview.png"), full_page=True)

    ops_page.get_by_role("button", name="Save and replay 4 messages").click()
    bar = ops_page.locator("#job-bar")
    expect(bar).to_have_attribute("max", "4")
    expect(ops_page.locator("#job-status")).to_have_text("Queued")
    assert len(queued) == 1
    job_id = queued[0]["job_id"]
    worker = _in_thread(lambda: jobs._replay_run(tenant.pk, job_id, batch=1))
    expect(bar).to_have_attribute("value", "1", timeout=8000)  # polled, no reload
    expect(ops_page.locator("#job-status")).to_have_text("Running")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-replay-progress.png"), full_page=True)
    release.set()
    worker.join(30)
    expect(ops_page.locator("#job-status")).to_have_text("Done", timeout=8000)
    expect(bar).to_have_attribute("value", "4")
    expect(ops_page.locator("#job-resolved")).to_have_text("4")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-replay-result.png"), full_page=True)
    assert ops_page.console_errors == []  # type: ignore[attr-defined]

    # the outsider (tenant B) gets a 404 for the job and the code table
    ops_page.context.clear_cookies()
    _log_in(ops_page, "admin@rival.test")
    for url in (f"/ops/jobs/{job_id}/", f"/ops/jobs/{job_id}/progress/"):
        response = ops_page.goto(url)
        assert response is not None and response.status == 404


@covers_url("ops-shipments", "ops-export", "ops-job", "ops-job-download", "ops-exceptions")
def test_export_shows_its_download_and_sla_countdowns_tick(
    ops_page: Page, server, browser_personas, monkeypatch
):
    tenant = browser_personas.tenant
    seeded: dict = {}
    _in_thread(lambda: _seed_list(tenant, seeded)).join()
    queued: list[dict] = []
    monkeypatch.setattr(tasks.job_run, "delay", lambda **kwargs: queued.append(kwargs))
    _log_in(ops_page, "ops@acme.test")

    # the list, exported with its filters as XLSX
    ops_page.goto("/ops/?carrier=DHL+Freight")
    ops_page.locator("#export").get_by_role("button", name="XLSX").click()
    expect(ops_page.locator("h1")).to_have_text("Export of the shipment list")
    export_id = queued[0]["job_id"]
    _in_thread(lambda: jobs.job_run(tenant_id=tenant.pk, job_id=export_id)).join(30)
    expect(ops_page.locator("#job-status")).to_have_text("Done", timeout=8000)
    expect(ops_page.locator("#job-bar")).to_have_attribute("value", "2")
    link = ops_page.locator("#job-download")
    expect(link).to_contain_text(".xlsx")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-export-result.png"), full_page=True)
    with ops_page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")

    # the SLA countdowns tick in the browser and the overdue one is marked
    ops_page.goto("/ops/exceptions/")
    overdue = ops_page.locator(f'tr[data-id="{seeded["critical"]}"] .countdown')
    ticking = ops_page.locator(f'tr[data-id="{seeded["minor"]}"] .countdown')
    expect(overdue).to_have_class(re.compile(r"\boverdue\b"))
    expect(overdue).to_have_text(re.compile(r"^overdue 2 h \d\d min$"))
    expect(ticking).to_have_text(re.compile(r"^due in 23 h \d\d min$"))
    expect(ticking).not_to_have_class(re.compile(r"\boverdue\b"))
    expect(ops_page.locator(f'tr[data-id="{seeded["minor"]}"] time')).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")  # the absolute local due time
    )
    groups = ops_page.locator("#exception-groups .countdown")
    expect(groups.first).to_have_attribute("data-ticked", "1")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-exceptions-sla.png"), full_page=True)
    # a countdown under an hour shows seconds: make ours due in 90 s and watch it tick
    ticking.evaluate("el => el.setAttribute('data-due', String(Date.now() / 1000 + 90))")
    expect(ticking).to_have_text(re.compile(r"^due in 1 min \d\d s$"))
    first = ticking.text_content()
    ops_page.wait_for_timeout(1500)
    assert ticking.text_content() != first
    ticking.evaluate("el => el.setAttribute('data-due', String(Date.now() / 1000 + 1))")
    expect(ticking).to_have_class(re.compile(r"\boverdue\b"), timeout=4000)
    expect(ticking).to_have_text(re.compile(r"^overdue 0 min \d\d s$"))
    assert ops_page.console_errors == []  # type: ignore[attr-defined]

    # the outsider (tenant B) gets a 404 for the export
    ops_page.context.clear_cookies()
    _log_in(ops_page, "admin@rival.test")
    for url in (f"/ops/jobs/{export_id}/", f"/ops/jobs/{export_id}/download/"):
        response = ops_page.goto(url)
        assert response is not None and response.status == 404

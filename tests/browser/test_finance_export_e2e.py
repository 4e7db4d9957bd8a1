# ruff: noqa: F811  (the fixtures ops_page and server come from test_ops_e2e)
"""A finance export in a real browser: start it on /finance/, the progress bar moving (htmx
polling) while the Celery task writes the chunks, done, the file downloaded and parsed back;
another tenant's admin gets 404 for it. Screenshots for the README."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from billing import exporting, selectors, services, tasks
from billing.exports import FORMULA_STARTS
from milestones.services import templates_install_defaults
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.billing.factories import freight, rate_card, record, shipment
from tests.browser.test_ops_e2e import SCREENSHOTS, _log_in, ops_page, server  # noqa: F401

pytestmark = pytest.mark.browser

EVIL = '=HYPERLINK("http://x.test","click")'


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


@covers_url(
    "finance-home",
    "finance-exports",
    "finance-export",
    "finance-export-progress",
    "finance-export-download",
)
def test_export_progress_and_download(
    ops_page: Page, server, browser_personas, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    personas = browser_personas
    tenant = personas.tenant

    def seed() -> None:
        with tenant_context(tenant.pk):
            templates_install_defaults()
        rate_card(
            tenant,
            freight("100.00"),
            services.LineSpec(code="handling", description=EVIL, amount="12.345", currency="EUR"),
        )
        for n in range(7):
            ship = shipment(tenant, customer_account=personas.customer_account, reference=f"R{n}")
            record(tenant, ship, "delivered", datetime(2026, 3, 3 + n, 9, tzinfo=UTC))

    _in_thread(seed).join()
    queued: list[dict] = []
    monkeypatch.setattr(tasks.export_run, "delay", lambda **kwargs: queued.append(kwargs))
    # The task pauses before its second chunk until released, so the page shows it running.
    release, reads = threading.Event(), []
    original = selectors.charge_chunk

    def slow_chunk(*args, **kwargs):
        reads.append(1)
        if len(reads) == 2:
            assert release.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "charge_chunk", slow_chunk)

    _log_in(ops_page, "finance@acme.test")
    ops_page.goto("/finance/?period=2026-03")
    form = ops_page.locator("#export-form")
    form.get_by_label("Format").select_option("xlsx")
    form.get_by_label("Customer").select_option(label=personas.customer_account.name)
    form.get_by_role("button", name="Export").click()
    bar = ops_page.locator("#export-bar")
    expect(ops_page.locator("#export-status")).to_have_text("Queued")
    expect(bar).to_have_attribute("value", "0")
    expect(ops_page.locator("#export-count")).to_have_text("0 of 14 charges · 0%")
    assert len(queued) == 1
    job_id = queued[0]["job_id"]
    worker = _in_thread(lambda: exporting.export_run(tenant_id=tenant.pk, job_id=job_id, chunk=5))
    expect(bar).to_have_attribute("value", "36", timeout=8000)  # 5 of 14, polled, no reload
    expect(ops_page.locator("#export-status")).to_have_text("Running")
    ops_page.screenshot(path=str(SCREENSHOTS / "finance-export-progress.png"), full_page=True)
    release.set()
    worker.join(20)
    expect(ops_page.locator("#export-status")).to_have_text("Done", timeout=8000)
    expect(bar).to_have_attribute("value", "100")
    expect(ops_page.locator("#export-count")).to_have_text("14 of 14 charges · 100%")
    ops_page.screenshot(path=str(SCREENSHOTS / "finance-export-done.png"), full_page=True)

    with ops_page.expect_download() as download_info:
        ops_page.locator("#export-download").click()
    download = download_info.value
    assert download.suggested_filename == f"charges-{job_id}.xlsx"
    # (the saved download has no extension, which openpyxl insists on: read the bytes)
    sheet = load_workbook(io.BytesIO(download.path().read_bytes()))["Charges"]
    header = [c.value for c in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 14
    assert sum(Decimal(str(r[header.index("amount")])) for r in rows) == Decimal("786.45")
    for row in sheet.iter_rows(values_only=True):
        for value in row:
            assert not (isinstance(value, str) and value.startswith(FORMULA_STARTS)), value

    # The list on /finance/ links it.
    ops_page.goto("/finance/?period=2026-03")
    expect(ops_page.locator("#export-jobs")).to_contain_text(f"charges-{job_id}.xlsx")
    ops_page.screenshot(path=str(SCREENSHOTS / "finance-home-exports.png"), full_page=True)
    assert ops_page.console_errors == []  # type: ignore[attr-defined]

    # The other tenant's admin: 404 for the job and its file.
    ops_page.context.clear_cookies()
    _log_in(ops_page, "admin@rival.test")
    for path in (f"/finance/exports/{job_id}/", f"/finance/exports/{job_id}/download/"):
        response = ops_page.goto(path)
        assert response is not None and response.status == 404, path

# ruff: noqa: F811  (the fixtures ops_page and server come from test_ops_e2e)
"""The exception queue and tasks in a real browser: the queue refreshes live when an exception
is resolved elsewhere, bulk acknowledge from the page; screenshots for the README."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Page, expect

from integrations.exceptions.models import ShipmentException
from integrations.exceptions.services import exception_resolve
from integrations.workflow.services import create_task
from milestones.services import templates_install_defaults
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.test_ops_e2e import SCREENSHOTS, _log_in, ops_page, server  # noqa: F401
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.browser


def _in_thread(work) -> dict:
    out: dict = {}

    def run() -> None:
        try:
            out.update(work() or {})
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out


@covers_url("ops-exceptions", "ops-exceptions-act", "ops-tasks")
def test_queue_refreshes_live_and_acknowledges_in_bulk(ops_page: Page, server, browser_personas):
    tenant = browser_personas.tenant

    def seed() -> dict:
        with tenant_context(tenant.pk):
            templates_install_defaults()
        kinds = [
            ("missed_milestone", "critical", 5),
            ("delayed_departure", "major", 2),
            ("customs_hold", "major", 30),
            ("long_dwell", "minor", 1),
        ]
        found = []
        for n, (kind, severity, hours) in enumerate(kinds):
            shipment = ShipmentFactory(tenant=tenant, reference=f"ACME-{5100 + n}")
            with tenant_context(tenant.pk):
                found.append(
                    ShipmentException.objects.create(
                        tenant=tenant,
                        shipment=shipment,
                        type=kind,
                        severity=severity,
                        opened_at=timezone.now() - timedelta(hours=hours),
                    )
                )
        create_task(
            tenant_id=tenant.pk,
            title="Call the consignee about the customs hold",
            assignee_role="ops",
            shipment_id=found[2].shipment_id,
            due_at=timezone.now() - timedelta(hours=1),
        )
        return {"exceptions": found}

    data = _in_thread(seed)
    _log_in(ops_page, "ops@acme.test")
    ops_page.goto("/ops/exceptions/")
    ops_page.wait_for_function("window.__live && window.__live.connected()")
    ours = data["exceptions"]
    for x in ours:  # (detection may add exceptions of its own for these shipments)
        expect(ops_page.locator(f'tr[data-id="{x.public_id}"]')).to_have_count(1)
    expect(ops_page.locator("#exception-groups")).to_contain_text("Customs hold too long")
    expect(ops_page.locator("#exception-rows")).to_contain_text("overdue")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-exceptions.png"), full_page=True)

    dwell = data["exceptions"][3]

    def resolve_elsewhere() -> None:
        with tenant_context(tenant.pk):
            exception_resolve(exception=dwell, note="left the depot")

    _in_thread(resolve_elsewhere)
    gone = ops_page.locator(f'tr[data-id="{dwell.public_id}"]')
    expect(gone).to_have_count(0, timeout=5000)  # live, no reload
    expect(ops_page.locator(f'tr[data-id="{ours[0].public_id}"]')).to_have_count(1)

    for x in data["exceptions"][:2]:
        ops_page.check(f'input[value="{x.public_id}"]')
    ops_page.get_by_role("button", name="Acknowledge").click()
    expect(ops_page.locator(".messages")).to_contain_text("2 exception(s) updated.")
    first = ops_page.locator(f'tr[data-id="{ours[0].public_id}"]')
    expect(first).to_contain_text("Acknowledged")

    ops_page.goto("/ops/tasks/?view=role")
    expect(ops_page.locator("#task-rows")).to_contain_text("Call the consignee")
    ops_page.screenshot(path=str(SCREENSHOTS / "ops-tasks.png"), full_page=True)
    ops_page.get_by_role("button", name="Done").click()
    expect(ops_page.locator("#task-rows")).to_contain_text("No tasks.")
    assert ops_page.console_errors == []  # type: ignore[attr-defined]

# ruff: noqa: F811  (the fixtures ops_page and server come from test_ops_e2e)
"""The settings pages in a real browser, as an admin: a template draft refused by the engine
shows the error on its row, then is published and its diff shown; a rule and a webhook are
created (the secret shown once, a test event in the delivery log); every settings page renders
without console errors; screenshots for the README (docs/screenshots/)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from milestones.models import MilestoneTemplate
from milestones.services import templates_install_defaults
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.test_ops_e2e import SCREENSHOTS, _log_in, ops_page, server  # noqa: F401

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


@covers_url(
    "ops-settings",
    "ops-settings-templates",
    "ops-settings-template",
    "ops-settings-template-edit",
    "ops-settings-template-diff",
    "ops-settings-rules",
    "ops-settings-rule-new",
    "ops-settings-webhooks",
    "ops-settings-webhook",
    "ops-settings-webhook-test",
    "ops-settings-users",
    "ops-settings-notifications",
    "ops-settings-branding",
)
def test_settings_editors_in_the_browser(ops_page: Page, server, browser_personas):
    tenant = browser_personas.tenant

    def seed() -> dict:
        with tenant_context(tenant.pk):
            templates_install_defaults()
            return {"template": MilestoneTemplate.objects.get(mode="road_ftl")}

    template = _in_thread(seed)["template"]
    page = ops_page
    _log_in(page, "admin@acme.test")

    # Templates: list -> edit -> a negative tolerance is refused on its own row
    page.goto("/ops/settings/")
    page.get_by_role("link", name="Milestone templates").click()
    expect(page.get_by_role("heading", name="Milestone templates")).to_be_visible()
    page.locator(f'a[href="/ops/settings/templates/{template.pk}/edit/"]').click()
    row = page.locator('tr:has(input[name$="-code"][value="delivered"])')
    row.locator('input[name$="-tolerance_hours"]').fill("-1")
    row.locator('input[name$="-label_en"]').fill("Handed over")
    page.get_by_role("button", name="Check and show the diff").click()
    row = page.locator('tr:has(input[name$="-code"][value="delivered"])')
    expect(row).to_have_class("invalid")
    expect(row.locator(".field-errors")).to_contain_text("tolerance of 'delivered' is negative")
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-template-errors.png"), full_page=False)

    # fixed: the check shows the diff, publishing makes v2 and opens the v1 -> v2 diff
    row.locator('input[name$="-tolerance_hours"]').fill("7:30")
    page.get_by_role("button", name="Check and show the diff").click()
    expect(page.get_by_test_id("diff")).to_contain_text("Handed over")
    page.fill('input[name="note"]', "delivery tolerance 7.5 h")
    page.get_by_role("button", name="Publish as a new version").click()
    expect(page.get_by_role("heading")).to_contain_text("v1 → v2")
    expect(page.locator("table.diff ins").first).to_be_visible()
    expect(page.get_by_test_id("diff")).to_contain_text("7:30:00")
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-template-diff.png"), full_page=True)
    page.get_by_role("link", name=template.name).click()
    expect(page.get_by_role("heading", name=f"{template.name} · v2")).to_be_visible()

    # Rules: an invalid "when" is shown at the field, then the rule is saved
    page.goto("/ops/settings/rules/")
    page.get_by_role("link", name="New rule").click()
    page.fill('input[name="name"]', "Tag delivered")
    page.select_option('select[name="trigger"]', "status_becomes")
    page.fill('textarea[name="when"]', '{"status": "teleported"}')
    page.fill('textarea[name="actions"]', '[{"type": "set_tag", "config": {"tag": "done"}}]')
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("label.field.invalid")).to_contain_text("when.status")
    page.fill('textarea[name="when"]', '{"status": "delivered"}')
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("link", name="Tag delivered")).to_be_visible()

    # Webhooks: created, the secret shown once, a test event lands in the delivery log
    page.goto("/ops/settings/webhooks/")
    page.fill('input[name="url"]', "https://tms.example.com/milepost")
    page.fill('input[name="description"]', "Customer TMS")
    page.check('input[value="shipment.delivered"]')
    page.check('input[value="eta.changed"]')
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_test_id("secret")).to_contain_text("whsec_")
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_test_id("deliveries")).to_contain_text("webhook.test")
    expect(page.get_by_test_id("secret")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-webhook.png"), full_page=True)

    for path, heading in (
        ("/ops/settings/users/", "Users and roles"),
        ("/ops/settings/notifications/", "Notifications"),
        ("/ops/settings/branding/", "Branding"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-branding.png"), full_page=True)
    page.goto("/ops/settings/rules/")
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-rules.png"), full_page=False)
    page.goto("/ops/settings/users/")
    page.screenshot(path=str(SCREENSHOTS / "ops-settings-users.png"), full_page=False)
    assert page.console_errors == [], page.console_errors  # type: ignore[attr-defined]

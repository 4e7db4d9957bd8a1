"""Login, tenant heading and tenant switching, clicked through in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.access import covers_url
from tests.tenancy.factories import TEST_PASSWORD, MembershipFactory

pytestmark = pytest.mark.browser


def _log_in(page: Page, email: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', password)
    page.locator('form:has(input[name="password"]) [type="submit"]').click()
    page.wait_for_load_state()


@covers_url("home")
def test_member_logs_in_and_sees_only_their_tenant(page: Page, browser_personas):
    _log_in(page, "ops@acme.test")
    expect(page).to_have_url(re.compile(r"/ops/$"))  # office roles land in the dashboard
    expect(page.locator(".tenant-name")).to_have_text("Acme Forwarding")
    expect(page.locator("body")).not_to_contain_text("Rival Courier")
    # One membership: no tenant picker.
    expect(page.locator("#tenant-select")).to_have_count(0)


@covers_url("tenant-switch")
def test_member_of_two_tenants_switches_with_the_header_select(page: Page, browser_personas):
    MembershipFactory(
        tenant=browser_personas.other_tenant, user=browser_personas.member, role="finance"
    )
    _log_in(page, "ops@acme.test")
    picker = page.locator("#tenant-select option:checked")
    expect(picker).to_have_text("Acme Forwarding")

    with page.expect_navigation():
        page.select_option("#tenant-select", "rival-courier")  # auto-submits on change
    expect(picker).to_have_text("Rival Courier")
    expect(page.locator("#tenant-select")).to_have_value("rival-courier")
    expect(page.locator(".who")).to_contain_text("Finance")

    page.reload()  # the choice is kept in the session
    expect(picker).to_have_text("Rival Courier")


@covers_url("home")
def test_wrong_password_shows_the_error_and_stays_on_the_login_page(page: Page, browser_personas):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))

    _log_in(page, "ops@acme.test", "not-the-password")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator("body")).to_contain_text("not correct")
    expect(page.locator(".tenant-name")).to_have_count(0)
    expect(page.locator('input[name="password"]')).to_be_visible()

# ruff: noqa: F811  (the fixtures asgi_url and scene come from test_portal_e2e)
"""The dispatcher's route page, the driver page in German and the Leaflet maps in Chromium,
over the in-process ASGI server (websockets included): a dispatcher re-orders stops with the
keyboard only, the order survives a reload and reaches the open driver page live; the
tracking page draws its map with no tile server, no console error and no request elsewhere.

Screenshots go to docs/screenshots/ (README, "Customer portal and driver page").
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from portal.routing.models import Route
from portal.tracking import services as portal_services
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.test_portal_e2e import (  # noqa: F401
    SHOTS,
    _context,
    _log_in,
    _ping,
    _top,
    asgi_url,
    off_loop,
    scene,
)


def _watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    return errors


def _rows(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#stops tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)"
    )


def _driver_order(page: Page) -> list[str]:
    return page.eval_on_selector_all("#stops .stop", "items => items.map(i => i.dataset.id)")


@covers_url("ops-routes", "ops-route", "ops-route-order", "driver-page", "driver-stops")
def test_dispatcher_reorders_with_the_keyboard_and_the_driver_page_follows_live(
    browser: Browser, asgi_url: str, scene
):
    route = scene["route"]
    driver_context = _context(browser, asgi_url, mobile=True)
    driver = driver_context.new_page()
    driver_errors = _watch(driver)
    _log_in(driver, "driver@acme.test")
    driver.goto("/driver/")
    expect(driver.locator(".stop")).to_have_count(4)
    expect(driver.locator("#map.leaflet-container")).to_be_visible()
    solver_order = _driver_order(driver)

    context = _context(browser, asgi_url)
    ops = context.new_page()
    errors = _watch(ops)
    _log_in(ops, "ops@acme.test")
    ops.goto("/ops/routes/")
    expect(ops.locator("section.route")).to_have_count(1)
    expect(ops.locator("#live")).to_have_text("live")
    ops.screenshot(path=str(SHOTS / "ops-routes.png"), full_page=True)
    ops.locator("section.route h2 a").click()
    expect(ops.locator("#stops tbody tr[data-id]")).to_have_count(4)
    expect(ops.locator("#live")).to_have_text("live")
    assert _rows(ops) == solver_order

    # keyboard only: the first stop goes down twice; the focus stays on its "down" button
    first = solver_order[0]
    ops.locator(f'tr[data-id="{first}"] button.down').focus()
    ops.keyboard.press("Enter")
    ops.keyboard.press("Enter")
    wanted = [solver_order[1], solver_order[2], first, solver_order[3]]
    assert _rows(ops) == wanted
    assert ops.evaluate("document.activeElement.closest('tr').dataset.id") == first
    expect(ops.locator("#announce")).to_have_text("Moved to position 3 of 4.")
    expect(ops.locator("#dirty")).to_be_visible()
    ops.screenshot(path=str(SHOTS / "ops-route-reorder.png"), full_page=True)
    ops.locator("#save-order").focus()
    with ops.expect_navigation():
        ops.keyboard.press("Enter")
    expect(ops.locator("ul.messages")).to_contain_text("Order saved")
    ops.reload()
    assert _rows(ops) == wanted  # persisted
    expect(ops.locator("#sequenced-by")).to_have_attribute("data-by", "dispatcher")

    # the open driver page heard of it and shows the new order without a reload
    expect(driver.locator("#rerouted")).to_be_visible(timeout=10_000)
    assert _driver_order(driver) == wanted
    expect(driver.locator(".stop .seq").first).to_have_text("1")
    _top(driver)
    driver.screenshot(path=str(SHOTS / "driver-mobile-rerouted.png"), full_page=True)
    with tenant_context(scene["personas"].tenant.pk):
        assert Route.objects.get(pk=route.pk).sequenced_by == "dispatcher"
    assert errors == [] and driver_errors == [], (errors, driver_errors)
    context.close()
    driver_context.close()


@covers_url("track-share")
def test_tracking_map_is_leaflet_without_tiles_and_without_console_errors(
    browser: Browser, asgi_url: str, scene
):
    context = _context(browser, asgi_url, mobile=True)
    page = context.new_page()
    errors = _watch(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"/t/{scene['share']}/")
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#map-card")).to_be_hidden()  # no position yet
    assert page.evaluate("typeof window.L") == "undefined"  # nor Leaflet: fetched on demand
    off_loop(_ping, scene)
    expect(page.locator("#map-card")).to_be_visible(timeout=10_000)
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    expect(page.locator("#map .pin")).to_have_count(2)  # the driver (exact) and the address
    assert page.locator("#map .leaflet-tile").count() == 0
    assert page.locator("#map .leaflet-control-attribution").count() == 0
    page.locator("#map-card").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "portal-mobile-map-leaflet.png"))
    assert all(url.startswith(asgi_url) or url.startswith("ws") for url in requests), requests

    def approximate() -> None:
        with tenant_context(scene["personas"].tenant.pk):
            portal_services.settings_set(driver_position="approximate")

    off_loop(approximate)
    page.reload()
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    expect(page.locator("#map .pin")).to_have_count(1)  # the address only: no exact driver pin
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)  # the ~1 km area
    assert errors == [], errors
    context.close()


@covers_url("driver-page")
def test_driver_page_in_german(browser: Browser, asgi_url: str, scene):
    acme = scene["personas"].tenant
    acme.locale = "de"
    off_loop(acme.save)
    context = _context(browser, asgi_url, mobile=True)
    page = context.new_page()
    errors = _watch(page)
    _log_in(page, "driver@acme.test")
    page.goto("/driver/")
    expect(page.locator("#h-stops")).to_have_text("Stopps")
    expect(page.locator("#record")).to_have_text("Erfassen")
    expect(page.locator("label[for=ref]")).to_have_text("Barcode oder Referenz")
    expect(page.locator("#net")).to_have_text("online")
    expect(page.locator(".stop .badge").first).to_have_text("Pünktlich")
    expect(page.locator("#map .pin")).to_have_count(5)  # the start and four stops
    _top(page)
    page.screenshot(path=str(SHOTS / "driver-mobile-de.png"), full_page=True)
    assert errors == [], errors
    context.close()

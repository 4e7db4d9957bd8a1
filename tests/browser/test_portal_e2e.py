"""The customer portal and the driver page in Chromium, against an in-process ASGI server
(HTTP and websockets, like production's uvicorn): branding and isolation, an offline
delivery with photo and signature reaching the customer page live, rating and messaging.

Screenshots go to docs/screenshots/ (README, "Customer portal and driver page").
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from django.core.files.base import ContentFile
from django.db import connections
from playwright.sync_api import Browser, Page, expect

from config.celery import app as celery_app
from milestones.services import templates_install_defaults
from portal.routing import services as routing
from portal.tracking import services as portal_services
from portal.tracking.models import Rating, ThreadMessage
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.browser.conftest import TIMEOUT_MS
from tests.portal.conftest import last_mile, record
from tests.tenancy.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32" viewBox="0 0 120 32">'
    b'<rect width="32" height="32" rx="8" fill="#ffffff"/>'
    b'<path d="M8 22l8-12 8 12z" fill="#6a1b9a"/>'
    b'<text x="40" y="22" font-family="sans-serif" font-size="16" font-weight="700" '
    b'fill="#ffffff">ACME</text></svg>'
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101001827ed3f0000000049454e44ae426082"
)


def _door_photo() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 420), "#b9c4cc")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 300, 640, 420), fill="#8d8478")
    draw.rectangle((230, 40, 410, 300), fill="#5b3b24")
    draw.ellipse((385, 170, 397, 182), fill="#e0c068")
    draw.rectangle((300, 230, 420, 320), fill="#c49a5a", outline="#8a6a3a", width=4)
    draw.line((300, 265, 420, 265), fill="#e8d2a8", width=8)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _top(page: Page) -> None:
    """Scroll up first: a sticky header lands mid-page in a full-page screenshot otherwise."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(100)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def asgi_url(transactional_db, settings, tmp_path) -> Iterator[str]:
    """uvicorn serving config's websocket routes and Django (with static files) in a thread."""
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    from config.routing import websocket_urlpatterns

    settings.ALLOWED_HOSTS = ["*"]
    # every server thread closes its connection after each request (the test database is
    # dropped at the end of the session, which open sessions would block)
    kept = {alias: connections[alias].settings_dict.get("CONN_MAX_AGE") for alias in connections}
    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0
    settings.MEDIA_ROOT = str(tmp_path)
    settings.TRACKING_LOOKUPS_PER_MINUTE = 10_000
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    application = ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(get_asgi_application()),
            "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        }
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
    celery_app.conf.task_always_eager = eager
    for alias, age in kept.items():
        connections[alias].settings_dict["CONN_MAX_AGE"] = age


@pytest.fixture
def scene(browser_personas):
    personas = browser_personas
    acme, rival = personas.tenant, personas.other_tenant
    acme.primary_colour, acme.accent_colour = "#6a1b9a", "#ffb300"
    acme.support_email, acme.support_phone = "help@acme.test", "+49 40 1234567"
    acme.logo.save("acme.svg", ContentFile(LOGO))
    rival.primary_colour = "#00796b"
    rival.save()
    for tenant in (acme, rival):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    a = last_mile(acme, "ACME123456", personas.customer_account)
    a_other = last_mile(acme, "ACME999999", personas.other_customer_account)
    b = last_mile(rival, "RIVAL55555")
    for tenant, shipment in ((acme, a), (rival, b)):
        record(tenant, shipment, "picked_up", 90)
        record(tenant, shipment, "out_for_delivery", 20)
    with tenant_context(acme.pk):
        portal_services.settings_set(driver_position="exact")
        route = routing.route_for(driver=personas.users["driver"])
        route.start_lat, route.start_lon = 53.5650, 9.9800
        route.save()
        for n in range(3):
            extra = last_mile(
                acme,
                f"ACME70000{n}",
                consignee_name=["Jonas Weber", "Lea Schmidt", "Paul Becker"][n],
                destination_address=f"Ring {n + 2}, 2010{n} Hamburg",
                destination_lat=53.556 + n * 0.004,
                destination_lon=9.985 + n * 0.006,
            )
            record(acme, extra, "out_for_delivery", 20)
            routing.stop_add(route=route, shipment=extra)
        routing.stop_add(route=route, shipment=a)
        routing.route_sequence(route=route)
        _, share = portal_services.share_link_create(shipment=a)
    return {
        "personas": personas,
        "a": a,
        "a_other": a_other,
        "b": b,
        "share": share,
        "route": route,
    }


def _context(browser: Browser, base: str, mobile: bool = False, **kwargs):
    size = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
    context = browser.new_context(
        base_url=base, viewport=size, device_scale_factor=2 if mobile else 1, **kwargs
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _log_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', TEST_PASSWORD)
    page.locator('form:has(input[name="password"]) [type="submit"]').click()
    page.wait_for_load_state()


def off_loop(fn, *args, **kwargs):
    """Run a write that publishes after commit outside Playwright's event loop (the test's
    main thread has one running; async_to_sync refuses to run there)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as error:  # re-raised in the test thread
            box["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _ping(scene) -> None:
    from portal.driver import services as driver_services

    acme = scene["personas"].tenant
    with tenant_context(acme.pk):
        driver_services.driver_position_record(
            driver=scene["personas"].users["driver"], lat=53.5555, lon=9.9930
        )


@covers_url("track-mine", "track-page", "track-logo", "track-share")
def test_branded_portal_isolation_and_live_updates(browser: Browser, asgi_url: str, scene):
    personas = scene["personas"]
    context = _context(browser, asgi_url)
    page = context.new_page()
    _log_in(page, "customer@acme.test")
    page.goto("/portal/shipments/")
    expect(page.locator("header.brand")).to_have_css("background-color", "rgb(106, 27, 154)")
    logo = page.locator("header.brand img")
    expect(logo).to_be_visible()
    assert page.evaluate("document.querySelector('header.brand img').naturalWidth") > 0
    expect(page.locator("main")).to_contain_text("ACME123456")
    expect(page.locator("main")).not_to_contain_text("ACME999999")
    expect(page.locator("main")).not_to_contain_text("RIVAL55555")

    # B's tracking number on A's portal: the very page a nonsense number gets
    page.goto("/track/acme-forwarding/RIVAL55555/")
    foreign = page.locator("main h1").inner_text()
    page.goto("/track/acme-forwarding/NOPE000000/")
    assert page.locator("main h1").inner_text() == foreign == "We could not find that shipment"

    frames: list[str] = []
    page.on(
        "websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload)))
    )
    page.goto(f"/t/{scene['share']}/")
    expect(page.locator("#live")).to_be_visible()
    off_loop(_ping, scene)
    expect(page.locator("#map-card")).to_be_visible()
    seen = len(frames)
    off_loop(
        record, personas.other_tenant, scene["b"], "delivered", 1
    )  # B's update: nothing arrives
    page.wait_for_timeout(800)
    assert len(frames) == seen, frames[seen:]
    assert not any("RIVAL" in f for f in frames)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "portal-desktop-last-mile.png"), full_page=True)

    mobile = _context(browser, asgi_url, mobile=True).new_page()
    mobile.goto(f"/t/{scene['share']}/")
    expect(mobile.locator("#map-card")).to_be_visible()
    mobile.screenshot(path=str(SHOTS / "portal-mobile-last-mile.png"), full_page=True)
    mobile.goto("/track/acme-forwarding/")
    mobile.screenshot(path=str(SHOTS / "portal-mobile-form.png"))
    context.close()


@covers_url("driver-page", "driver-scan", "track-share", "track-file")
def test_offline_delivery_with_photo_and_signature_reaches_the_customer_live(
    browser: Browser, asgi_url: str, scene, tmp_path
):
    customer = _context(browser, asgi_url, mobile=True).new_page()
    customer.goto(f"/t/{scene['share']}/")
    expect(customer.locator("#live")).to_be_visible()
    expect(customer.locator("#pod")).to_be_hidden()

    driver_context = _context(
        browser,
        asgi_url,
        mobile=True,
        geolocation={"latitude": 53.5503, "longitude": 10.0006},
        permissions=["geolocation"],
    )
    driver = driver_context.new_page()
    _log_in(driver, "driver@acme.test")
    driver.goto("/driver/")
    expect(driver.locator(".stop")).to_have_count(4)
    _top(driver)
    driver.screenshot(path=str(SHOTS / "driver-mobile.png"), full_page=True)

    driver_context.set_offline(True)
    expect(driver.locator("#net")).to_have_text("offline")
    driver.locator('.stop[data-ref="ACME123456"] button.pick').click()
    driver.fill("#recipient", "Erika Mustermann")
    photo = tmp_path / "door.jpg"
    photo.write_bytes(_door_photo())
    driver.set_input_files("#photo", str(photo))
    driver.locator("#sig").scroll_into_view_if_needed()
    box = driver.locator("#sig").bounding_box()
    driver.mouse.move(box["x"] + 20, box["y"] + 70)
    driver.mouse.down()
    for i in range(1, 12):
        driver.mouse.move(box["x"] + 20 + i * 25, box["y"] + 70 + (25 if i % 2 else -25))
    driver.mouse.up()
    driver.click("#record")
    expect(driver.locator("#qcount")).to_have_text("1")
    expect(driver.locator("#queue li")).to_contain_text("photo · signature")
    driver.locator("#h-queue").scroll_into_view_if_needed()
    driver.screenshot(path=str(SHOTS / "driver-mobile-offline-queue.png"))
    driver.wait_for_timeout(500)
    expect(driver.locator("#qcount")).to_have_text("1")  # still offline: still queued

    driver_context.set_offline(False)
    expect(driver.locator("#qcount")).to_have_text("0", timeout=15_000)

    pod = customer.locator("#pod")
    expect(pod).to_be_visible(timeout=15_000)  # no reload: the websocket brought it
    expect(pod).to_contain_text("Erika Mustermann")
    expect(customer.locator("#st")).to_have_text("Delivered")
    expect(customer.locator("#pod-photo img")).to_be_visible()
    customer.wait_for_function("document.querySelector('#pod-sig img').naturalWidth > 0")
    customer.wait_for_function("document.querySelector('#pod-photo img').complete")
    _top(customer)
    customer.screenshot(path=str(SHOTS / "portal-mobile-delivered-pod.png"), full_page=True)

    from shipments.models import TrackingEvent

    with tenant_context(scene["personas"].tenant.pk):
        delivered = TrackingEvent.objects.filter(shipment=scene["a"], milestone="delivered")
        assert delivered.count() == 1  # nothing doubled


@covers_url("track-share", "track-action")
def test_customer_rates_and_messages_ops_see_both(browser: Browser, asgi_url: str, scene):
    acme = scene["personas"].tenant
    off_loop(record, acme, scene["a"], "delivered", 2)
    page = _context(browser, asgi_url).new_page()
    page.goto(f"/t/{scene['share']}/")
    page.locator('label[for="star2"]').click()
    page.fill("#cm", "Parcel was left in the rain")
    page.locator("#rate button[type=submit]").click()
    expect(page.locator("#rate")).to_contain_text("What went wrong?")
    page.fill("#fu", "The box was soaked")
    page.locator("#rate button[type=submit]").click()
    expect(page.locator("#rate")).to_contain_text("Thank you")
    page.select_option("#to", "driver")
    page.fill("#body", "Next time please ring twice")
    page.locator("#msg-form button[type=submit]").click()
    expect(page.locator("#thread")).to_contain_text("Next time please ring twice")
    with tenant_context(acme.pk):
        rating = Rating.objects.get(shipment=scene["a"])
        assert (rating.stars, rating.followup_answer) == (2, "The box was soaked")
        message = ThreadMessage.objects.get(shipment=scene["a"])
        assert (message.author_kind, message.addressed_to) == ("customer", "driver")
    # ops (and the driver) read the same thread: the driver page's stop has it through the
    # shipment; ops through the database until the ops dashboard shows threads
    page.screenshot(path=str(SHOTS / "portal-desktop-delivered-rated.png"), full_page=True)

"""Playwright fixtures: the system Chromium, one browser per module, a fresh context per test.

Never `playwright install`: the browser is /usr/bin/chromium (scripts/chromium.sh installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures import Personas, make_personas

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 10_000

# Playwright's sync API drives an asyncio event loop in the main thread (via greenlets), so
# while a browser is open Django sees a running loop and refuses the ORM calls the tests and
# fixtures make in that thread ("You cannot call this from an async context"). Nothing here
# is async code, so the check is a false alarm and DJANGO_ALLOW_ASYNC_UNSAFE switches it off.
# It is set only while the browser fixture is alive (not at import time) and restored after,
# so the rest of the suite — the websocket tests in particular — keeps the real check.
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: run scripts/chromium.sh (apt-get install chromium)")
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def browser_personas(transactional_db) -> Personas:
    """The personas, committed: the live server answers from its own thread and connection."""
    return make_personas()

"""Marks which URL patterns a test proves the access rules of, and proves it asked for them.

``@covers_url("name", ...)`` on a test says it exercises those URL patterns; while the test
runs, every request Django resolves (test client, live server threads) is recorded, and the
test fails at teardown if it never requested one of the names it claims
(tests/conftest.py). ``tests/tenancy/test_url_coverage.py`` fails when a URL pattern of ours
has no such test. Third-party URL sets count as groups: "admin:*" and "allauth:*".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.handlers.base import BaseHandler

_lock = threading.Lock()
_seen: set[tuple[str, str]] | None = None  # (view name, view module) resolved meanwhile
_original_resolve = BaseHandler.resolve_request


def covers_url(*names: str) -> Callable[[Any], Any]:
    def mark(test: Any) -> Any:
        test.covers_urls = names
        return test

    return mark


def _recording_resolve(self: BaseHandler, request: Any) -> Any:
    match = _original_resolve(self, request)
    with _lock:
        if _seen is not None:
            _seen.add((match.view_name or "", getattr(match.func, "__module__", "") or ""))
    return match


@contextmanager
def recording() -> Iterator[set[tuple[str, str]]]:
    """Record the URL names every request resolves to while the block runs."""
    global _seen
    seen: set[tuple[str, str]] = set()
    with _lock:
        _seen = seen
    BaseHandler.resolve_request = _recording_resolve  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        with _lock:
            _seen = None
        BaseHandler.resolve_request = _original_resolve  # type: ignore[method-assign]


def unproven(names: Iterable[str], seen: set[tuple[str, str]]) -> list[str]:
    """The claimed names no recorded request resolved to."""
    missing = []
    for name in names:
        if name == "admin:*":
            hit = any(view.startswith("admin:") for view, _ in seen)
        elif name == "allauth:*":
            hit = any(module.startswith("allauth") for _, module in seen)
        else:
            hit = any(view == name for view, _ in seen)
        if not hit:
            missing.append(name)
    return missing

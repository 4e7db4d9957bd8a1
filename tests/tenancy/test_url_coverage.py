"""Every URL pattern of ours has an access test (see tests/access.py).

Third-party URL sets are covered as a group: "admin:*" and "allauth:*" need one marker each.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

TESTS_DIR = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"@covers_url\(([^)]*)\)")


def _patterns(resolvers, namespace: str = ""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield namespace, entry


def _required_markers() -> set[str]:
    required = set()
    for namespace, pattern in _patterns(get_resolver().url_patterns):
        module = getattr(pattern.callback, "__module__", "")
        if namespace.startswith("admin:"):
            required.add("admin:*")
        elif module.startswith("allauth"):
            required.add("allauth:*")
        elif module.startswith(("drf_spectacular", "django.views.static")):
            required.add(f"{namespace}{pattern.name}")
        else:
            assert pattern.name, f"unnamed URL pattern {pattern.pattern} ({module})"
            required.add(f"{namespace}{pattern.name}")
    return required


def _registered_markers() -> set[str]:
    found = set()
    for path in TESTS_DIR.rglob("test_*.py"):
        for args in MARKER.findall(path.read_text()):
            found.update(re.findall(r"[\"']([^\"']+)[\"']", args))
    return found


def test_every_url_pattern_has_an_access_test():
    missing = sorted(_required_markers() - _registered_markers())
    assert missing == [], f"URL patterns without an access test: {missing}"


def test_the_scan_finds_markers_and_patterns():
    assert "healthz" in _registered_markers()
    assert {"home", "api-me", "allauth:*"} <= _required_markers()

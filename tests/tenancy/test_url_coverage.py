"""Every URL pattern of ours has an access test that really requests it (tests/access.py).

The markers are read from the test functions themselves (every test module is imported), and
each marked test is held to them at run time: a claim without a request fails that test.
Third-party URL sets are covered as a group: "admin:*" and "allauth:*" need one marker each.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests import access

TESTS_DIR = Path(__file__).resolve().parents[1]


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
        else:
            assert pattern.name, f"unnamed URL pattern {pattern.pattern} ({module})"
            required.add(f"{namespace}{pattern.name}")
    return required


def _registered_markers() -> set[str]:
    found: set[str] = set()
    for path in sorted(TESTS_DIR.rglob("test_*.py")):
        name = ".".join(path.relative_to(TESTS_DIR.parent).with_suffix("").parts)
        module = importlib.import_module(name)
        for _, test in inspect.getmembers(module, inspect.isfunction):
            found.update(getattr(test, "covers_urls", ()))
    return found


def test_every_url_pattern_has_an_access_test():
    missing = sorted(_required_markers() - _registered_markers())
    assert missing == [], f"URL patterns without an access test: {missing}"


def test_the_scan_finds_markers_and_patterns():
    assert "healthz" in _registered_markers()
    assert {"home", "api-me", "allauth:*"} <= _required_markers()


@pytest.mark.django_db
def test_a_claim_is_proven_only_by_a_request():
    with access.recording() as seen:
        Client().get(reverse("healthz"))
        Client().get("/accounts/login/")
    assert access.unproven(["healthz", "allauth:*"], seen) == []
    assert access.unproven(["readyz", "admin:*"], seen) == ["readyz", "admin:*"]

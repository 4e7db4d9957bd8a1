"""Test database: created and migrated by the owner role, used by the app role.

So every test runs with PostgreSQL row-level security in force, exactly as production.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connections

from tests import access

pytest_plugins = ["tests.fixtures"]


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    with django_db_blocker.unblock():
        owner = connections["owner"]
        test_name = owner.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False, keepdb=False
        )
        _point_alias_at("default", test_name)
        _grant_truncate_for_flush(owner)
    yield
    with django_db_blocker.unblock():
        for alias in ("default", "owner"):
            connections[alias].close()
        owner.creation.destroy_test_db(test_name, verbosity=0)


def _point_alias_at(alias: str, name: str) -> None:
    settings.DATABASES[alias]["NAME"] = name
    connections[alias].settings_dict["NAME"] = name
    connections[alias].close()


def _grant_truncate_for_flush(owner) -> None:
    # Transactional tests reset tables with TRUNCATE, which the app role lacks in production.
    app_role = owner.ops.quote_name(settings.DATABASES["default"]["USER"])
    with owner.cursor() as cursor:
        cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {app_role}")


DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "live_server"}
)


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Rate-limit counters and cached values must not leak from one test into the next.

    Only for tests that use the database (and so the running services): pure tests (parsers,
    the engine, the import graph) run with no PostgreSQL and no Redis at all."""
    uses_services = bool(DATABASE_FIXTURES & set(request.fixturenames)) or bool(
        request.node.get_closest_marker("django_db")
    )
    if uses_services:
        from django.core.cache import cache

        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer: a Redis layer belongs to the event loop that
    first received on it, and browser tests serve websockets from a server thread's loop
    ("Two event loops are trying to receive() on one channel layer at once!")."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _prove_covered_urls(request):
    """A test marked @covers_url must really request each URL it claims (tests/access.py)."""
    names = getattr(getattr(request, "function", None), "covers_urls", ())
    if not names:
        yield
        return
    with access.recording() as seen:
        yield
    missing = access.unproven(names, seen)
    if missing:
        pytest.fail(f"@covers_url claims {missing} but the test never requested them")


def pytest_addoption(parser):
    group = parser.getgroup("milepost")
    group.addoption(
        "--services",
        choices=("any", "none", "needed"),
        default="any",
        help="none: only tests that use no database (run with the services out of reach); "
        "needed: only the others (scripts/test.sh runs both phases)",
    )


def _uses_services(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return (
        bool(DATABASE_FIXTURES & fixtures)
        or item.get_closest_marker("django_db") is not None
        or item.get_closest_marker("services") is not None
    )


def _select_by_services(config, items) -> None:
    wanted = config.getoption("--services")
    if wanted == "any":
        return
    keep = [item for item in items if _uses_services(item) == (wanted == "needed")]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def pytest_collection_modifyitems(config, items):
    _select_by_services(config, items)
    """Tests marked ``soak`` are the full-size heavy proofs: they run under ``make soak``
    (SOAK=1) and are skipped in ``make test``, which runs their smaller siblings."""
    if os.environ.get("SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="full-size soak proof: run `make soak`")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)

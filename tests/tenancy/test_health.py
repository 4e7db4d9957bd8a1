from __future__ import annotations

import contextlib

import pytest
from django.test import Client

from tests.access import covers_url


@covers_url("healthz")
def test_healthz_is_public_json():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@covers_url("readyz")
def test_readyz_checks_database_redis_and_migrations():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }


@pytest.mark.django_db
@covers_url("readyz")
def test_readyz_reports_a_broken_redis(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    from django.core.cache import caches

    caches._settings = caches.settings = settings.CACHES
    with contextlib.suppress(AttributeError):
        del caches._connections.default
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"].startswith("error:")
    assert body["checks"]["database"] == "ok"

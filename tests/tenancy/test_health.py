from __future__ import annotations

import contextlib
import time

import pytest
import redis
from django.conf import settings
from django.test import Client

from tenancy.heartbeats import HEARTBEAT_KEY, worker_heartbeat_clear, worker_heartbeat_record
from tests.access import covers_url


@pytest.fixture
def heartbeats():
    """The broker's heartbeat set, emptied before and after (a real worker of another test
    may have left its entry)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(HEARTBEAT_KEY)
    yield broker
    broker.delete(HEARTBEAT_KEY)


@covers_url("healthz")
def test_healthz_is_public_json():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@covers_url("readyz")
def test_readyz_checks_database_redis_migrations_and_worker_heartbeats(heartbeats):
    worker_heartbeat_record(hostname="celery@old", at=time.time() - 120)
    worker_heartbeat_record(hostname="celery@live")
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "migrations": "ok", "workers": "ok"}
    # Freshest first; the one that stopped beating shows how long ago it did.
    assert list(body["workers"]) == ["celery@live", "celery@old"]
    assert body["workers"]["celery@live"]["heartbeat_age_s"] < 5
    assert 119 <= body["workers"]["celery@old"]["heartbeat_age_s"] < 130


@pytest.mark.django_db
@covers_url("readyz")
def test_readyz_is_unavailable_without_a_live_worker(heartbeats):
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "error: no Celery worker has sent a heartbeat"
    worker_heartbeat_record(hostname="celery@dead", at=time.time() - 60)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "error: no Celery worker heartbeat for 60 s"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.services
def test_a_worker_that_shuts_down_cleanly_leaves_no_heartbeat(heartbeats):
    worker_heartbeat_record(hostname="celery@a")
    worker_heartbeat_record(hostname="celery@b")
    worker_heartbeat_clear(hostname="celery@a")
    assert heartbeats.zrange(HEARTBEAT_KEY, 0, -1) == [b"celery@b"]


@pytest.mark.services
def test_heartbeats_of_workers_gone_for_a_day_are_forgotten(heartbeats):
    worker_heartbeat_record(hostname="celery@gone", at=time.time() - 2 * 86400)
    worker_heartbeat_record(hostname="celery@here")
    assert heartbeats.zrange(HEARTBEAT_KEY, 0, -1) == [b"celery@here"]


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

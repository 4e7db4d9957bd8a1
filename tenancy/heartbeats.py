"""Worker heartbeats: each Celery worker, while it is connected to the broker, records the time
in one sorted set on the broker's Redis; readiness (``/readyz``) reads it.

A worker that died, hangs, or lost the broker stops beating, and ``/readyz`` says so within
``HEARTBEAT_STALE_S``. One ZADD per worker every ``HEARTBEAT_INTERVAL_S`` and one ZRANGE per
readiness probe, on the Redis the workers need anyway; short socket timeouts keep a Redis that
is unreachable from stalling the worker's event loop or the probe.
"""

from __future__ import annotations

import functools
import time
from typing import cast

import redis
from django.conf import settings

HEARTBEAT_KEY = "milepost:worker-heartbeats"
HEARTBEAT_INTERVAL_S = 5.0
# Three missed beats: a worker busy with a long task still beats (the main process does it).
HEARTBEAT_STALE_S = 20.0
# Entries of workers gone for good (renamed hosts, scaled-down containers) are dropped.
HEARTBEAT_FORGET_S = 24 * 3600.0


@functools.cache
def _broker_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
    )


def worker_heartbeat_record(*, hostname: str, at: float | None = None) -> None:
    now = time.time() if at is None else at
    pipe = _broker_redis().pipeline(transaction=False)
    pipe.zadd(HEARTBEAT_KEY, {hostname: now})
    pipe.zremrangebyscore(HEARTBEAT_KEY, "-inf", now - HEARTBEAT_FORGET_S)
    pipe.execute()


def worker_heartbeat_clear(*, hostname: str) -> None:
    """A worker that shuts down cleanly leaves no stale entry behind."""
    _broker_redis().zrem(HEARTBEAT_KEY, hostname)


def worker_heartbeat_ages() -> dict[str, float]:
    """Seconds since each known worker's last heartbeat, freshest first."""
    now = time.time()
    rows = cast(
        "list[tuple[bytes, float]]",
        _broker_redis().zrange(HEARTBEAT_KEY, 0, -1, desc=True, withscores=True),
    )
    return {name.decode(): round(max(0.0, now - score), 1) for name, score in rows}

"""Publishing live updates: always after commit, always into a tenant-scoped group.

Every message gets the group's next sequence number (``seq``) and is kept for a while in
Redis (the newest ``LIVE_REPLAY_KEEP`` per group, for ``LIVE_REPLAY_TTL_S``), so a client that
reconnects asks for what it missed since its last ``seq`` (``messages_since``) instead of
reloading. The counter and the copy are written in one round trip before the group send.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from functools import cache
from typing import Any

import orjson
import redis
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from tenancy.consumers import tenant_group


def layer_redis_url() -> str:
    """The channel layer's Redis (the replay log lives beside the groups)."""
    layers: Any = settings.CHANNEL_LAYERS
    host = layers["default"]["CONFIG"]["hosts"][0]
    return str(host["address"] if isinstance(host, dict) else host)


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(layer_redis_url(), socket_connect_timeout=1, socket_timeout=2)


def _keys(group: str) -> tuple[str, str]:
    return f"live-seq:{group}", f"live-log:{group}"


def stamp(group: str, payload: dict) -> dict:
    """The payload with the group's next ``seq``, kept for replay."""
    seq_key, log_key = _keys(group)
    client = _redis()
    seq = int(client.incr(seq_key))
    stamped = payload | {"seq": seq}
    keep, ttl = settings.LIVE_REPLAY_KEEP, settings.LIVE_REPLAY_TTL_S
    pipe = client.pipeline(transaction=False)
    pipe.zadd(log_key, {orjson.dumps(stamped): seq})
    pipe.zremrangebyrank(log_key, 0, -keep - 1)
    pipe.expire(log_key, ttl)
    pipe.expire(seq_key, max(ttl, 86400))
    pipe.execute()
    return stamped


SEND_TIMEOUT_S = 5.0
_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def _process_loop() -> asyncio.AbstractEventLoop:
    """This process's own event loop for live sends from sync code, in a daemon thread.

    ``async_to_sync`` outside any event loop makes a new loop (in a new thread) per call, and
    the channel layer's Redis connections belong to a loop: every send paid a thread, a loop
    and a fresh connection (the ``push`` benchmark's "delivered" stage). One long-lived loop
    keeps the layer's connections warm. Made lazily per process id: a Celery prefork child
    gets its own after the fork (threads do not survive one)."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid() or _loop[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="milepost-live", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def _under_an_event_loop() -> bool:
    """Called from a sync_to_async thread of a running loop (consumers, ASGI views, tests):
    async_to_sync then runs the send on that loop, whose connections are warm already."""
    main = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    return main is not None and pid == os.getpid() and main.is_running()


def send_now(group: str, payload: dict) -> None:
    """Stamp and send at once (callers outside a transaction, benchmarks)."""
    layer = get_channel_layer()
    message = {"type": "tenant.event", "payload": stamp(group, payload)}
    if _under_an_event_loop():
        async_to_sync(layer.group_send)(group, message)
        return
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _process_loop())
    try:
        future.result(timeout=SEND_TIMEOUT_S)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise


def publish_on_commit(*, tenant_id: int, payload: dict, topic: str = "ops") -> None:
    group = tenant_group(tenant_id, topic)

    # robust: the change is committed; a channel layer that is down costs the live update,
    # never the request or the worker's batch (pages catch up when they reload).
    transaction.on_commit(lambda: send_now(group, payload), robust=True)

"""Publishing live updates: always after commit, always into a tenant-scoped group.

Every message gets the group's next sequence number (``seq``) and is kept for a while in
Redis (the newest ``LIVE_REPLAY_KEEP`` per group, for ``LIVE_REPLAY_TTL_S``), so a client that
reconnects asks for what it missed since its last ``seq`` (``messages_since``) instead of
reloading. The counter and the copy are written in one round trip before the group send.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import redis
from asgiref.sync import async_to_sync
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


def send_now(group: str, payload: dict) -> None:
    """Stamp and send at once (callers outside a transaction, benchmarks)."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(
        group, {"type": "tenant.event", "payload": stamp(group, payload)}
    )


def publish_on_commit(*, tenant_id: int, payload: dict, topic: str = "ops") -> None:
    group = tenant_group(tenant_id, topic)

    # robust: the change is committed; a channel layer that is down costs the live update,
    # never the request or the worker's batch (pages catch up when they reload).
    transaction.on_commit(lambda: send_now(group, payload), robust=True)

"""Reading back a group's recent live messages for a reconnecting client (async)."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from tenancy.realtime import layer_redis_url


def _client() -> aioredis.Redis:
    """A client per call: asyncio connections belong to the loop that made them."""
    return aioredis.Redis.from_url(layer_redis_url(), socket_connect_timeout=1, socket_timeout=2)


async def messages_since(group: str, seq: int) -> tuple[list[dict], bool]:
    """Messages of ``group`` after ``seq``, oldest first, and whether some were already
    dropped (the client should then reload what it shows)."""
    client = _client()
    try:
        rows: Any = await client.zrangebyscore(
            f"live-log:{group}", seq + 1, "+inf", withscores=True
        )
        current = await client.get(f"live-seq:{group}")
    finally:
        await client.aclose()
    messages = [orjson.loads(bytes(raw)) for raw, _ in rows]
    newest = int(current) if current is not None else 0
    first = int(rows[0][1]) if rows else newest + 1
    gap = seq < newest and first > seq + 1
    return messages, gap


async def current_seq(group: str) -> int:
    client = _client()
    try:
        value = await client.get(f"live-seq:{group}")
    finally:
        await client.aclose()
    return int(value) if value is not None else 0

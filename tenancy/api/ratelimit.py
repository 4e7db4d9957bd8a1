"""Rate limits per caller (API key, else session user, else client address), kept in Redis.

The algorithm is GCRA (a token bucket stored as one "theoretical arrival time"): a caller may
send ``API_RATE_LIMIT_BURST`` requests at once, refilled at ``API_RATE_LIMIT_PER_SECOND``. One
Lua script reads and writes the state, so concurrent requests of one caller on any number of
web processes can not both take the last token; Redis's own clock is used, so web servers
whose clocks differ agree. Every answer of a TenantAPIView carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the bucket is full again); a
refused one is a 429 with ``Retry-After`` (seconds).

If Redis is out of reach the request is let through (logged): a rate limit protects the
service, it must not take it down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest

from tenancy.errors import DomainError

logger = logging.getLogger(__name__)

DEFAULT_BURST = 100
DEFAULT_PER_SECOND = 20.0

# KEYS[1]: the caller's key. ARGV: emission interval (µs per request), burst.
# Returns {allowed (0/1), remaining, reset µs, retry-after µs}.
GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local capacity = interval * burst
if new_tat - now > capacity then
  return {0, 0, tat - now, new_tat - now - capacity}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, math.floor((capacity - (new_tat - now)) / interval), new_tat - now, 0}
"""


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


def burst() -> int:
    return int(getattr(settings, "API_RATE_LIMIT_BURST", DEFAULT_BURST))


def per_second() -> float:
    return float(getattr(settings, "API_RATE_LIMIT_PER_SECOND", DEFAULT_PER_SECOND))


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Short timeouts: a slow Redis must not hold every request up.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


@lru_cache(maxsize=4)
def _script(url: str) -> Any:
    return _client(url).register_script(GCRA)


def redis_url() -> str:
    return str(getattr(settings, "API_RATE_LIMIT_REDIS_URL", settings.REDIS_URL))


def caller_key(request: HttpRequest) -> str:
    """Who is limited: the API key, else the session user, else the client address."""
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def take(caller: str) -> Decision | None:
    """Take one request from the caller's bucket; None when Redis cannot be asked."""
    limit, rate = burst(), per_second()
    interval = max(1, round(1_000_000 / rate))
    try:
        allowed, remaining, reset_us, retry_us = _script(redis_url())(
            keys=[f"milepost:ratelimit:{caller}"], args=[interval, limit]
        )
    except redis.RedisError:
        logger.warning("rate limit not checked: Redis unavailable", exc_info=True)
        return None
    return Decision(
        allowed=bool(allowed),
        limit=limit,
        remaining=int(remaining),
        reset_s=math.ceil(int(reset_us) / 1_000_000),
        retry_after_s=max(1, math.ceil(int(retry_us) / 1_000_000)),
    )


def reset(caller: str) -> None:
    """Forget a caller's bucket (tests, an operator lifting a block)."""
    _client(redis_url()).delete(f"milepost:ratelimit:{caller}")

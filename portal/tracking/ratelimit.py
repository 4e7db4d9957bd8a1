"""Tracking lookups per client address: a fixed one-minute window in the shared cache
(Redis). A lookup guesser gets TRACKING_LOOKUPS_PER_MINUTE tries, then the same polite page
for everyone; if Redis is away the lookup goes through (a limit must not take pages down)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)
DEFAULT_PER_MINUTE = 30


def per_minute() -> int:
    return int(getattr(settings, "TRACKING_LOOKUPS_PER_MINUTE", DEFAULT_PER_MINUTE))


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def lookup_allowed(request: HttpRequest) -> bool:
    key = f"track:lookups:{client_address(request)}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, timeout=90)
        count = cache.incr(key)
    except Exception:
        logger.warning("tracking rate limit not checked", exc_info=True)
        return True
    return int(count) <= per_minute()

"""When a failed delivery is tried again: the schedule of issue 14, jittered, and Retry-After.

Attempt 1 goes at once; after each failure the next waits the step's delay (5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h): ten attempts over about three days (75.6 h),
then the delivery is failed (and can be replayed). Each wait is jittered by up to ±10% so
that the retries of one outage do not all land at the same second. A 429 or 503 with
``Retry-After`` never comes back sooner than the receiver asked (at most 24 h). Pure.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta

# Delay before attempt n+1 (index n-1 after the n-th attempt failed); the first is at once.
SCHEDULE_S: tuple[int, ...] = (
    0,
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
)
MAX_ATTEMPTS = len(SCHEDULE_S)
JITTER = 0.1
MAX_RETRY_AFTER_S = 24 * 3600
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_delay(
    step: int, *, retry_after_s: int | None = None, rng: random.Random | None = None
) -> timedelta | None:
    """The wait before the attempt after the ``step``-th failed one of this round (step 1 =
    the first attempt failed), or None when the schedule is spent."""
    if step >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE_S[step]
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after_s is not None:
        jittered = max(jittered, float(min(retry_after_s, MAX_RETRY_AFTER_S)))
    return timedelta(seconds=jittered)


def parse_retry_after(value: str, *, now: datetime | None = None) -> int | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date), None if unusable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0, min(int(seconds + 0.999), MAX_RETRY_AFTER_S))

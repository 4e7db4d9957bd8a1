"""The retry schedule: 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h with jitter,
about three days in all, and Retry-After honoured. Pure."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from integrations.subscriptions import schedule

EXPECTED = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


def test_the_schedule_is_the_one_of_the_issue_and_spans_about_three_days():
    assert list(schedule.SCHEDULE_S) == EXPECTED
    assert schedule.MAX_ATTEMPTS == 10
    total = timedelta(seconds=sum(EXPECTED))
    assert timedelta(days=3) <= total <= timedelta(days=3, hours=6)


def test_each_wait_is_jittered_within_ten_percent_and_not_all_the_same():
    rng = random.Random(14)
    for step in range(1, schedule.MAX_ATTEMPTS):
        waits = [schedule.retry_delay(step, rng=rng).total_seconds() for _ in range(50)]
        base = EXPECTED[step]
        assert all(base * 0.9 <= wait <= base * 1.1 for wait in waits), step
        assert len(set(waits)) > 1


def test_the_schedule_ends_after_the_tenth_attempt():
    assert schedule.retry_delay(9) is not None
    assert schedule.retry_delay(10) is None


def test_retry_after_is_never_undercut_and_is_capped_at_a_day():
    rng = random.Random(1)
    assert schedule.retry_delay(1, retry_after_s=120, rng=rng) == timedelta(seconds=120)
    # A shorter Retry-After than the schedule's wait: the schedule's wait (not sooner).
    assert schedule.retry_delay(3, retry_after_s=10, rng=rng) >= timedelta(seconds=1620)
    assert schedule.retry_delay(1, retry_after_s=10**9, rng=rng) == timedelta(days=1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        ("0", 0),
        ("Thu, 05 Mar 2026 09:01:00 GMT", 60),
        ("Thu, 05 Mar 2026 08:00:00 GMT", 0),
        ("soon", None),
        ("", None),
        ("-5", None),
        ("99999999999", 86400),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    now = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert schedule.parse_retry_after(value, now=now) == seconds

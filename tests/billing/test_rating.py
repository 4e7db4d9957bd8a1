"""Time-based charges: free time and days in the place's zone, DST-correct, mid-day ends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.rating import chargeable_days, free_time_end

BERLIN = ZoneInfo("Europe/Berlin")


def _days(start, end, free, proration="exact", now=None):
    return chargeable_days(
        start=start,
        end=end,
        now=now or datetime(2027, 1, 1, tzinfo=UTC),
        zone=BERLIN,
        free_days=Decimal(free),
        proration=proration,
    )


def test_free_time_ends_mid_day_and_the_first_day_is_prorated():
    # Arrived 2026-06-10 14:00 Berlin; 2 free days end 2026-06-12 14:00 Berlin (12:00 UTC).
    start = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    end = datetime(2026, 6, 14, 4, 0, tzinfo=UTC)  # 06:00 Berlin
    days = _days(start, end, "2")
    assert [(d.day.isoformat(), d.quantity) for d in days] == [
        ("2026-06-12", Decimal("0.4167")),  # 14:00-24:00 = 10 of 24 hours
        ("2026-06-13", Decimal("1.0000")),
        ("2026-06-14", Decimal("0.2500")),  # 00:00-06:00
    ]
    started = _days(start, end, "2", proration="started_day")
    assert [d.quantity for d in started] == [1, 1, 1]


def test_spring_forward_day_has_23_hours():
    # 2026-03-29 in Berlin is 23 hours long (02:00 -> 03:00).
    start = datetime(2026, 3, 27, 23, 0, tzinfo=UTC)  # 2026-03-28 00:00 CET
    end = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 2026-03-30 00:00 CEST
    days = _days(start, end, "1")
    assert [(d.day.isoformat(), d.quantity, d.day_hours) for d in days] == [
        ("2026-03-29", Decimal("1.0000"), Decimal(23)),
    ]
    # Half the real day: 11.5 hours from midnight.
    half = _days(start, datetime(2026, 3, 29, 10, 30, tzinfo=UTC), "1")
    assert half[0].quantity == Decimal("0.5000")


def test_fall_back_day_has_25_hours_and_free_time_keeps_the_wall_clock():
    # Arrived 2026-10-24 10:00 CEST; one free day ends 2026-10-25 10:00 CET (wall clock),
    # which is 25 hours later in real time.
    start = datetime(2026, 10, 24, 8, 0, tzinfo=UTC)
    assert free_time_end(start, Decimal(1), BERLIN) == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    end = datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # 2026-10-26 00:00 CET
    days = _days(start, end, "1")
    assert len(days) == 1
    assert days[0].day_hours == Decimal(25)
    assert days[0].quantity == Decimal("0.5600")  # 14 of 25 hours


def test_an_open_dwell_charges_complete_days_only():
    start = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    now = datetime(2026, 6, 14, 8, 0, tzinfo=UTC)
    days = _days(start, None, "2", now=now)
    assert [d.day.isoformat() for d in days] == ["2026-06-12", "2026-06-13"]


def test_no_charge_within_free_time():
    start = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    assert _days(start, datetime(2026, 6, 12, 11, 0, tzinfo=UTC), "2") == []

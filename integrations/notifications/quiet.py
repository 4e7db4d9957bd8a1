"""Quiet hours in the recipient's own zone (pure)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def quiet_until(
    moment: datetime, *, start: time | None, end: time | None, zone: ZoneInfo
) -> datetime | None:
    """When the quiet hours around ``moment`` end (aware, UTC-comparable), or None when
    ``moment`` is outside them. ``start`` > ``end`` wraps midnight (21:00-07:00); equal or
    missing bounds mean no quiet hours. Local wall times: a DST jump moves the end with it."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(zone)
    now_t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= now_t < end
        end_day = local.date()
    else:
        inside = now_t >= start or now_t < end
        end_day = local.date() + timedelta(days=1) if now_t >= start else local.date()
    if not inside:
        return None
    # fold=0 and normalisation through UTC: a wall time skipped by DST lands just after it.
    wall = datetime.combine(end_day, end, tzinfo=zone)
    return wall.astimezone(ZoneInfo("UTC"))

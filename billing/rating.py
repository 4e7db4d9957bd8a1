"""Pure rating: which lines apply to a shipment, how many units, and the days of a
time-based charge. No database: billing.services feeds it rows and writes what it returns.

Time-based charges (demurrage, detention, storage) count in the zone of the place where the
free time started (its UN/LOCODE's zone, else the tenant's). Free time ends ``free_days``
calendar days after the start on the local clock (so a DST change inside it does not move
the end by an hour); a fractional free day adds its share of 24 hours. Each local calendar day
after that is one charge, quantity = the share of that day's real length (23, 24 or 25 hours)
that falls into the chargeable time (``exact``), or 1 for any part of it (``started_day``).
While the end milestone is missing only complete days are charged; the last, partial day
waits for the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

QUANTITY = Decimal("0.0001")
DAY = Decimal(86400)


@dataclass(frozen=True)
class Conditions:
    mode: str = ""
    lane: str = ""
    service: str = ""
    carrier: str = ""
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass(frozen=True)
class ShipmentFacts:
    mode: str
    service: str
    carrier: str
    origin: str
    destination: str


def _same(wanted: str, actual: str) -> bool:
    return not wanted or wanted == "*" or wanted.strip().lower() == (actual or "").lower()


def applies(conditions: Conditions, shipment: ShipmentFacts, on: date) -> bool:
    """Every non-blank condition holds, and ``on`` is within the validity."""
    if conditions.valid_from and on < conditions.valid_from:
        return False
    if conditions.valid_to and on > conditions.valid_to:
        return False
    if not (
        _same(conditions.mode, shipment.mode)
        and _same(conditions.service, shipment.service)
        and _same(conditions.carrier, shipment.carrier)
    ):
        return False
    if conditions.lane:
        origin, _, destination = conditions.lane.partition("-")
        return _same(origin, shipment.origin) and _same(destination, shipment.destination)
    return True


def quantity_for(basis: str, measures: Mapping[str, Decimal | int | None]) -> Decimal:
    """Units of a non-time basis: 1 per shipment, else the shipment's kg/containers/stops."""
    if basis in ("shipment", "day"):
        return Decimal(1)
    value = measures.get(basis)
    return Decimal(value or 0)


@dataclass(frozen=True)
class ChargeableDay:
    day: date
    quantity: Decimal
    start: datetime  # the chargeable part of the day, UTC
    end: datetime
    day_hours: Decimal  # the real length of that local day


def free_time_end(start: datetime, free_days: Decimal, zone: ZoneInfo) -> datetime:
    local = start.astimezone(zone)
    whole = int(free_days)
    shifted = datetime.combine(local.date() + timedelta(days=whole), local.time(), tzinfo=zone)
    extra = timedelta(seconds=float((free_days - whole) * DAY))  # a share of a day, exact s
    return shifted.astimezone(UTC) + extra


def chargeable_days(
    *,
    start: datetime,
    end: datetime | None,
    now: datetime,
    zone: ZoneInfo,
    free_days: Decimal,
    proration: str,
) -> list[ChargeableDay]:
    free_end = free_time_end(start, free_days, zone)
    stop = (end or now).astimezone(UTC)
    if stop <= free_end:
        return []
    days: list[ChargeableDay] = []
    current = free_end.astimezone(zone).date()
    while True:
        day_start = datetime.combine(current, time(0), tzinfo=zone).astimezone(UTC)
        day_end = datetime.combine(current + timedelta(days=1), time(0), tzinfo=zone).astimezone(
            UTC
        )
        if day_start >= stop:
            break
        if end is None and day_end > now:
            break  # the running day is charged when it is complete or the end is known
        part_start, part_end = max(day_start, free_end), min(day_end, stop)
        length = Decimal((day_end - day_start).total_seconds())
        share = Decimal((part_end - part_start).total_seconds())
        if share > 0:
            quantity = (
                Decimal(1)
                if proration == "started_day"
                else (share / length).quantize(QUANTITY, rounding=ROUND_HALF_UP)
            )
            days.append(ChargeableDay(current, quantity, part_start, part_end, length / 3600))
        current += timedelta(days=1)
    return days


def preferred(candidates: Iterable[tuple[Any, bool, str, str]]) -> list[Any]:
    """Of (item, customer-specific?, code, direction) keep, per code and direction, the
    customer's own lines when it has any, else the tenant-wide ones."""
    items = list(candidates)
    specific = {(code, direction) for _, own, code, direction in items if own}
    return [
        item for item, own, code, direction in items if own or (code, direction) not in specific
    ]

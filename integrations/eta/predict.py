"""The ETA predictor (pure: no database). For each remaining milestone of a shipment, a window
(earliest, most likely, latest) and where it came from, first match wins:

1. ``position`` — the delivery milestone of a shipment out for delivery whose driver sent a
   position recently: the remaining distance to the stop at a road speed;
2. ``history`` / ``carrier`` — completed shipments of the same lane (mode, origin,
   destination; this carrier's, else every carrier's) took p05/p50/p95 from the last
   reached milestone to this one: the window is p05..p95 after that milestone's actual, the
   most likely time p50. A carrier's (or ops') own estimate inside that window is taken as
   the most likely time instead (source ``carrier``: it knows things history does not; one
   outside it is an outlier the window already disagrees with);
3. no history for the lane (fewer than MIN_SAMPLES): the carrier's estimate with the
   template's tolerance as its window (``carrier``), else the template offsets — the engine's
   projection, window up to its tolerance (``template``). Both say ``fallback``.

Nothing is predicted earlier than ``now`` (it has not happened yet). ``predicted_late_minutes``
is the most likely time against the promise (``Shipment.promised_at``) for the delivery
milestone, against the milestone's own deadline (planned + tolerance) for the others;
positive means late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations import geo

DELIVERY = "delivered"
BOOKING = "booking"
MIN_SAMPLES = 5
REPORTED_SOURCES = frozenset({"integration", "partner", "user"})
ROAD_FACTOR = 1.3  # road distance over great-circle distance, urban average
MIN_POSITION_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Row:
    """A milestone as the predictor sees it (from a cached summary or an engine timeline)."""

    code: str
    sequence: int
    kind: str
    required: bool
    reached_at: datetime | None
    planned: datetime | None
    tolerance: timedelta
    estimated_at: datetime | None  # the engine's used estimate
    estimate_source: str | None  # its source kind (projection, integration, user, …)
    projected: datetime | None  # the template projection (estimated_at when it is one)


@dataclass(frozen=True)
class Transit:
    """Quantiles (seconds) of completed shipments between two milestones on a lane."""

    samples: int
    p05: float
    p25: float
    p50: float
    p75: float
    p95: float
    scope: str  # "DEHAM→FRPAR road_ftl DSV Road" or "… all carriers"


@dataclass(frozen=True)
class PositionFix:
    lat: float
    lon: float
    at: datetime
    to_lat: float
    to_lon: float


@dataclass(frozen=True)
class Prediction:
    milestone: str
    earliest: datetime | None
    likely: datetime | None
    latest: datetime | None
    predicted_late_minutes: int | None
    source: str  # actual | position | history | carrier | template
    basis: str
    fallback: bool = False  # no lane history: the template (or the carrier alone) decided


TransitLookup = Callable[[str, str], Transit | None]


def _late_minutes(likely: datetime | None, against: datetime | None) -> int | None:
    if likely is None or against is None:
        return None
    return round((likely - against).total_seconds() / 60)


def _deadline(row: Row, promised_at: datetime | None) -> datetime | None:
    if row.code == DELIVERY and promised_at is not None:
        return promised_at
    return row.planned + row.tolerance if row.planned is not None else None


def remaining(rows: Sequence[Row]) -> list[Row]:
    """Required progress milestones not reached nor skipped (a later one reached), and the
    delivery milestone while it is not reached."""
    progress = sorted((r for r in rows if r.kind == "progress"), key=lambda r: r.sequence)
    furthest = max((r.sequence for r in progress if r.reached_at is not None), default=-1)
    return [
        r
        for r in progress
        if r.reached_at is None and r.sequence > furthest and (r.required or r.code == DELIVERY)
    ]


def predict(
    rows: Sequence[Row],
    *,
    booked_at: datetime,
    now: datetime,
    promised_at: datetime | None,
    transit: TransitLookup,
    position: PositionFix | None = None,
    speed_kmh: float = 25.0,
    position_max_age: timedelta = timedelta(minutes=30),
) -> list[Prediction]:
    """Predictions for every remaining milestone (see the module docstring); the delivery
    milestone already reached gives one ``actual`` prediction."""
    delivered = next((r for r in rows if r.code == DELIVERY and r.reached_at is not None), None)
    if delivered is not None:
        at = delivered.reached_at
        return [
            Prediction(DELIVERY, at, at, at, _late_minutes(at, promised_at), "actual", "delivered")
        ]
    reached = sorted(
        (r for r in rows if r.kind == "progress" and r.reached_at is not None),
        key=lambda r: r.sequence,
    )
    out: list[Prediction] = []
    for row in remaining(rows):
        before = [r for r in reached if r.sequence < row.sequence]
        anchor_code, anchor_at = (
            (before[-1].code, before[-1].reached_at) if before else (BOOKING, booked_at)
        )
        assert anchor_at is not None
        fix = position if row.code == DELIVERY else None
        if fix is not None and now - fix.at <= position_max_age and fix.at <= now:
            out.append(_by_position(row, fix, now, promised_at, speed_kmh))
            continue
        stats = transit(anchor_code, row.code)
        reported = row.estimated_at if row.estimate_source in REPORTED_SOURCES else None
        if stats is not None and stats.samples >= MIN_SAMPLES:
            out.append(_by_history(row, stats, anchor_code, anchor_at, reported, now, promised_at))
        else:
            out.append(_fallback(row, reported, now, promised_at))
    return out


def _by_position(
    row: Row, fix: PositionFix, now: datetime, promised_at: datetime | None, speed_kmh: float
) -> Prediction:
    distance_m = geo.haversine_m(fix.lat, fix.lon, fix.to_lat, fix.to_lon) * ROAD_FACTOR
    drive = timedelta(seconds=distance_m / (speed_kmh / 3.6))
    likely = max(fix.at + drive, now)
    margin = max(MIN_POSITION_MARGIN, drive * 0.3)
    return Prediction(
        row.code,
        max(likely - margin, now),
        likely,
        likely + margin,
        _late_minutes(likely, _deadline(row, promised_at)),
        "position",
        f"driver {distance_m / 1000:.1f} km away by road at {speed_kmh:g} km/h "
        f"(position of {fix.at.isoformat()})",
    )


def _by_history(
    row: Row,
    stats: Transit,
    anchor_code: str,
    anchor_at: datetime,
    reported: datetime | None,
    now: datetime,
    promised_at: datetime | None,
) -> Prediction:
    earliest = max(anchor_at + timedelta(seconds=stats.p05), now)
    likely = max(anchor_at + timedelta(seconds=stats.p50), now)
    latest = anchor_at + timedelta(seconds=stats.p95)
    if anchor_at + timedelta(seconds=stats.p50) < now:
        # Overdue against the median: keep the upper spread of history ahead of now.
        latest = max(latest, now + timedelta(seconds=stats.p95 - stats.p50))
    basis = (
        f"{stats.samples} completed shipments {stats.scope}: {anchor_code} → {row.code} "
        f"median {stats.p50 / 3600:.1f} h (p05 {stats.p05 / 3600:.1f} h, "
        f"p95 {stats.p95 / 3600:.1f} h)"
    )
    source = "history"
    if reported is not None and earliest <= reported <= latest:
        likely, source = reported, "carrier"
        basis = f"the carrier's estimate, inside the window of {basis}"
    return Prediction(
        row.code,
        earliest,
        likely,
        latest,
        _late_minutes(likely, _deadline(row, promised_at)),
        source,
        basis,
    )


def _fallback(
    row: Row, reported: datetime | None, now: datetime, promised_at: datetime | None
) -> Prediction:
    tolerance = row.tolerance if row.tolerance > timedelta(0) else timedelta(hours=1)
    if reported is not None:
        likely = max(reported, now)
        return Prediction(
            row.code,
            max(likely - tolerance, now),
            likely,
            likely + tolerance,
            _late_minutes(likely, _deadline(row, promised_at)),
            "carrier",
            "no history for this lane: the carrier's estimate, ± the template's tolerance",
            fallback=True,
        )
    projected = row.projected or row.estimated_at or row.planned
    if projected is None:
        return Prediction(row.code, None, None, None, None, "template", "no plan", True)
    likely = max(projected, now)
    return Prediction(
        row.code,
        likely,
        likely,
        likely + tolerance,
        _late_minutes(likely, _deadline(row, promised_at)),
        "template",
        "no history for this lane: the template's offsets, up to its tolerance",
        fallback=True,
    )

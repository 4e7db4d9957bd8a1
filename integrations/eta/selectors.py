"""Reads of predicted ETAs, computed on read from what is already stored: the shipment's
cached timeline summary (actuals, the engine's used estimate and its source), the lane
statistics and the driver's latest position. Nothing is written on ingest, so predictions
cost ingestion nothing; a read of any number of shipments is two queries once the template
tolerances of their versions are cached (versions are immutable), three before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import CharField, OuterRef, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from integrations.eta.models import LaneStat
from integrations.eta.predict import (
    DELIVERY,
    PositionFix,
    Prediction,
    Row,
    Transit,
    TransitLookup,
    predict,
)
from integrations.models import LatestPosition, Stop
from milestones import engine
from milestones.models import MilestoneDefinition
from shipments.models import Shipment

ALL_CARRIERS = "*"
ACTIVE_FOR_POSITION = "out_for_delivery"
NO_PREDICTION = frozenset({"cancelled", "returned"})  # nothing is coming any more
_TOLERANCES: dict[int, dict[str, tuple[timedelta, bool]]] = {}
_TOLERANCE_CACHE_MAX = 2048


@dataclass(frozen=True)
class ShipmentEta:
    shipment_id: int
    evaluated_at: datetime
    predictions: tuple[Prediction, ...]

    @property
    def delivery(self) -> Prediction | None:
        return next((p for p in self.predictions if p.milestone == DELIVERY), None)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def tolerances(version_ids: Iterable[int]) -> dict[int, dict[str, tuple[timedelta, bool]]]:
    """version -> code -> (tolerance, required); cached per process (versions never change)."""
    wanted = set(version_ids)
    missing = wanted - set(_TOLERANCES)
    if missing:
        if len(_TOLERANCES) > _TOLERANCE_CACHE_MAX:
            _TOLERANCES.clear()
        found: dict[int, dict[str, tuple[timedelta, bool]]] = defaultdict(dict)
        rows = MilestoneDefinition.objects.filter(version_id__in=missing).values_list(
            "version_id", "code", "tolerance", "required"
        )
        for version_id, code, tolerance, required in rows:
            found[version_id][code] = (tolerance, required)
        for version_id in missing:
            _TOLERANCES[version_id] = found.get(version_id, {})
    return {v: _TOLERANCES[v] for v in wanted}


def rows_from_summary(
    summary: Mapping[str, Any], defs: Mapping[str, tuple[timedelta, bool]]
) -> list[Row]:
    rows = []
    for item in summary.get("rows", ()):
        actual = item.get("actual") or {}
        estimate = item.get("estimate") or {}
        estimated_at = _time(item.get("estimated_at"))
        source = estimate.get("source_kind")
        tolerance, required = defs.get(item["code"], (timedelta(0), True))
        rows.append(
            Row(
                code=item["code"],
                sequence=item.get("sequence") or 0,
                kind=item.get("kind") or engine.KIND_PROGRESS,
                required=required,
                reached_at=_time(actual.get("at")),
                planned=_time(item.get("planned")),
                tolerance=tolerance,
                estimated_at=estimated_at,
                estimate_source=source,
                projected=estimated_at if source == engine.PROJECTION_SOURCE_KIND else None,
            )
        )
    return rows


def rows_from_timeline(
    timeline: engine.Timeline, template: Sequence[engine.MilestoneDef]
) -> list[Row]:
    defs = {d.code: d for d in template}
    return [
        Row(
            code=r.code,
            sequence=r.sequence or 0,
            kind=r.kind,
            required=r.required,
            reached_at=r.actual.at if r.actual else None,
            planned=r.planned,
            tolerance=defs[r.code].tolerance if r.code in defs else timedelta(0),
            estimated_at=r.estimated_at,
            estimate_source=r.estimate.source_kind if r.estimate else None,
            projected=r.projected,
        )
        for r in timeline.rows
    ]


def lane_transits(keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, ...], Transit]:
    """(mode, carrier or '*', origin, destination, from, to) -> transit, for the lanes named
    by ``keys`` (mode, origin, destination), in one query."""
    keys = set(keys)
    if not keys:
        return {}
    stats = LaneStat.objects.filter(
        mode__in={k[0] for k in keys},
        origin_locode__in={k[1] for k in keys},
        destination_locode__in={k[2] for k in keys},
    )
    found: dict[tuple[str, ...], Transit] = {}
    for s in stats:
        lane = f"{s.origin_locode or '?'}→{s.destination_locode or '?'} {s.mode}"
        who = "all carriers" if s.carrier == ALL_CARRIERS else s.carrier or "no carrier"
        found[
            (
                s.mode,
                s.carrier,
                s.origin_locode,
                s.destination_locode,
                s.from_milestone,
                s.to_milestone,
            )
        ] = Transit(s.samples, s.p05_s, s.p25_s, s.p50_s, s.p75_s, s.p95_s, f"{lane} {who}")
    return found


def transit_lookup(
    transits: Mapping[tuple[str, ...], Transit], *, mode: str, carrier: str, origin: str, dest: str
) -> TransitLookup:
    """This carrier's history on the lane, else every carrier's on the lane."""

    def lookup(from_code: str, to_code: str) -> Transit | None:
        own = transits.get((mode, carrier, origin, dest, from_code, to_code))
        if own is not None and own.samples >= 5:
            return own
        return transits.get((mode, ALL_CARRIERS, origin, dest, from_code, to_code)) or own

    return lookup


SHIPMENT_FIELDS = (
    "pk",
    "mode",
    "carrier",
    "origin_locode",
    "destination_locode",
    "destination_lat",
    "destination_lon",
    "booked_at",
    "promised_at",
    "status",
    "template_version_id",
    "timeline",
)


def _with_position(shipments: Any) -> Any:
    """The driver's latest position and the last stop, joined in the same query."""
    latest = LatestPosition.objects.filter(
        subject_kind="shipment", subject=Cast(OuterRef("pk"), CharField())
    )
    last_stop = Stop.objects.filter(shipment_id=OuterRef("pk")).order_by("-sequence")
    return shipments.annotate(
        pos_lat=Subquery(latest.values("lat")[:1]),
        pos_lon=Subquery(latest.values("lon")[:1]),
        pos_at=Subquery(latest.values("at")[:1]),
        stop_lat=Subquery(last_stop.values("lat")[:1]),
        stop_lon=Subquery(last_stop.values("lon")[:1]),
    )


def _fix(row: Mapping[str, Any]) -> PositionFix | None:
    if row["status"] != ACTIVE_FOR_POSITION or row["pos_at"] is None:
        return None
    to_lat = row["stop_lat"] if row["stop_lat"] is not None else row["destination_lat"]
    to_lon = row["stop_lon"] if row["stop_lon"] is not None else row["destination_lon"]
    if to_lat is None or to_lon is None:
        return None
    return PositionFix(row["pos_lat"], row["pos_lon"], row["pos_at"], to_lat, to_lon)


def shipment_etas(
    shipment_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, ShipmentEta]:
    """Every remaining milestone's prediction of each shipment (of the current tenant)."""
    now = now or timezone.now()
    ids = list(shipment_ids)
    if not ids:
        return {}
    rows = list(
        _with_position(Shipment.objects.filter(pk__any=ids))
        .order_by()
        .values(*SHIPMENT_FIELDS, "pos_lat", "pos_lon", "pos_at", "stop_lat", "stop_lon")
    )
    transits = lane_transits((r["mode"], r["origin_locode"], r["destination_locode"]) for r in rows)
    defs = tolerances(r["template_version_id"] for r in rows)
    speed = float(settings.ETA_LAST_MILE_SPEED_KMH)
    max_age = timedelta(minutes=settings.ETA_POSITION_MAX_AGE_MIN)
    found = {}
    for r in rows:
        if r["status"] in NO_PREDICTION:
            found[r["pk"]] = ShipmentEta(r["pk"], now, ())
            continue
        lookup = transit_lookup(
            transits,
            mode=r["mode"],
            carrier=r["carrier"],
            origin=r["origin_locode"],
            dest=r["destination_locode"],
        )
        predictions = predict(
            rows_from_summary(r["timeline"] or {}, defs.get(r["template_version_id"], {})),
            booked_at=r["booked_at"],
            now=now,
            promised_at=r["promised_at"],
            transit=lookup,
            position=_fix(r),
            speed_kmh=speed,
            position_max_age=max_age,
        )
        found[r["pk"]] = ShipmentEta(r["pk"], now, tuple(predictions))
    return found


def predicted_delivery(
    shipment_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, Prediction]:
    """shipment id -> the delivery prediction (earliest, likely, latest,
    predicted_late_minutes, source), for shipments that have one (not cancelled, returned
    or without a delivery milestone). Two queries for any number of shipments (see above)."""
    found = {}
    for shipment_id, eta in shipment_etas(shipment_ids, now=now).items():
        delivery = eta.delivery
        if delivery is not None:
            found[shipment_id] = delivery
    return found


def lane_stat_list() -> Any:
    return LaneStat.objects.order_by("mode", "origin_locode", "destination_locode", "carrier")

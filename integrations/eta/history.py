"""Generated delivered shipments with realistic transit spread and carrier bias (the ETA
benchmark, the demo's history, tests).

Each lane has its own main-leg length (the template's longest offset scaled by the lane's
factor: Hamburg-Paris is not Hamburg-Madrid), each carrier a bias (some are slower than the
template says, some faster), and every leg a log-normal spread. Events are recorded a few
minutes after they happen, so a timeline "as it stood" before delivery is reconstructable.
Nothing here looks at lane statistics: the predictor never sees the generator's parameters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from milestones import engine
from milestones.selectors import template_latest_version
from shipments.models import Shipment, ShipmentReference
from shipments.services import NewEvent, events_record, timelines_refresh
from tenancy.context import current_tenant_id


@dataclass(frozen=True)
class Lane:
    origin: str
    destination: str
    factor: float  # main leg = template offset x factor


@dataclass(frozen=True)
class Carrier:
    name: str
    bias: float  # x on every leg's duration


ROAD_LANES = (
    Lane("DEHAM", "FRPAR", 0.35),
    Lane("DEHAM", "ESMAD", 0.75),
    Lane("NLRTM", "DEMUC", 0.25),
    Lane("DEBER", "ESMAD", 0.9),
)
ROAD_CARRIERS = (Carrier("DSV Road", 1.0), Carrier("Girteka", 1.25), Carrier("Nordic Haul", 0.85))
MAIN_SIGMA = 0.12  # log-normal spread of the main leg
LEG_SIGMA = 0.25  # of the other legs


def _durations(
    rng: random.Random, defs: Sequence[engine.MilestoneDef], lane: Lane, carrier: Carrier
) -> list[tuple[str, str, timedelta]]:
    """(code, anchor, duration) of the required progress milestones, in template order."""
    steps = [
        d
        for d in sorted(defs, key=lambda d: d.sequence)
        if d.kind == engine.KIND_PROGRESS and d.required and d.planned is not None
    ]
    main = max(steps, key=lambda d: d.planned.offset if d.planned else timedelta(0))
    out = []
    for d in steps:
        assert d.planned is not None
        offset = d.planned.offset.total_seconds() or 3600.0
        if d is main:
            factor = lane.factor * carrier.bias * math.exp(rng.gauss(0, MAIN_SIGMA))
        else:
            factor = math.sqrt(carrier.bias) * math.exp(rng.gauss(0, LEG_SIGMA))
        out.append((d.code, d.planned.anchor, timedelta(seconds=offset * factor)))
    return out


@transaction.atomic
def generate_delivered(
    *,
    count: int,
    now: datetime,
    seed: int,
    mode: str = "road_ftl",
    lanes: Sequence[Lane] = ROAD_LANES,
    carriers: Sequence[Carrier] = ROAD_CARRIERS,
    booked_from_days: float = 160,
    booked_to_days: float = 10,
    prefix: str = "H",
) -> list[int]:
    """``count`` delivered shipments of ``mode`` booked between the two ages, with events
    and cached timelines; the ids."""
    rng = random.Random(seed)
    version = template_latest_version(mode=mode)
    defs = version.engine_definitions()
    tenant_id = current_tenant_id()
    plans = []
    for _ in range(count):
        lane, carrier = rng.choice(lanes), rng.choice(carriers)
        age = timedelta(days=rng.uniform(booked_to_days, booked_from_days))
        plans.append((lane, carrier, now - age))
    shipments = Shipment.objects.bulk_create(
        [
            Shipment(
                tenant_id=tenant_id,
                mode=mode,
                template_version=version,
                booked_at=booked,
                carrier=carrier.name,
                origin_locode=lane.origin,
                destination_locode=lane.destination,
                customer_account=None,
            )
            for lane, carrier, booked in plans
        ],
        batch_size=2000,
    )
    ShipmentReference.objects.bulk_create(
        [
            ShipmentReference(
                tenant_id=tenant_id, shipment=s, kind="tracking_number", value=f"{prefix}{s.pk}"
            )
            for s in shipments
        ],
        batch_size=2000,
    )
    events: list[NewEvent] = []
    for shipment, (lane, carrier, booked) in zip(shipments, plans, strict=True):
        actual = {engine.BOOKING_ANCHOR: booked}
        for code, anchor, duration in _durations(rng, defs, lane, carrier):
            at = actual.get(anchor, booked) + duration
            actual[code] = at
            if at > now:
                break
            events.append(
                NewEvent(
                    shipment_id=shipment.pk,
                    milestone=code,
                    occurred_at=at,
                    classifier="ACT",
                    source_kind="integration",
                    source_name=f"carrier:{carrier.name}",
                    recorded_at=at + timedelta(minutes=rng.uniform(2, 30)),
                    dedupe_key=f"history:{code}",
                )
            )
    events_record(events=events, refresh=False)
    ids = [s.pk for s in shipments]
    for start in range(0, len(ids), 2000):
        timelines_refresh(shipment_ids=ids[start : start + 2000])
    return ids

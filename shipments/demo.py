"""Realistic demo data: shipments across modes at every stage, parents and children, some late.

Deterministic for a given seed and "now", so a demo looks the same when re-seeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from milestones import engine
from milestones.selectors import template_latest_version
from shipments.models import LinkKind, Shipment, ShipmentLink, ShipmentReference
from shipments.services import NewEvent, events_record, timelines_refresh
from tenancy.models import CustomerAccount

PORTS = [
    ("CNSHA", "Shanghai", 31.23, 121.47),
    ("DEHAM", "Hamburg", 53.55, 9.99),
    ("NLRTM", "Rotterdam", 51.92, 4.48),
    ("USLAX", "Los Angeles", 33.74, -118.26),
    ("SGSIN", "Singapore", 1.26, 103.84),
    ("USNYC", "New York", 40.68, -74.04),
    ("GBFXT", "Felixstowe", 51.96, 1.35),
    ("JPTYO", "Tokyo", 35.62, 139.77),
    ("FRPAR", "Paris", 48.86, 2.35),
    ("DEBER", "Berlin", 52.52, 13.40),
    ("DEMUC", "Munich", 48.14, 11.58),
    ("ESMAD", "Madrid", 40.42, -3.70),
]
CARRIERS = {
    "ocean_fcl": ["MAEU", "MSCU", "CMDU", "HLCU"],
    "ocean_lcl": ["MAEU", "ONEY"],
    "air": ["LH Cargo", "AF-KLM Cargo", "Cathay Cargo"],
    "road_ftl": ["DSV Road", "Girteka"],
    "road_ltl": ["DB Schenker", "Dachser"],
    "parcel": ["DHL Parcel", "UPS", "GLS"],
    "last_mile": ["Swift Fleet"],
    "first_mile": ["Swift Fleet"],
    "multimodal": ["Kuehne+Nagel"],
}
REFERENCE_KIND = {
    "ocean_fcl": "container",
    "ocean_lcl": "bill_of_lading",
    "air": "air_waybill",
    "road_ftl": "tracking_number",
    "road_ltl": "tracking_number",
    "parcel": "tracking_number",
    "last_mile": "tracking_number",
    "first_mile": "tracking_number",
    "multimodal": "booking",
}


@dataclass
class DemoPlan:
    mode: str
    count: int


def _reference(rng: random.Random, mode: str, n: int) -> str:
    if mode == "ocean_fcl":
        return f"{rng.choice(['MSKU', 'MSCU', 'CMAU', 'HLXU'])}{rng.randrange(10**6, 10**7)}"
    if mode == "air":
        return f"{rng.choice(['020', '057', '160'])}-{rng.randrange(10**7, 10**8)}"
    return f"{mode[:2].upper()}{n:06d}{rng.randrange(100, 999)}"


def _events_for(rng, shipment: Shipment, defs, now: datetime) -> list[NewEvent]:
    """Walk the plan; every milestone due before now happened, with jitter; stop somewhere."""
    plan = engine.compute_timeline(template=defs, events=(), booked_at=shipment.booked_at, now=now)
    events, slip = [], timedelta(0)
    stop_after = rng.random()
    troubled = rng.random() < 0.2  # about one shipment in five runs into real delays
    steps = [0, 2, 6, 12, 30] if troubled else [-1, 0, 0, 0, 0, 1]
    progress_rows = [r for r in plan.rows if r.kind == engine.KIND_PROGRESS and r.planned]
    for index, row in enumerate(progress_rows):
        slip += timedelta(hours=rng.choice(steps))
        occurred = row.planned + slip
        if occurred > now or index / len(progress_rows) > stop_after + 0.25:
            events.append(
                _event(
                    shipment,
                    row.code,
                    occurred + timedelta(hours=rng.randrange(0, 12)),
                    "EST",
                    f"carrier:{shipment.carrier}",
                    now - timedelta(hours=1),
                )
            )
            break
        events.append(
            _event(
                shipment,
                row.code,
                occurred,
                "ACT",
                f"carrier:{shipment.carrier}",
                min(occurred + timedelta(minutes=rng.randrange(1, 90)), now),
            )
        )
        customs_mode = shipment.mode.startswith("ocean") or shipment.mode == "multimodal"
        if row.code == "arrived" and customs_mode and rng.random() < 0.3:
            events.append(
                _event(
                    shipment,
                    "customs_hold",
                    occurred + timedelta(hours=5),
                    "ACT",
                    "customs:ATLAS",
                    occurred + timedelta(hours=6),
                )
            )
            break
    return events


def _event(shipment, code, occurred, classifier, source, recorded) -> NewEvent:
    return NewEvent(
        shipment_id=shipment.pk,
        milestone=code,
        occurred_at=occurred,
        classifier=classifier,
        source_kind="integration",
        source_name=source,
        recorded_at=recorded,
        dedupe_key=f"demo:{shipment.pk}:{code}:{classifier}",
        details={"demo": True},
    )


@transaction.atomic
def seed_shipments(*, plans: list[DemoPlan], now: datetime, seed: int = 7) -> list[Shipment]:
    rng = random.Random(seed)
    accounts = list(CustomerAccount.objects.order_by("code"))
    created: list[Shipment] = []
    references: list[ShipmentReference] = []
    for plan in plans:
        version = template_latest_version(mode=plan.mode)
        for _n in range(plan.count):
            origin, destination = rng.sample(PORTS, 2)
            shipment = Shipment.objects.create(
                mode=plan.mode,
                template_version=version,
                booked_at=now - timedelta(hours=rng.randrange(2, 24 * 40)),
                carrier=rng.choice(CARRIERS[plan.mode]),
                customer_account=rng.choice(accounts) if accounts else None,
                shipper_name=f"{origin[1]} Exporters Ltd",
                consignee_name=f"{destination[1]} Retail",
                origin_locode=origin[0],
                origin_address=origin[1],
                origin_lat=origin[2],
                origin_lon=origin[3],
                destination_locode=destination[0],
                destination_address=destination[1],
                destination_lat=destination[2],
                destination_lon=destination[3],
                service=rng.choice(["standard", "express"]),
            )
            references.append(
                ShipmentReference(
                    shipment=shipment,
                    kind=REFERENCE_KIND[plan.mode],
                    value=_reference(rng, plan.mode, len(created)),
                    tenant_id=shipment.tenant_id,
                )
            )
            references.append(
                ShipmentReference(
                    shipment=shipment,
                    kind="customer_reference",
                    value=f"PO-{len(created) + 4100}",
                    tenant_id=shipment.tenant_id,
                )
            )
            created.append(shipment)
    ShipmentReference.objects.bulk_create(references, ignore_conflicts=True)
    defs = {}
    events: list[NewEvent] = []
    for shipment in created:
        if shipment.template_version_id not in defs:
            defs[shipment.template_version_id] = shipment.template_version.engine_definitions()
        events += _events_for(rng, shipment, defs[shipment.template_version_id], now)
    events_record(events=events, refresh=False)
    _link_families(rng, created)
    timelines_refresh(shipment_ids=[s.pk for s in created])
    return created


def _link_families(rng: random.Random, shipments: list[Shipment]) -> None:
    """Consolidations (ocean LCL children under an FCL parent) and first-mile loads."""
    by_mode: dict[str, list[Shipment]] = {}
    for shipment in shipments:
        by_mode.setdefault(shipment.mode, []).append(shipment)
    links = []
    for parent_mode, child_mode, kind, parent_ms, child_ms in (
        ("ocean_fcl", "ocean_lcl", LinkKind.CONSOLIDATION, "departed", "departed"),
        ("first_mile", "last_mile", LinkKind.FIRST_MILE_LOAD, "arrived", "out_for_delivery"),
        ("road_ftl", "parcel", LinkKind.LINEHAUL, "arrived", "arrived"),
    ):
        parents, children = by_mode.get(parent_mode, []), by_mode.get(child_mode, [])
        for index, child in enumerate(children):
            if parents and index % 3 != 2:
                parent = parents[index % min(len(parents), 6)]
                links.append(
                    ShipmentLink(
                        parent=parent,
                        child=child,
                        kind=kind,
                        parent_milestone=parent_ms,
                        child_milestone=child_ms,
                        tenant_id=child.tenant_id,
                    )
                )
    ShipmentLink.objects.bulk_create(links, ignore_conflicts=True)

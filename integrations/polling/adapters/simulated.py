"""A simulated carrier for the demo: DCSA 2.2 events that keep in-flight shipments moving.

Each run looks at the tenant's in-flight shipments and their cached timelines. For the next
milestone the simulator can report, it emits an ACT event once its expected time (estimate,
else plan) has passed, and otherwise, once per milestone, an EST (about one in four late).
eventIDs are stable per (tenant, shipment, milestone, classifier), so polling again is
idempotent. At most ``poll_config["max_events"]`` (200) events per run, the most overdue
first, so the demo moves steadily. The cursor is the ISO time of the last run.

Gate-in (GTIN) stands for "received at the warehouse/CFS": give the integration the code
override {"GTIN": "warehouse_received"} (the demo seed does).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.polling.adapters.base import PollBatch

MAX_EVENTS = 200
ENDED = ("delivered", "cancelled", "returned", "failed_delivery")
NAMESPACE = uuid.UUID("6f1c2a0e-8d7b-4b8e-9a51-3c1f0e2d4b77")

# milestone -> (DCSA event type, event type code)
CODES: dict[str, tuple[str, str]] = {
    "order_created": ("SHIPMENT", "CONF"),
    "picked_up": ("EQUIPMENT", "PICK"),
    "warehouse_received": ("EQUIPMENT", "GTIN"),
    "departed": ("TRANSPORT", "DEPA"),
    "arrived": ("TRANSPORT", "ARRI"),
    "customs_cleared": ("EQUIPMENT", "CUSR"),
    "out_for_delivery": ("EQUIPMENT", "GTOT"),
    "delivered": ("EQUIPMENT", "DROP"),
}
# Estimates the pipeline can place on a milestone (see pipeline.ESTIMATE_TARGETS).
ESTIMABLE = frozenset({"picked_up", "departed", "arrived", "out_for_delivery", "delivered"})
CODE_FIELD = {
    "SHIPMENT": "shipmentEventTypeCode",
    "EQUIPMENT": "equipmentEventTypeCode",
    "TRANSPORT": "transportEventTypeCode",
}
TRANSPORT_MODE = {"ocean_fcl": "VESSEL", "ocean_lcl": "VESSEL", "multimodal": "VESSEL"}
DOCUMENT_TYPES = {"booking": "BKG", "bill_of_lading": "TRD", "transport_document": "TRD"}
DELAY_REASONS = ("WEA", "CON", "STR", "MEC")


@dataclass
class _Due:
    at: datetime
    event: dict


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return random.Random(int(seed[:16], 16))


def _next_row(timeline: dict) -> dict | None:
    """The first progress milestone after the furthest reached one that DCSA can report."""
    rows = sorted(
        (r for r in timeline.get("rows", ()) if r.get("kind") == "progress"),
        key=lambda r: r["sequence"],
    )
    reached = [r["sequence"] for r in rows if r.get("actual")]
    after = max(reached) if reached else None
    for row in rows:
        if after is not None and row["sequence"] <= after:
            continue
        if row.get("actual") or row["code"] not in CODES:
            continue
        return row
    return None


def _last_actual(shipment) -> datetime:
    """An actual never precedes the one before it (nor the booking)."""
    times = [
        _time(r["actual"]["at"])
        for r in (shipment.timeline or {}).get("rows", ())
        if r.get("actual")
    ]
    return max([shipment.booked_at, *(t + timedelta(minutes=1) for t in times if t)])


def _expected(row: dict) -> datetime | None:
    for key in ("estimated_at", "projected", "planned"):
        if row.get(key):
            return _time(row[key])
    return None


def _references(shipment) -> dict:
    """DCSA reference blocks carrying every reference of the shipment."""
    documents, others, equipment = [], [], None
    for ref in sorted(shipment.references.all(), key=lambda r: (r.kind, r.value)):
        if ref.kind == "container" and equipment is None:
            equipment = ref.value
        elif ref.kind in DOCUMENT_TYPES:
            kind = DOCUMENT_TYPES[ref.kind]
            documents.append({"documentReferenceType": kind, "documentReferenceValue": ref.value})
        else:
            others.append({"referenceType": "FF", "referenceValue": ref.value})
    return {"documents": documents, "others": others, "equipment": equipment}


def _event(
    *,
    integration,
    shipment,
    milestone: str,
    classifier: str,
    at: datetime,
    now: datetime,
    refs: dict,
    delay_reason: str | None = None,
) -> dict:
    event_type, code = CODES[milestone]
    primary = refs["equipment"] or next(
        (d["documentReferenceValue"] for d in refs["documents"]), None
    )
    primary = primary or next((o["referenceValue"] for o in refs["others"]), "")
    event_id = uuid.uuid5(
        NAMESPACE, f"{integration.tenant_id}:{shipment.pk}:{milestone}:{classifier}"
    )
    event: dict = {
        "eventID": str(event_id),
        "eventCreatedDateTime": now.isoformat(),
        "eventType": event_type,
        "eventClassifierCode": classifier,
        "eventDateTime": at.isoformat(),
        CODE_FIELD[event_type]: code,
    }
    if refs["documents"]:
        event["documentReferences"] = refs["documents"]
    others = list(refs["others"])
    if event_type == "SHIPMENT":
        bookings = [
            d["documentReferenceValue"]
            for d in refs["documents"]
            if d["documentReferenceType"] == "BKG"
        ]
        booking = bookings[0] if bookings else primary
        event["documentID"] = booking
        event["documentTypeCode"] = "BKG"
    elif event_type == "EQUIPMENT":
        event["equipmentReference"] = primary
        event["emptyIndicatorCode"] = "LADEN"
        locode = (
            shipment.destination_locode
            if milestone in ("customs_cleared", "out_for_delivery", "delivered")
            else shipment.origin_locode
        )
        if locode:
            event["eventLocation"] = {"UNLocationCode": locode}
    else:
        locode = shipment.origin_locode if milestone == "departed" else shipment.destination_locode
        call: dict = {"transportCallSequenceNumber": 1 if milestone == "departed" else 2}
        if locode:
            call["UNLocationCode"] = locode
        call["modeOfTransport"] = TRANSPORT_MODE.get(shipment.mode, "TRUCK")
        event["transportCall"] = call
        if refs["equipment"]:
            others.append({"referenceType": "EQ", "referenceValue": refs["equipment"]})
    if others:
        event["references"] = others
    if delay_reason:
        event["delayReasonCode"] = delay_reason
        event["changeRemark"] = "Delayed"
    return event


def _has_our_estimate(row: dict, source_name: str) -> bool:
    candidates = [row.get("estimate") or {}, *(row.get("candidates") or [])]
    return any((c or {}).get("source_name") == source_name for c in candidates)


class SimulatedCarrierAdapter:
    def fetch(self, integration, cursor: str) -> PollBatch:
        from shipments.models import Shipment

        now = timezone.now()
        limit = int((integration.poll_config or {}).get("max_events") or MAX_EVENTS)
        shipments = (
            Shipment.objects.exclude(status__in=ENDED)
            .exclude(timeline={})
            .prefetch_related("references")
            .order_by("pk")
        )
        actuals: list[_Due] = []
        estimates: list[_Due] = []
        for shipment in shipments.iterator(chunk_size=500):
            row = _next_row(shipment.timeline or {})
            expected = _expected(row) if row else None
            if row is None or expected is None:
                continue
            rng = _rng(integration.tenant_id, shipment.pk, row["code"])
            milestone = row["code"]
            if expected <= now:
                jitter = timedelta(minutes=rng.randrange(-45, 90))
                at = min(max(expected + jitter, _last_actual(shipment)), now)
                refs = _references(shipment)
                event = _event(
                    integration=integration, shipment=shipment, milestone=milestone,
                    classifier="ACT", at=at, now=now, refs=refs,
                )  # fmt: skip
                actuals.append(_Due(expected, event))
            elif milestone in ESTIMABLE and not _has_our_estimate(row, integration.source_name):
                late = rng.random() < 0.25
                planned = _time(row.get("planned")) or expected
                span = max(expected - (shipment.booked_at or now), timedelta(hours=2))
                slip = (
                    span * rng.uniform(0.1, 0.4)
                    if late
                    else timedelta(minutes=rng.randrange(-60, 60))
                )
                refs = _references(shipment)
                event = _event(
                    integration=integration, shipment=shipment, milestone=milestone,
                    classifier="EST", at=max(planned, expected) + slip, now=now, refs=refs,
                    delay_reason=rng.choice(DELAY_REASONS) if late else None,
                )  # fmt: skip
                estimates.append(_Due(expected, event))
        actuals.sort(key=lambda d: d.at)
        estimates.sort(key=lambda d: d.at)
        events = [d.event for d in (actuals + estimates)[:limit]]
        bodies = []
        if events:
            body = json.dumps(events, separators=(",", ":")).encode()
            bodies.append((body, "application/json", "dcsa"))
        return PollBatch(bodies=bodies, next_cursor=now.isoformat(), more=False)

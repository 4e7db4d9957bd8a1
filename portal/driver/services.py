"""The driver page's writes: a scan through integrations.scans.services.scan_submit (once per
idempotency key, with its original time) and a GPS position through the positions channel.

A retry of a queued scan (the page's IndexedDB queue) sends the same key: it gets the
first answer again and stores nothing new, so a flaky connection loses nothing and doubles
nothing. The scan's own dedupe key (scans.parse) would also keep the event single.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import selectors as ingest_selectors
from integrations.models import Channel
from integrations.scans.parse import Upload
from integrations.scans.services import scan_submit
from integrations.services import message_store
from portal.routing import services as routing
from portal.routing import solver
from portal.routing.models import DriverScan, Route, RouteStop, StopStatus
from portal.tracking import live
from shipments.selectors import shipment_by_reference
from tenancy.errors import DomainError
from tenancy.models import User

ACTIONS = {"pickup": "picked_up", "delivery": "delivered", "failed": "failed_delivery"}
FAILURE_REASONS = ("not_home", "refused", "address_wrong", "no_access", "damaged", "other")
MAX_KEY = 80


class DriverError(DomainError):
    code = "invalid_scan"
    status = 400


@dataclass(frozen=True)
class ScanResult:
    scan: DriverScan
    replayed: bool


def driver_scan_record(
    *,
    driver: User,
    key: str,
    action: str,
    reference: str,
    occurred_at: str = "",
    lat: str | float | None = None,
    lon: str | float | None = None,
    accuracy_m: str | float | None = None,
    recipient_name: str = "",
    reason: str = "",
    uploads: list[Upload] | None = None,
) -> ScanResult:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY:
        raise DriverError("An idempotency key (at most 80 characters) is required.", field="key")
    existing = DriverScan.objects.filter(driver=driver, idempotency_key=key).first()
    if existing is not None:
        return ScanResult(existing, True)
    milestone = ACTIONS.get(action)
    if milestone is None:
        raise DriverError("Choose pickup, delivery or failed.", field="action")
    if action == "failed" and reason not in FAILURE_REASONS:
        raise DriverError("Give the reason the delivery failed.", field="reason")
    data = {
        "reference": reference,
        "milestone": milestone,
        "occurred_at": occurred_at,
        "lat": lat,
        "lon": lon,
        "accuracy_m": accuracy_m,
        "note": f"failed: {reason}" if action == "failed" else "",
    }
    data = {k: v for k, v in data.items() if v not in (None, "")}
    known = ingest_selectors.known_milestones()
    scanned_by = {"user_id": driver.pk, "email": driver.email, "via": "driver-page"}
    try:
        with transaction.atomic():
            message = scan_submit(
                data=data, uploads=uploads or [], known=known, scanned_by=scanned_by
            )
            pod_message = None
            if action == "delivery" and (uploads or recipient_name.strip()):
                pod_message = scan_submit(
                    data=data | {"milestone": "proof_of_delivery"},
                    uploads=[],
                    known=known,
                    scanned_by=scanned_by,
                )
            cleaned_at = json.loads(bytes(message.body))["occurred_at"]
            scan = DriverScan.objects.create(
                driver=driver,
                idempotency_key=key,
                reference=reference.strip()[:120],
                shipment=shipment_by_reference(value=reference),
                milestone=milestone,
                occurred_at=datetime.fromisoformat(cleaned_at),
                message_id=message.pk,
                pod_message_id=pod_message.pk if pod_message else None,
                recipient_name=recipient_name.strip()[:120],
                failure_reason=reason if action == "failed" else "",
            )
    except IntegrityError:
        # the same key raced in from a second tab: the first one's answer stands
        existing = DriverScan.objects.filter(driver=driver, idempotency_key=key).first()
        if existing is None:
            raise
        return ScanResult(existing, True)
    return ScanResult(scan, False)


def driver_position_record(
    *,
    driver: User,
    lat: float,
    lon: float,
    at: datetime | None = None,
    accuracy_m: float | None = None,
) -> Route:
    """A GPS fix of the driver: stored as a positions message for the vehicle (processed by
    the positions channel), the route's ETAs recomputed from it and its customers nudged."""
    at = at or timezone.now()
    route = routing.route_for(driver=driver, day=at)
    ping = {"vehicle_ref": route.vehicle_ref, "lat": lat, "lon": lon, "at": at.isoformat()}
    if accuracy_m is not None:
        ping["accuracy_m"] = accuracy_m
    message_store(
        integration=None,
        channel=Channel.POSITION,
        body=json.dumps([ping]).encode(),
        content_type="application/json",
    )
    routing.etas_recompute(route=route, start=(solver.Point(lat, lon), max(at, timezone.now())))
    for stop in RouteStop.objects.filter(route=route, status=StopStatus.PENDING).select_related(
        "shipment"
    ):
        live.publish_shipment(stop.shipment)
    return route

"""End-to-end ingest benchmark against the raw PostgreSQL COPY floor, measured in one run.

N messages of mixed formats (X12 214 and DCSA T&T, many events each) are accepted over the
webhook endpoint (Django's full request path, in process), then parsed, matched, applied and
their timelines recomputed (the hooks fire: exception checks and live updates hang there) by
the same pipeline the Celery worker runs, in batches. The clock runs from the first accept to
the last applied event. The floor: COPY of the same number of event-shaped rows.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test import Client
from django.utils import timezone

from integrations import pipeline
from integrations.models import InboundMessage
from integrations.services import integration_create
from shipments.models import Shipment, ShipmentReference, TrackingEvent
from tenancy.context import current_tenant_id

X12_CODES = ("AF", "P1", "X1", "D1")
DCSA_CODES = (("TRANSPORT", "DEPA"), ("TRANSPORT", "ARRI"))
BATCH = 20


def _x12(shipment_refs: list[str], control: int, base: datetime) -> bytes:
    segments = [
        f"ISA*00*          *00*          *ZZ*BENCHCARRIER   *ZZ*MILEPOST       *"
        f"{base:%y%m%d}*{base:%H%M}*U*00401*{control:09d}*0*P*:",
        f"GS*QM*BENCH*MILEPOST*{base:%Y%m%d}*{base:%H%M}*{control}*X*004010",
    ]
    for n, ref in enumerate(shipment_refs, 1):
        body = [f"ST*214*{n:04d}", f"B10*PRO{control}{n}*{ref}*BNCH"]
        for lx, code in enumerate(X12_CODES, 1):
            at = base + timedelta(hours=6 * lx)
            body += [f"LX*{lx}", f"AT7*{code}*NS***{at:%Y%m%d}*{at:%H%M}*UT"]
        body.append(f"SE*{len(body) + 1}*{n:04d}")
        segments += body
    segments += [f"GE*{len(shipment_refs)}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(segments) + "~\n").encode()


def _dcsa(shipment_refs: list[str], base: datetime) -> bytes:
    events = []
    for ref in shipment_refs:
        for n, (event_type, code) in enumerate(DCSA_CODES):
            at = base + timedelta(days=2 + n * 20)
            events.append(
                {
                    "eventID": str(uuid.uuid4()),
                    "eventType": event_type,
                    "eventCreatedDateTime": (at + timedelta(minutes=5)).isoformat(),
                    "eventClassifierCode": "ACT",
                    "eventDateTime": at.isoformat(),
                    "transportEventTypeCode": code,
                    "documentReferences": [
                        {"documentReferenceType": "BKG", "documentReferenceValue": ref}
                    ],
                    "transportCall": {"UNLocationCode": "NLRTM", "modeOfTransport": "VESSEL"},
                }
            )
    return json.dumps(events).encode()


def _shipments(count: int, prefix: str) -> list[str]:
    from milestones.selectors import template_latest_version

    version = template_latest_version(mode="ocean_fcl")
    booked = timezone.now() - timedelta(days=30)
    rows = Shipment.objects.bulk_create(
        [
            Shipment(
                mode="ocean_fcl",
                template_version=version,
                booked_at=booked,
                tenant_id=current_tenant_id(),
            )
            for _ in range(count)
        ]
    )
    refs = [f"{prefix}{n:06d}" for n in range(count)]
    ShipmentReference.objects.bulk_create(
        [
            ShipmentReference(shipment=s, kind="booking", value=ref, tenant_id=s.tenant_id)
            for s, ref in zip(rows, refs, strict=True)
        ]
    )
    return refs


def _copy_floor(rows: int) -> float:
    """Rows/s for COPY of event-shaped rows into an unlogged scratch table."""
    now = datetime.now(UTC).isoformat()
    buffer = io.StringIO()
    for n in range(rows):
        buffer.write(
            f"{n}\tdelivered\t{now}\tACT\tNLRTM\tintegration\tx12:bench\tD1\tk{n}\t{now}\n"
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_floor (shipment_id bigint, milestone text, occurred_at "
            "timestamptz, classifier text, location text, source_kind text, source_name text, "
            "raw_code text, dedupe_key text, recorded_at timestamptz) ON COMMIT DROP"
        )
        started = time.perf_counter()
        cursor.cursor.copy_expert("COPY bench_floor FROM STDIN", buffer)
        elapsed = time.perf_counter() - started
    return rows / elapsed


def bench_ingest(*, messages: int = 100, shipments_per_message: int = 40) -> dict:
    tenant_id = current_tenant_id()
    x12 = integration_create(name="bench x12", kind="x12", partner_name="BNCH")
    dcsa = integration_create(name="bench dcsa", kind="dcsa", partner_name="BNCH")
    refs = _shipments(messages * shipments_per_message, prefix="BKG")
    base = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    bodies = []
    for m in range(messages):
        chunk = refs[m * shipments_per_message : (m + 1) * shipments_per_message]
        bodies.append(
            (x12, _x12(chunk, 1000 + m, base)) if m % 2 == 0 else (dcsa, _dcsa(chunk, base))
        )
    client = Client(SERVER_NAME="localhost")
    started = time.perf_counter()
    for integration, body in bodies:
        response = client.post(
            f"/api/v1/ingest/webhooks/{tenant_id}/{integration.token}/",
            data=body,
            content_type="application/octet-stream",
            HTTP_X_MILEPOST_SECRET=integration.secret,
        )
        assert response.status_code == 202, response.content
    accepted_s = time.perf_counter() - started
    ids = list(InboundMessage.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), BATCH):
        pipeline.process_messages(ids[start : start + BATCH])
    elapsed = time.perf_counter() - started
    events = TrackingEvent.objects.count()
    floor = _copy_floor(events)
    events_per_s = events / elapsed
    return {
        "events_per_s": round(events_per_s, 1),
        "floor_rows_per_s": round(floor, 1),
        "ratio": round(events_per_s / floor, 4),
        "events": events,
        "messages": len(bodies),
        "accept_s": round(accepted_s, 2),
        "total_s": round(elapsed, 2),
    }

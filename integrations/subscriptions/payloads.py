"""The bodies partners receive: ``{"type", "timestamp", "data"}`` (Standard Webhooks' shape),
and the shipment as every event shows it. Rendered once per event, stored, sent as stored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from shipments.models import ReferenceKind, Shipment, ShipmentReference

SHIPMENT_FIELDS = (
    "pk",
    "public_id",
    "mode",
    "service",
    "carrier",
    "customer_account_id",
    "customer_account__code",
    "status",
    "current_stage",
    "next_milestone",
    "eta",
    "progress_percent",
    "is_late",
    "booked_at",
    "promised_at",
    "origin_locode",
    "destination_locode",
)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset written ``Z``, as the REST API writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shipment_summaries(shipment_ids: Iterable[int]) -> dict[int, tuple[dict[str, Any], int | None]]:
    """shipment id -> (what events show of it, its customer account id); two queries."""
    ids = sorted(set(shipment_ids))
    if not ids:
        return {}
    references: dict[int, list[dict[str, str]]] = {}
    for shipment_id, kind, value in (
        ShipmentReference.objects.filter(shipment_id__any=ids)
        .exclude(kind=ReferenceKind.MILEPOST)  # Milepost's own id is "id" already
        .order_by("shipment_id", "id")
        .values_list("shipment_id", "kind", "value")
    ):
        references.setdefault(shipment_id, []).append({"kind": kind, "value": value})
    found: dict[int, tuple[dict[str, Any], int | None]] = {}
    for row in Shipment.objects.filter(pk__any=ids).values_list(*SHIPMENT_FIELDS):
        values = dict(zip(SHIPMENT_FIELDS, row, strict=True))
        pk: int = values["pk"]
        found[pk] = (
            {
                "id": values["public_id"],  # the REST API's opaque id
                "references": references.get(pk, []),
                "mode": values["mode"],
                "service": values["service"],
                "carrier": values["carrier"],
                "customer_account": values["customer_account__code"],
                "status": values["status"],
                "current_stage": values["current_stage"],
                "next_milestone": values["next_milestone"] or None,
                "eta": iso(values["eta"]),
                "progress": values["progress_percent"],
                "is_late": values["is_late"],
                "booked_at": iso(values["booked_at"]),
                "promised_at": iso(values["promised_at"]),
                "origin": values["origin_locode"] or None,
                "destination": values["destination_locode"] or None,
            },
            values["customer_account_id"],
        )
    return found


def render(event_type: str, occurred_at: datetime, data: Mapping[str, Any]) -> str:
    """The body of an event, compact JSON (the bytes that are signed and sent)."""
    body = {"type": event_type, "timestamp": iso(occurred_at), "data": data}
    return orjson.dumps(body, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot put {type(value).__name__} into a webhook body")

"""Position pings: the body of a "position" message and the checks on each ping (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from integrations import geo
from integrations.parsers.base import ParseError
from integrations.parsers.jsonutil import load_json, parse_iso_datetime
from tenancy.text import storable

if TYPE_CHECKING:
    from integrations.models import InboundMessage

MAX_PINGS = 5000
MAX_FUTURE = timedelta(minutes=5)


@dataclass
class Ping:
    message: InboundMessage
    index: int
    reference: str
    vehicle_ref: str
    lat: float
    lon: float
    at: datetime
    speed_kmh: float | None
    heading: float | None
    accuracy_m: float | None


def pings_from_body(body: bytes) -> list[Any]:
    """The list of pings of a body: a JSON array or {"pings": [...]}; ParseError otherwise."""
    document = load_json(body)
    if isinstance(document, dict) and isinstance(document.get("pings"), list):
        document = document["pings"]
    if not isinstance(document, list):
        raise ParseError("expected a JSON array of pings", "$")
    if len(document) > MAX_PINGS:
        raise ParseError(f"too many pings ({len(document)} > {MAX_PINGS})", "$")
    return document


def _optional_number(item: dict, name: str, low: float, high: float, where: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ParseError(f"{name} must be a number between {low:g} and {high:g}", where)
    return float(value)


def ping_validate(item: Any, index: int, message: InboundMessage, now: datetime) -> Ping:
    base = f"$[{index}]"
    if not isinstance(item, dict):
        raise ParseError("a ping must be a JSON object", base)
    reference = item.get("reference") or ""
    vehicle_ref = item.get("vehicle_ref") or ""
    if not isinstance(reference, str) or len(reference) > 120:
        raise ParseError("reference must be text (at most 120 characters)", f"{base}.reference")
    if not isinstance(vehicle_ref, str) or len(vehicle_ref) > 60:
        raise ParseError("vehicle_ref must be text (at most 60 characters)", f"{base}.vehicle_ref")
    for name, text in (("reference", reference), ("vehicle_ref", vehicle_ref)):
        if not storable(text):
            raise ParseError(f"{name} contains a NUL or unpaired surrogate", f"{base}.{name}")
    if not reference.strip() and not vehicle_ref.strip():
        raise ParseError("a ping needs a reference or a vehicle_ref", base)
    if not geo.valid_lat(item.get("lat")):
        raise ParseError("lat must be a number between -90 and 90", f"{base}.lat")
    if not geo.valid_lon(item.get("lon")):
        raise ParseError("lon must be a number between -180 and 180", f"{base}.lon")
    if item.get("at") in (None, ""):
        raise ParseError("at is required (ISO 8601 with offset)", f"{base}.at")
    at = parse_iso_datetime(item["at"], f"{base}.at")
    if at.tzinfo is None:
        raise ParseError("at needs a UTC offset (e.g. 2026-03-05T09:00:00Z)", f"{base}.at")
    if at > now + MAX_FUTURE:
        raise ParseError("at lies more than 5 minutes in the future", f"{base}.at")
    return Ping(
        message=message,
        index=index,
        reference=reference.strip(),
        vehicle_ref=vehicle_ref.strip(),
        lat=float(item["lat"]),
        lon=float(item["lon"]),
        at=at,
        speed_kmh=_optional_number(item, "speed_kmh", 0, 1500, f"{base}.speed_kmh"),
        heading=_optional_number(item, "heading", 0, 360, f"{base}.heading"),
        accuracy_m=_optional_number(item, "accuracy_m", 0, 1_000_000, f"{base}.accuracy_m"),
    )

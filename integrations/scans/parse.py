"""Driver and warehouse scans: validation at the door and the parser the pipeline runs.

The stored body is the JSON of the cleaned scan fields plus who scanned; photos and
signatures are Attachment rows of that message (saved in the same transaction).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations import geo
from integrations.parsers.base import (
    Format,
    NormalizedEvent,
    ParseContext,
    ParseError,
    ParseResult,
)
from integrations.parsers.jsonutil import canonical_json, load_json, parse_iso_datetime
from tenancy.errors import DomainError
from tenancy.text import storable

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
MAX_FUTURE = timedelta(minutes=5)
SCAN_FIELDS = (
    "reference",
    "milestone",
    "occurred_at",
    "lat",
    "lon",
    "accuracy_m",
    "note",
    "location",
)


class ScanInvalid(DomainError):
    """The scan cannot be accepted; ``fields`` maps field names to reasons."""

    def __init__(self, fields: dict[str, str], *, code: str = "invalid_scan", status: int = 400):
        message = "; ".join(f"{k}: {v}" for k, v in fields.items())
        super().__init__(message, code=code, status=status, fields=fields)


@dataclass
class Upload:
    kind: str  # "photo" | "signature"
    name: str
    content_type: str
    data: bytes
    size: int


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError
    return float(value)


def scan_clean(data: dict, *, known: set[str], now: datetime | None = None) -> dict:
    """Cleaned scan fields (JSON-safe) or ScanInvalid naming every bad field."""
    now = now or timezone.now()
    errors: dict[str, str] = {
        str(name): "Must not contain NUL or unpaired surrogate characters."
        for name, value in data.items()
        if isinstance(value, str) and not storable(value)
    }
    if errors:
        raise ScanInvalid(errors)
    out: dict[str, Any] = {}
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        errors["reference"] = "This field is required."
    elif len(reference.strip()) > 120:
        errors["reference"] = "At most 120 characters."
    else:
        out["reference"] = reference.strip()
    milestone = data.get("milestone")
    if not isinstance(milestone, str) or not milestone.strip():
        errors["milestone"] = "This field is required."
    elif milestone.strip() not in known:
        errors["milestone"] = f"Unknown milestone {milestone.strip()!r}."
    else:
        out["milestone"] = milestone.strip()
    occurred = data.get("occurred_at")
    if occurred in (None, ""):
        out["occurred_at"] = now.isoformat()
    else:
        try:
            moment = parse_iso_datetime(occurred, "occurred_at")
        except ParseError as error:
            errors["occurred_at"] = error.reason
        else:
            if moment.tzinfo is None:
                errors["occurred_at"] = "Needs a UTC offset, e.g. 2026-03-05T09:00:00+01:00."
            elif moment > now + MAX_FUTURE:
                errors["occurred_at"] = "Lies in the future."
            else:
                out["occurred_at"] = moment.isoformat()
    for name, check, message in (
        ("lat", geo.valid_lat, "Must be a number between -90 and 90."),
        ("lon", geo.valid_lon, "Must be a number between -180 and 180."),
        ("accuracy_m", lambda v: v >= 0, "Must be a non-negative number."),
    ):
        try:
            value = _number(data.get(name))
        except (TypeError, ValueError):
            errors[name] = message
            continue
        if value is not None and not check(value):
            errors[name] = message
        elif value is not None:
            out[name] = value
    if ("lat" in out) != ("lon" in out) and not ({"lat", "lon"} & set(errors)):
        errors["lat" if "lat" not in out else "lon"] = "lat and lon go together."
    for name, limit in (("note", 2000), ("location", 200)):
        value = data.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            errors[name] = "Must be text."
        elif len(value) > limit:
            errors[name] = f"At most {limit} characters."
        else:
            out[name] = value.strip()
    if errors:
        raise ScanInvalid(errors)
    return out


def upload_check(upload: Upload) -> None:
    """Images only (declared type and magic bytes agree), 5 MB at most."""
    if upload.size > MAX_ATTACHMENT_BYTES or len(upload.data) > MAX_ATTACHMENT_BYTES:
        raise ScanInvalid(
            {upload.kind: f"File too large ({upload.size} bytes > {MAX_ATTACHMENT_BYTES})."},
            code="file_too_large",
            status=413,
        )
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    magic = IMAGE_TYPES.get(content_type)
    if magic is None:
        raise ScanInvalid(
            {upload.kind: f"Must be an image (JPEG, PNG, WebP or GIF), not {content_type!r}."},
            code="invalid_file",
        )
    if not upload.data.startswith(magic) or (
        content_type == "image/webp" and upload.data[8:12] != b"WEBP"
    ):
        raise ScanInvalid(
            {upload.kind: f"The file content is not a {content_type} image."},
            code="invalid_file",
        )


def parse_scan(data: bytes, context: ParseContext) -> ParseResult:
    """Registry entry point: the stored scan JSON as one ACT event."""
    document = load_json(bytes(data))
    if not isinstance(document, dict):
        raise ParseError("a scan must be a JSON object")
    for name in ("reference", "milestone", "occurred_at"):
        if not isinstance(document.get(name), str) or not document[name].strip():
            raise ParseError(f"{name} is missing", name)
    occurred_at = parse_iso_datetime(document["occurred_at"], "occurred_at")
    if occurred_at.tzinfo is None:
        raise ParseError("occurred_at needs a UTC offset", "occurred_at")
    location = document.get("location") or None
    lat, lon = document.get("lat"), document.get("lon")
    if not location and geo.valid_lat(lat) and geo.valid_lon(lon):
        location = f"{float(lat):.6f},{float(lon):.6f}"
    attachments = context.attachments
    reference = document["reference"].strip()
    milestone = document["milestone"].strip()
    extra = {
        "scanned_by": document.get("scanned_by") or {},
        "attachments": [{"id": pk, "kind": kind} for pk, kind in attachments],
        "note": document.get("note", ""),
        "accuracy_m": document.get("accuracy_m"),
        "lat": lat,
        "lon": lon,
    }
    key_basis = {k: document.get(k) for k in SCAN_FIELDS} | {"scanned_by": extra["scanned_by"]}
    return ParseResult(
        format="scan",
        events=[
            NormalizedEvent(
                standard="scan",
                reference=reference,
                reference_kind="any",
                references=(("any", reference),),
                code=milestone,
                milestone=milestone,
                occurred_at=occurred_at,
                tz_unknown=False,
                location=location,
                classifier="ACT",
                dedupe_key="scan:" + hashlib.sha256(canonical_json(key_basis).encode()).hexdigest(),
                raw=canonical_json(document),
                extra=extra,
            )
        ],
    )


FORMAT = Format(name="scan", label="Driver or warehouse scan", parse=parse_scan, standalone=False)

"""JSON helpers shared by the DCSA and EPCIS parsers."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .base import ParseError, decode_text

ISO_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def load_json(data: bytes) -> Any:
    text = decode_text(data)
    if not text.strip():
        raise ParseError("empty body")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON: {exc.msg}", position=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nesting too deep") from None


def parse_iso_datetime(value: Any, path: str) -> datetime:
    """ISO 8601 with 'T' or a space; returns aware when an offset is present, else naive."""
    if not isinstance(value, str):
        raise ParseError(f"date-time must be a string, got {type(value).__name__}", path)
    match = ISO_DATETIME.match(value.strip())
    if not match:
        raise ParseError(f"invalid date-time format {value!r}", path)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
    except ValueError as exc:
        raise ParseError(f"impossible date-time {value!r}: {exc}", path) from None
    if offset is None:
        return moment
    return moment.replace(tzinfo=parse_offset(offset, path))


def parse_offset(text: str, path: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if not match:
        raise ParseError(f"invalid UTC offset {text!r}", path)
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59:
        raise ParseError(f"impossible UTC offset {text!r}", path)
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def text_or_none(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None

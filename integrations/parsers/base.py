"""Shared types of the parsing library: errors, normalized events and results."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

MILESTONES = (
    "order_created",
    "picked_up",
    "departed",
    "arrived",
    "customs_hold",
    "customs_cleared",
    "out_for_delivery",
    "delivered",
    "exception",
    "estimated",
    "other",
)

CONTRACT_KEYS = (
    "reference",
    "reference_kind",
    "code",
    "milestone",
    "occurred_at",
    "location",
    "classifier",
)


class ParseError(Exception):
    """The only exception type the parsers raise or report."""

    def __init__(self, reason: str, position: str | None = None, unit: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.unit = unit

    def __str__(self) -> str:
        parts = [self.reason]
        if self.position:
            parts.append(f"at {self.position}")
        if self.unit:
            parts.append(f"in {self.unit}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"ParseError({self.reason!r}, position={self.position!r}, unit={self.unit!r})"

    def with_context(self, position: str | None = None, unit: str | None = None) -> ParseError:
        """Copy with position/unit filled in where still unknown."""
        return ParseError(self.reason, self.position or position, self.unit or unit)


@dataclass(frozen=True)
class NormalizedEvent:
    standard: str
    reference: str
    reference_kind: str
    references: tuple[tuple[str, str], ...]
    code: str
    milestone: str
    occurred_at: datetime
    tz_unknown: bool
    location: str | None
    classifier: str
    dedupe_key: str
    raw: str = field(compare=False)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def to_contract(self) -> dict:
        return {
            "reference": self.reference,
            "reference_kind": self.reference_kind,
            "code": self.code,
            "milestone": self.milestone,
            "occurred_at": self.occurred_at.isoformat(),
            "location": self.location,
            "classifier": self.classifier,
        }


@dataclass
class ParseResult:
    format: str
    events: list[NormalizedEvent] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    retracted_ids: list[str] = field(default_factory=list)


def edi_dedupe_key(
    standard: str,
    reference: str,
    code: str,
    occurred_at: datetime,
    location: str | None,
    classifier: str,
) -> str:
    canonical = "\x1f".join(
        [standard, reference, code, occurred_at.isoformat(), location or "", classifier]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def unique_references(
    primary: tuple[str, str], others: list[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Primary first, then every other (kind, value) once, in order of appearance."""
    seen: set[tuple[str, str]] = set()
    ordered: list[tuple[str, str]] = []
    for kind, value in [primary, *others]:
        if not value or (kind, value) in seen:
            continue
        seen.add((kind, value))
        ordered.append((kind, value))
    return tuple(ordered)


def decode_text(data: bytes, *, fallback_latin1: bool = False) -> str:
    """Strict UTF-8 (BOM stripped); latin-1 only where the syntax declares an 8-bit set."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError("input must be bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        if not fallback_latin1:
            raise ParseError(
                f"input is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start})",
                position=f"byte {exc.start}",
            ) from None
        text = bytes(data).decode("latin-1")
    return text.removeprefix("\ufeff")

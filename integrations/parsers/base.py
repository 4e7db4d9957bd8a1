"""Shared types of the parsing library: errors, normalized events and results."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenancy.errors import DomainError

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


class ParseError(DomainError):
    """The only exception type the parsers raise or report (a 400 where a caller sent it)."""

    def __init__(self, reason: str, position: str | None = None, unit: str | None = None):
        super().__init__(reason, code="unparseable")
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
    """One parsed event. ``occurred_at`` always carries an offset: a local time whose zone
    the parser cannot tell becomes an ``UnplacedEvent`` instead (see ParseResult)."""

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
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # When the source issued the message (its own clock, aware, UTC), where it says so.
    issued_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.occurred_at.utcoffset() is None:
            raise ParseError(f"occurred_at {self.occurred_at.isoformat()} has no UTC offset")

    def to_contract(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "reference_kind": self.reference_kind,
            "code": self.code,
            "milestone": self.milestone,
            "occurred_at": self.occurred_at.isoformat(),
            "location": self.location,
            "classifier": self.classifier,
        }


def unknown_zone_reason(place: str) -> str:
    return f"time zone of {place} unknown"


@dataclass(frozen=True)
class UnplacedEvent:
    """An event whose time was sent without an offset at a place whose zone the packaged
    data cannot tell. Nothing is guessed: the pipeline looks the place up among the tenant's
    places (ops can register it and replay); else it is a dead letter with ``reason``."""

    place: str  # the location as sent: what a tenant place must be known by
    local_time: datetime  # naive wall-clock time at the place
    position: str
    unit: str
    # The event once its time is placed (an aware datetime); raises ParseError on a local
    # time that the zone skips or repeats (DST).
    build: Callable[[datetime], NormalizedEvent] = field(compare=False)
    reference: str = ""

    @property
    def reason(self) -> str:
        return unknown_zone_reason(self.place)


@dataclass
class ParseResult:
    format: str
    events: list[NormalizedEvent] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    retracted_ids: list[str] = field(default_factory=list)
    unplaced: list[UnplacedEvent] = field(default_factory=list)


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


# --- the shape of a registered format (the registry itself is integrations.formats) ---------


@dataclass(frozen=True)
class ParseContext:
    """What a format may need besides the bytes: feeds their mapping, scans their files.

    The four standards parse from the bytes alone and ignore it."""

    mapping: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, str] = field(default_factory=dict)
    integration_id: int | None = None
    known_milestones: frozenset[str] = frozenset()
    attachments: tuple[tuple[int, str], ...] = ()  # (attachment id, kind) of the message


def _maps_to_other(code: str, context: Mapping[str, Any]) -> str:
    return "other"


@dataclass(frozen=True)
class Format:
    """One inbound format: name, how to parse it, its default code table, what its estimate
    codes estimate, and how to recognise it in a body (formats without a sniffer are only
    chosen by an integration's kind or a format hint)."""

    name: str
    label: str
    parse: Callable[[bytes, ParseContext], ParseResult]
    map_code: Callable[[str, Mapping[str, Any]], str] = _maps_to_other
    default_mapping: Mapping[str, str] = field(default_factory=dict)
    # Parser milestone "estimated" is not a template milestone: where the code says which
    # milestone it estimates, the event is recorded as an estimate of that milestone.
    estimate_targets: Mapping[str, str] = field(default_factory=dict)
    sniff: Callable[[bytes], bool] | None = None  # on the leading bytes
    sniff_json: Callable[[Any], bool] | None = None  # on the decoded JSON document
    standalone: bool = True  # parseable from the bytes alone (no mapping, no stored files)
    needs_milestone_codes: bool = False  # context.known_milestones must be filled


LEADING_NOISE = b"\xef\xbb\xbf \t\r\n"


def leading_bytes(data: bytes, size: int = 64) -> bytes:
    """The first significant bytes of a body (byte-order mark and white space skipped)."""
    return bytes(data[:size]).lstrip(LEADING_NOISE)

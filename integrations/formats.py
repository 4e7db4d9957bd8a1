"""The registry of inbound formats: the one list of what Milepost can read.

Each format is a module that defines ``FORMAT`` (a ``parsers.base.Format``: name, parse, code
table, estimate targets, sniffer); adding a format is that module plus one line in
``REGISTERED``. Everything else (auto-detection, the pipeline's dispatch, the accepted format
hints, code overrides, ``parse_message``) reads this registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.events import parse as api_events
from integrations.feeds import parse as feeds
from integrations.parsers import dcsa, edifact, epcis, x12
from integrations.parsers.base import Format, ParseContext, ParseError, ParseResult
from integrations.parsers.jsonutil import load_json
from integrations.scans import parse as scans

# Order matters for auto-detection: the first format whose sniffer accepts a body wins
# (EPCIS before DCSA: a DCSA single event is recognised by looser keys).
REGISTERED: tuple[Format, ...] = (
    x12.FORMAT,
    edifact.FORMAT,
    epcis.FORMAT,
    dcsa.FORMAT,
    feeds.CSV_FORMAT,
    feeds.JSON_FORMAT,
    scans.FORMAT,
    api_events.FORMAT,
)
FORMATS: Mapping[str, Format] = {f.name: f for f in REGISTERED}
# Formats that can be parsed from the bytes alone (the CLI, auto-detection).
STANDALONE: tuple[str, ...] = tuple(f.name for f in REGISTERED if f.standalone)


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ParseError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}") from None


def _require_bytes(data: bytes) -> bytes:
    if isinstance(data, str):
        raise ParseError("input must be bytes, not str")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"input must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise ParseError("empty body")
    return data


def detect_format(data: bytes) -> str:
    """The name of the registered format a body is in; ParseError when none recognises it."""
    data = _require_bytes(data)
    for fmt in REGISTERED:
        if fmt.sniff is not None and fmt.sniff(data):
            return fmt.name
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        document = load_json(data)
        for fmt in REGISTERED:
            if fmt.sniff_json is not None and fmt.sniff_json(document):
                return fmt.name
        raise ParseError("JSON body is neither an EPCIS document nor DCSA events")
    raise ParseError("unknown format: expected ISA, UNA/UNB, or a JSON object/array")


def parse(data: bytes, fmt: str = "auto", context: ParseContext | None = None) -> ParseResult:
    """Parse a whole message body; per-unit problems are reported in ``result.errors``."""
    try:
        data = _require_bytes(data)
        if fmt == "auto":
            fmt = detect_format(data)
        return get(fmt).parse(data, context or ParseContext())
    except ParseError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ParseError(f"input too complex to parse: {type(exc).__name__}") from None


def map_code(
    standard: str,
    code: str,
    *,
    overrides: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> str:
    """Milestone for a raw source code: overrides win, then the format's rules, else other."""
    if overrides and code in overrides:
        return overrides[code]
    fmt = FORMATS.get(standard)
    return fmt.map_code(code, context or {}) if fmt else "other"


def timeline_milestone(standard: str, code: str, milestone: str) -> str:
    """The milestone an event counts for on the timeline: a parser's "estimated" becomes an
    estimate of the milestone its code estimates (where the format says which)."""
    if milestone == "estimated":
        fmt = FORMATS.get(standard)
        return fmt.estimate_targets.get(code, "estimated") if fmt else "estimated"
    return milestone

"""Carrier/partner status message parsers: X12 214, EDIFACT IFTSTA, DCSA T&T, GS1 EPCIS.

Pure Python, no database access. ``parse`` only ever raises ``ParseError``.
"""

from __future__ import annotations

from .base import NormalizedEvent, ParseError, ParseResult
from .dcsa import parse_dcsa
from .detect import FORMATS, json_flavour, sniff_prefix
from .edifact import parse_edifact
from .epcis import parse_epcis
from .jsonutil import load_json
from .mappings import DEFAULT_MAPPINGS, map_code
from .x12 import parse_x12

__all__ = [
    "DEFAULT_MAPPINGS",
    "FORMATS",
    "NormalizedEvent",
    "ParseError",
    "ParseResult",
    "detect_format",
    "map_code",
    "parse",
]


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
    """One of "x12", "edifact", "dcsa", "epcis"; ParseError when unrecognizable."""
    data = _require_bytes(data)
    prefix = sniff_prefix(data)
    if prefix == "json":
        return json_flavour(load_json(data))
    if prefix is None:
        raise ParseError("unknown format: expected ISA, UNA/UNB, or a JSON object/array")
    return prefix


def parse(data: bytes, fmt: str = "auto") -> ParseResult:
    """Parse a whole message body; per-unit problems are reported in ``result.errors``."""
    try:
        return _parse(data, fmt)
    except ParseError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ParseError(f"input too complex to parse: {type(exc).__name__}") from None


def _parse(data: bytes, fmt: str) -> ParseResult:
    data = _require_bytes(data)
    if fmt not in ("auto", *FORMATS):
        raise ParseError(f"unknown format {fmt!r}; expected auto, {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(data)
    if fmt == "x12":
        return parse_x12(data)
    if fmt == "edifact":
        return parse_edifact(data)
    document = load_json(data)
    if fmt == "dcsa":
        return parse_dcsa(data, document)
    return parse_epcis(data, document)

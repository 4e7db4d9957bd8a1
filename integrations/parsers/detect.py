"""Format detection from the first significant bytes (and JSON shape)."""

from __future__ import annotations

from typing import Any

from .base import ParseError

FORMATS = ("x12", "edifact", "dcsa", "epcis")
LEADING_NOISE = b"\xef\xbb\xbf \t\r\n"


def sniff_prefix(data: bytes) -> str | None:
    """x12/edifact/json from the leading bytes, None when unknown."""
    head = bytes(data[:64]).lstrip(LEADING_NOISE)
    if head.startswith(b"ISA"):
        return "x12"
    if head.startswith((b"UNA", b"UNB")):
        return "edifact"
    if head.startswith((b"{", b"[")):
        return "json"
    return None


def json_flavour(document: Any) -> str:
    if isinstance(document, list):
        return "dcsa"
    if not isinstance(document, dict):
        raise ParseError("JSON body is neither an EPCIS document nor DCSA events")
    if document.get("type") in ("EPCISDocument", "EPCISQueryDocument") or "epcisBody" in document:
        return "epcis"
    if any(key in document for key in ("events", "metadata", "eventType", "eventClassification")):
        return "dcsa"
    raise ParseError("JSON body is neither an EPCIS document nor DCSA events")

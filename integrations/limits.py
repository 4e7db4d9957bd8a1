"""How much a caller may send, checked in one place for every channel.

5 MiB per message (``INGEST_MAX_BODY_BYTES``), 20 MiB per document
(``INGEST_MAX_DOCUMENT_BYTES``). Bodies are read without Django's in-memory cap, up to one byte
past the limit, so an oversized body is recognised without reading all of it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from tenancy.api.parsers import load_request_json
from tenancy.errors import DomainError, PayloadTooLarge
from tenancy.text import check_document

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def max_body_bytes() -> int:
    return int(getattr(settings, "INGEST_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def max_document_bytes() -> int:
    """Documents (scans, photos) may be larger than other messages."""
    return int(getattr(settings, "INGEST_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES))


def read_body(request: HttpRequest, limit: int) -> tuple[bytes, int]:
    """(up to limit+1 bytes of the body, declared or read size) without Django's size cap."""
    if hasattr(request, "_body"):
        body = request._body
        return body[: limit + 1], len(body)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = request.read(limit + 1)
    return body, max(declared, len(body))


def too_large(size: int, limit: int, what: str = "Body") -> PayloadTooLarge | None:
    """The error for a body over the limit, or None when it fits."""
    if size <= limit:
        return None
    return PayloadTooLarge(f"{what} too large ({size} bytes > {limit}).")


def check_size(size: int, limit: int, what: str = "Body") -> None:
    error = too_large(size, limit, what)
    if error is not None:
        raise error


def read_limited_body(request: HttpRequest, limit: int | None = None) -> bytes:
    """The whole body, or PayloadTooLarge (413) when it is over the limit."""
    limit = limit or max_body_bytes()
    body, size = read_body(request, limit)
    check_size(size, limit)
    return body


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object (bounded depth, storable text); a clear
    400 otherwise."""
    data = load_request_json(body)
    check_document(data)
    if not isinstance(data, dict):
        raise DomainError("Send a JSON object.", code="invalid_json")
    return data

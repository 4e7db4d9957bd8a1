"""The API's parsers. JSON: strict and bounded in depth (Python's json would fail on deep
nesting with RecursionError, a 500; orjson stops at 1024 levels by itself and the walk
enforces a much lower, documented limit, naming the field at fault). Text that PostgreSQL
cannot store is refused where it would be stored: DRF's CharField refuses NUL by itself, and
the services check the rest (tenancy.text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.parsers import BaseParser

from tenancy.errors import DomainError
from tenancy.text import check_document

FLAG_VALUES = {"true": True, "1": True, "false": False, "0": False}


def query_flag(request: Any, name: str, default: bool = False) -> bool:
    """A boolean query parameter (true/false/1/0; absent: ``default``); else a 400."""
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1 or values[0].lower() not in FLAG_VALUES:
        raise DomainError(f"{name} must be true or false.", code="invalid_parameter", field=name)
    return FLAG_VALUES[values[0].lower()]


class InvalidJson(DomainError):
    code = "invalid_json"


def load_request_json(body: bytes) -> Any:
    """Decode a request body as JSON (UTF-8), checked by tenancy.text.check_document."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidJson(f"Invalid JSON: {error}") from None
    check_document(document, text=False)
    return document


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = stream.read() if stream is not None else b""
        if not body:
            return {}
        return load_request_json(body)


class RawBody(dict[str, Any]):
    """A body kept as bytes: at most the view's limit + 1 bytes (``data``), and the size it
    claimed or had (``size``: an oversized body is recognised without reading all of it).

    An empty mapping besides: DRF hands a form-typed body's parse result to Django as
    ``request.POST``, which the CSRF check reads with ``.get``."""

    def __init__(self, *, data: bytes, size: int) -> None:
        super().__init__()
        self.data = data
        self.size = size


class RawBodyParser(BaseParser):
    """For views that store what they receive as it is (uploads, pings, scans): any media
    type, read once and at most ``view.body_limit() + 1`` bytes.

    Why a parser at all: DRF parses the body as soon as anything touches ``request.POST``,
    which its CSRF check for session users does before the view runs; without a parser for
    the view's media type that would consume the stream (or refuse it) first."""

    media_type = "*/*"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> RawBody:
        context = parser_context or {}
        view: Any = context.get("view")
        limit = view.body_limit() if hasattr(view, "body_limit") else DEFAULT_RAW_LIMIT
        request = context.get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        data = stream.read(limit + 1) if stream is not None else b""
        return RawBody(data=data, size=max(declared, len(data)))


DEFAULT_RAW_LIMIT = 5 * 1024 * 1024

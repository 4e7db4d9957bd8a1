"""The API's JSON parser: strict, bounded in depth, and refusing text PostgreSQL cannot store.

Python's json recursion would fail on deep nesting with RecursionError (a 500); orjson stops
at 1024 levels by itself and the walk below enforces a much lower, documented limit, naming
the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.parsers import BaseParser

from tenancy.errors import DomainError
from tenancy.text import check_document


class InvalidJson(DomainError):
    code = "invalid_json"


def load_request_json(body: bytes) -> Any:
    """Decode a request body as JSON (UTF-8), checked by tenancy.text.check_document."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidJson(f"Invalid JSON: {error}") from None
    check_document(document)
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

"""OpenAPI schema pieces shared by every view, so the schema says exactly what the API does.

* ``list_of`` documents a list answer as it is sent: ``{"results": [...]}``;
* ``ERROR`` is the one error shape; ``postprocess`` adds it to every operation for the
  statuses any endpoint can answer (and as ``default``), and writes the security
  requirement as "an API key OR a session", which drf-spectacular would otherwise AND.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

COMMON_ERRORS = {
    "400": "The request is invalid: the error names the field at fault.",
    "401": "No valid credentials (an API key or a session).",
    "403": "The caller's role, key scopes or customer scope do not allow this.",
    "404": "Not found, or not the caller's (the two look the same).",
    "405": "Method not allowed.",
    "429": "Too many requests: retry after the Retry-After header.",
    "503": "A dependency is unavailable: retry after the Retry-After header.",
}
BODY_ERRORS = {
    "409": "Conflicts with the current state (already decided, already recorded...).",
    "413": "The body is larger than the limit.",
    "415": "The media type of the body is not supported here.",
}


def list_of(serializer: type[serializers.BaseSerializer], name: str) -> Any:
    """The schema of a list answer: {"results": [item, ...]}."""
    return inline_serializer(name, {"results": serializer(many=True)})


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular POSTPROCESSING_HOOK (see SPECTACULAR_SETTINGS)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", _error_schema())
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _split_security(operation)
            _require_structured_bodies(operation)
            errors = dict(COMMON_ERRORS)
            if method in ("post", "put", "patch"):
                errors |= BODY_ERRORS
            for status, description in errors.items():
                operation["responses"].setdefault(status, _error_response(description))
            operation["responses"].setdefault("default", _error_response("Other errors."))
    return result


def _require_structured_bodies(operation: dict[str, Any]) -> None:
    """A body described by a schema (JSON, a form) must be sent; raw bodies (bytes, */*) may
    be empty (an empty message is stored and dead-lettered like any other)."""
    body = operation.get("requestBody")
    if body and not {"application/octet-stream", "*/*"} & set(body.get("content", {})):
        body["required"] = True


def _split_security(operation: dict[str, Any]) -> None:
    # Each requirement object ANDs its schemes: one object per scheme means "either".
    split: list[dict[str, list[str]]] = []
    for requirement in operation.get("security", []):
        split.extend({name: scopes} for name, scopes in requirement.items())
    if "security" in operation:
        operation["security"] = split


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }

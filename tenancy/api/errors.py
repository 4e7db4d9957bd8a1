"""One JSON error shape for the whole API: {"error": {"code", "message", "fields"?}}.

``error_payload`` is the only place the shape is built. ``exception_handler`` (DRF's
EXCEPTION_HANDLER) maps every :class:`tenancy.errors.DomainError`, DRF's own exceptions and
Django's Http404 / PermissionDenied / ValidationError through it; plain Django views under
/api/ (the partner webhook, the 404/405 handlers) use ``json_error`` with the same payload.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenancy.errors import DomainError, FieldErrors, Unavailable


def error_payload(*, code: str, message: str, fields: FieldErrors | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _headers(error: DomainError) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after_s)} if isinstance(error, Unavailable) else {}


def json_error(error: DomainError) -> JsonResponse:
    """A domain error as a plain Django response (views outside DRF)."""
    payload = error_payload(code=error.code, message=error.message, fields=error.fields)
    return JsonResponse(payload, status=error.status, headers=_headers(error))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        payload = error_payload(code=exc.code, message=exc.message, fields=exc.fields)
        return Response(payload, status=exc.status, headers=_headers(exc))
    exc = _as_drf(exc)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    fields = None
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = {key: _messages(value) for key, value in exc.detail.items()}
    response.data = error_payload(
        code=_code(exc), message=_first_message(exc.detail), fields=fields
    )
    return response


def _as_drf(exc: Exception) -> Exception:
    if isinstance(exc, ValidationError):
        return exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return f"{key}: {_first_message(value)}"
    return str(detail)


def _messages(detail: Any) -> list[str]:
    """A field's errors as a flat list of texts (nested serializers name the inner field)."""
    if isinstance(detail, list):
        return [text for item in detail for text in _messages(item)]
    if isinstance(detail, dict):
        return [f"{key}: {text}" for key, value in detail.items() for text in _messages(value)]
    return [str(detail)]


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "invalid" if isinstance(exc, exceptions.ValidationError) else "error"

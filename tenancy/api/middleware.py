"""Under /api/ every error is the JSON error shape, whoever produced it.

DRF views already answer with it (tenancy.api.errors); this covers the rest: Django's 404 for
an unknown route, 405 from a plain view, 400 for a multipart body without a boundary, and any
500 (never the HTML or debug page: the exception is logged by Django as usual).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from tenancy.api.errors import error_payload

API_PREFIX = "/api/"
CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        return as_json_error(response)


def as_json_error(response: HttpResponse) -> JsonResponse:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    message = "Internal error." if status >= 500 and status != 503 else f"{phrase}."
    payload = error_payload(code=CODES.get(status, "error"), message=message)
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    return JsonResponse(payload, status=status, headers=headers)

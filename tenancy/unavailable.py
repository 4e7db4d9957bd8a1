"""A dependency outage answers 503 + Retry-After in the API's JSON error shape, never a 500.

While PostgreSQL is down or restarting (or the broker cannot be reached), a request under
``/api/`` or to ``/readyz`` fails with a database or broker connection error somewhere: in a
view, in the tenant middleware resolving an API key, or when the request's transaction
commits. Partners must see "retry later", not an HTML 500 (or Django's debug page).

The middleware sits in front of ``tenancy.middleware.TenantContextMiddleware``. A view's
exception reaches ``process_exception``; an exception raised by the middleware below it has
already been turned into a 500 by Django when it gets here, so a ``got_request_exception``
receiver marks the request with the error and ``__call__`` swaps that 500 for the 503.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tenancy.api.errors import json_error
from tenancy.errors import Unavailable

logger = logging.getLogger(__name__)

OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)
JSON_PATHS = ("/api/", "/readyz")
_MARK = "_milepost_outage"


def _covered(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATHS)


def _outage_response(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning(
        "503 for %s %s: %s: %s", request.method, request.path, type(error).__name__, error
    )
    return json_error(Unavailable("A service Milepost depends on is unavailable; retry shortly."))


def _mark_outage(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Sent by Django while it turns an uncaught exception into a 500 (inside the except)."""
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, OUTAGE_ERRORS):
        setattr(request, _MARK, error)


got_request_exception.connect(_mark_outage, dispatch_uid="tenancy.unavailable")


class UnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        error = getattr(request, _MARK, None)
        if error is not None and response.status_code >= 500 and _covered(request):
            return _outage_response(request, error)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OUTAGE_ERRORS) and _covered(request):
            return _outage_response(request, exception)
        return None

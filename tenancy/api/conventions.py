"""The API's conventions, applied by every TenantAPIView (tenancy.api.base) in one place:

1. rate limit per caller, before anything else runs (tenancy.api.ratelimit), with the
   RateLimit-* headers on every answer and Retry-After on a 429;
2. ``Idempotency-Key`` on POST (tenancy.api.idempotency): a retry gets the first answer;
3. ETag / If-None-Match on GET and HEAD (tenancy.api.etag): 304 when nothing changed.

A view opts out of one with a class attribute (``rate_limited``, ``idempotent``,
``conditional_reads`` = False) and must say why in a comment.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import etag, idempotency, ratelimit


class _Replay(Exception):
    """Carries a kept answer out of ``initial`` (DRF's way out of the handler is raising)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


class ApiConventions(APIView):
    rate_limited: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    conditional_reads: ClassVar[bool] = True

    _rate: ratelimit.Decision | None = None
    _idempotency_row: int | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._rate = None
        self._idempotency_row = None
        if self.rate_limited:
            self._rate = ratelimit.take(ratelimit.caller_key(request._request))
            if self._rate is not None and not self._rate.allowed:
                raise ratelimit.RateLimited(
                    f"Too many requests: retry in {self._rate.retry_after_s} s."
                )
        super().initial(request, *args, **kwargs)
        if self.idempotent and request.method == "POST":
            key = idempotency.key_of(request)
            if key is not None:
                found = idempotency.claim(
                    owner=idempotency.owner_of(request),
                    key=key,
                    fingerprint=idempotency.fingerprint(request),
                )
                if found.kept is not None:
                    raise _Replay(idempotency.replay(found.kept))
                self._idempotency_row = found.row_id

    # DRF passes plain HttpResponses through handle_exception and finalize_response (a kept
    # answer is one, a 304 is one); its stubs say Response.
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response  # type: ignore[return-value]
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        final: HttpResponse = super().finalize_response(request, response, *args, **kwargs)
        return self._conventions(request, final)  # type: ignore[return-value]

    def _conventions(self, request: Request, response: HttpResponse) -> HttpResponse:
        if isinstance(response, Response) and not response.is_rendered:
            response.render()  # the bytes are kept, hashed or both
        row = self._idempotency_row
        if row is not None:
            if idempotency.keeps(response.status_code):
                idempotency.keep(row_id=row, response=response)
            else:
                idempotency.release(row_id=row)
        if self.conditional_reads and request.method in etag.READ_METHODS:
            response = etag.conditional(
                response,
                if_none_match=request._request.headers.get("If-None-Match", ""),
                audience=self._audience(request),
            )
        if self._rate is not None:
            for name, value in self._rate.headers().items():
                response[name] = value
        if self.rate_limited:
            response["Vary"] = _vary(response.get("Vary", ""), "Authorization", "Cookie")
        return response

    @staticmethod
    def _audience(request: Request) -> str:
        """Who the answer was built for: the same URL answers callers differently."""
        return ratelimit.caller_key(request._request)


def _vary(current: str, *names: str) -> str:
    present = [v.strip() for v in current.split(",") if v.strip()]
    lower = {v.lower() for v in present}
    return ", ".join(present + [n for n in names if n.lower() not in lower])

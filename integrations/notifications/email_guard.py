"""Email providers through django-anymail, with their HTTP sent by integrations.outbound.

Anymail's HTTP backends (Postmark, Mailgun, SendGrid, Brevo, …) talk to the provider with a
``requests`` session; :class:`GuardedAdapter` is mounted on that session so that every
request goes through the one outbound guard (address checks at connect time, deadline, body
cap) like every other fetch Milepost makes. Configure::

    EMAIL_BACKEND=integrations.notifications.email_guard.AnymailBackend
    ANYMAIL_ESP=postmark            # anymail.backends.<ANYMAIL_ESP>.EmailBackend
    ANYMAIL_POSTMARK_SERVER_TOKEN=…  # the provider's own anymail settings, from ANYMAIL_*

SMTP (Django's own backend) needs none of this: it is not HTTP.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import requests
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from integrations import outbound


class GuardedAdapter(BaseAdapter):
    """A requests transport adapter whose only way out is outbound.fetch."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        timeout_s = outbound.DEFAULT_TIMEOUT_S
        if isinstance(timeout, int | float):
            timeout_s = float(timeout)
        elif isinstance(timeout, tuple) and timeout and timeout[-1]:
            timeout_s = float(sum(t for t in timeout if t))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        try:
            answer = outbound.fetch(
                request.method or "GET",
                request.url or "",
                headers={k: str(v) for k, v in request.headers.items()},
                body=body if isinstance(body, bytes) else None,
                timeout_s=timeout_s,
                max_redirects=0,
            )
        except outbound.OutboundError as error:
            raise requests.ConnectionError(error.message, request=request) from None
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.body
        response.url = answer.url or (request.url or "")
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.reason = answer.reason
        return response

    def close(self) -> None:
        pass


def guarded_backend_class(esp: str) -> type[BaseEmailBackend]:
    """anymail.backends.<esp>.EmailBackend whose session is guarded."""
    module = importlib.import_module(f"anymail.backends.{esp}")
    base: type[Any] = module.EmailBackend
    if not hasattr(base, "create_session"):
        return base  # not an HTTP backend (e.g. Amazon SES through boto3)

    def create_session(self: Any) -> requests.Session:
        session: requests.Session = base.create_session(self)
        adapter = GuardedAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    return type(f"Guarded{base.__name__}", (base,), {"create_session": create_session})


class AnymailBackend(BaseEmailBackend):
    """EMAIL_BACKEND for providers: the anymail backend named by ``ANYMAIL_ESP``, guarded."""

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        backend_class = guarded_backend_class(settings.ANYMAIL_ESP)
        self.inner = backend_class(fail_silently=fail_silently, **kwargs)

    def open(self) -> Any:
        return self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, email_messages: Any) -> int:
        return int(self.inner.send_messages(email_messages) or 0)

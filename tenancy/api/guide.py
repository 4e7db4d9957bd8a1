"""/api/guide/: the API guide for partners, a page of this server (no CDN, nothing fetched).

The five most common tasks with curl; the code samples that verify a webhook signature are
kept here as text, so tests run exactly what the page shows.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

VERIFY_WITH_PACKAGE = """\
# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook("whsec_...")  # the secret shown once when you subscribed


def receive(body: bytes, headers: dict[str, str]) -> dict:
    try:
        # checks webhook-id, webhook-timestamp (at most 5 minutes old) and webhook-signature
        return webhook.verify(body, headers)
    except WebhookVerificationError:
        raise PermissionError("not from Milepost")
"""

VERIFY_WITH_STDLIB = '''\
import base64
import hashlib
import hmac
import json
import time

TOLERANCE_S = 5 * 60


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """The event if Milepost signed it; ValueError otherwise. ``headers`` in lower case."""
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        raise ValueError("stale or future timestamp")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    # Several signatures, space-separated, while a secret is being rotated: any one will do.
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            return json.loads(body)
    raise ValueError("no valid signature")
'''


def api_guide(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "api/guide.html",
        {
            "base": base,
            "verify_with_package": VERIFY_WITH_PACKAGE,
            "verify_with_stdlib": VERIFY_WITH_STDLIB,
            "burst": getattr(settings, "API_RATE_LIMIT_BURST", 100),
        },
    )

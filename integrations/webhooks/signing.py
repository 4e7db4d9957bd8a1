"""Authenticating a partner's webhook: the shared secret, or an HMAC over the raw body.

DCSA style: ``Notification-Signature: sha256=<hex HMAC-SHA256 of the body>``, keyed by the
base64-decoded integration secret. Compared in constant time, before anything is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from integrations.models import Integration

SECRET_HEADER = "X-Milepost-Secret"
SIGNATURE_HEADER = "Notification-Signature"


def _hmac_key(secret: str) -> bytes:
    """DCSA-style: the shared secret is base64; its decoded bytes key the HMAC."""
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def signature_for(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(_hmac_key(secret), body, hashlib.sha256).hexdigest()


def verify_webhook(integration: Integration, headers: Mapping[str, str], body: bytes) -> str | None:
    """None when authentic, else why not."""
    secret_values = headers.get(SECRET_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if secret_values is None and signature is None:
        return "missing signature"
    if secret_values is not None and (
        "," in secret_values
        or not hmac.compare_digest(secret_values.strip().encode(), integration.secret.encode())
    ):
        return "signature mismatch"
    if signature is not None:
        value = signature.strip()
        # Duplicated headers arrive joined by commas: refuse rather than pick one.
        if "," in value or not value.startswith("sha256="):
            return "signature mismatch"
        expected = signature_for(integration.secret, body)
        if not hmac.compare_digest(value.lower().encode(), expected.encode()):
            return "signature mismatch"
    return None

"""Signatures as Standard Webhooks defines them, checked by the `standardwebhooks` package a
receiver would use (unchanged), and by the standard library alone (the README's recipe).
Pure: no database, no network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from integrations.subscriptions import signing
from integrations.subscriptions.models import new_message_id, new_signing_secret

BODY = json.dumps(
    {"type": "shipment.delivered", "timestamp": "2026-03-05T09:00:00Z", "data": {"a": 1}},
    separators=(",", ":"),
).encode()


def _headers(secrets, *, body=BODY, timestamp=None, message_id="msg_abc"):
    return signing.delivery_headers(
        secrets, message_id=message_id, timestamp=timestamp or int(time.time()), body=body
    )


def test_secrets_look_like_standard_webhooks_secrets():
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_signing_secret() != secret
    assert new_message_id().startswith("msg_") and new_message_id() != new_message_id()


def test_the_standardwebhooks_package_verifies_a_delivery_unchanged():
    secret = new_signing_secret()
    headers = _headers([secret])
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_tampered_body_is_rejected():
    secret = new_signing_secret()
    headers = _headers([secret])
    tampered = BODY.replace(b'"a":1', b'"a":2')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_another_id_is_rejected():
    secret = new_signing_secret()
    headers = _headers([secret]) | {"webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_the_wrong_secret_is_rejected():
    headers = _headers([new_signing_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(BODY, headers)


def test_a_stale_timestamp_is_rejected():
    secret = new_signing_secret()
    headers = _headers([secret], timestamp=int(time.time()) - 10 * 60)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify():
    new, old = new_signing_secret(), new_signing_secret()
    headers = _headers([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers)
    assert Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(BODY, headers)


def _verify_with_the_standard_library(secret: str, headers: dict, body: bytes) -> bool:
    """The README's recipe ("Partner webhooks", Verifying), as written there."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) <= 5 * 60
    return fresh and any(
        hmac.compare_digest(expected, sig.partition(",")[2])
        for sig in headers["webhook-signature"].split(" ")
        if sig.startswith("v1,")
    )


def test_the_standard_library_alone_verifies_it_too():
    secret = new_signing_secret()
    headers = _headers([secret])
    assert _verify_with_the_standard_library(secret, headers, BODY)
    assert not _verify_with_the_standard_library(secret, headers, BODY + b" ")
    assert not _verify_with_the_standard_library(new_signing_secret(), headers, BODY)
    stale = _headers([secret], timestamp=int(time.time()) - 600)
    assert not _verify_with_the_standard_library(secret, stale, BODY)

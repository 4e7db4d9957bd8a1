"""Writes of the webhook channel: a partner's push, stored (or recorded as refused) first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from integrations import selectors, services
from integrations.limits import max_body_bytes, too_large
from integrations.models import Channel, InboundMessage
from integrations.webhooks.signing import verify_webhook
from tenancy.errors import DomainError, NotFound


@dataclass(frozen=True)
class WebhookOutcome:
    """The stored message, or the error to answer. A refused push is recorded too (dead, with
    its reason, so ops see it): the caller commits either way and then answers."""

    message: InboundMessage | None = None
    error: DomainError | None = None


def webhook_receive(
    *, token: object, headers: Mapping[str, str], body: bytes, size: int, content_type: str
) -> WebhookOutcome:
    """Authenticate and store one push (in the current tenant context)."""
    integration = selectors.integration_by_token(token=token)
    if integration is None:
        return WebhookOutcome(error=NotFound())
    limit = max_body_bytes()
    oversized = too_large(size, limit)
    if oversized is not None:
        services.message_reject(
            integration=integration,
            channel=Channel.WEBHOOK,
            body=body[:limit],
            size=size,
            content_type=content_type,
            reason=f"body too large ({size} bytes > {limit})",
        )
        return WebhookOutcome(error=oversized)
    problem = verify_webhook(integration, headers, body)
    if problem is not None:
        services.message_reject(
            integration=integration,
            channel=Channel.WEBHOOK,
            body=body,
            content_type=content_type,
            reason=problem,
        )
        return WebhookOutcome(
            error=DomainError(
                "The message signature is missing or does not match.",
                code="bad_signature",
                status=401,
            )
        )
    message = services.message_store(
        integration=integration, channel=Channel.WEBHOOK, body=body, content_type=content_type
    )
    return WebhookOutcome(message=message)

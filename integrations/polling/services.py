"""Polling carrier APIs: fetch pages through an adapter and store each one with its cursor.

Every fetched page is stored with ``message_store(channel="poll")`` in the same transaction
that advances ``Integration.poll_cursor``, so a crash never loses or skips a page: pages and
cursor commit together (or neither does, and the next round fetches them again). Processing
follows from ``message_store``'s on-commit enqueue of ``integrations.process_message``.

``Integration.last_poll_error`` is shown to the tenant, so it holds only our own short text
(the adapters' and ``integrations.outbound``'s reasons, a status code), never what the remote
answered; the details are in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations.models import Channel, Integration
from integrations.outbound import OutboundError
from integrations.polling.adapters import AdapterError, adapter_for
from integrations.services import message_store
from tenancy.errors import DomainError

logger = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 20
MAX_ERROR_CHARS = 300


@dataclass
class PollOutcome:
    integration_id: int
    status: str  # polled | failed | skipped
    pages: int = 0
    messages: list[int] | None = None
    error: str = ""


def due_integration_ids(now: datetime | None = None) -> list[int]:
    """Active polling integrations of the current tenant whose interval has passed."""
    now = now or timezone.now()
    rows = (
        Integration.objects.filter(is_active=True)
        .exclude(poll_adapter="")
        .values_list("pk", "last_polled_at", "poll_interval_s")
        .order_by("pk")
    )
    return [
        pk
        for pk, last, interval in rows
        if last is None or last + timedelta(seconds=interval) <= now
    ]


def integration_poll(*, integration_id: int, force: bool = False) -> PollOutcome:
    """Fetch pages until the adapter says there are no more (or max_pages), storing each.

    Must run inside a tenant context (a transaction): the integration row stays locked
    (SELECT … FOR UPDATE SKIP LOCKED) until it commits, so two workers never poll the same
    integration at once — the second one skips it.
    """
    integration = (
        Integration.objects.select_for_update(skip_locked=True).filter(pk=integration_id).first()
    )
    if integration is None:
        return PollOutcome(integration_id, "skipped", error="missing or being polled")
    if not integration.is_active or not integration.poll_adapter:
        return PollOutcome(integration_id, "skipped", error="not a polling integration")
    now = timezone.now()
    due_at = (integration.last_polled_at or now) + timedelta(seconds=integration.poll_interval_s)
    if not force and integration.last_polled_at is not None and due_at > now:
        return PollOutcome(integration_id, "skipped", error="not due")
    max_pages = int((integration.poll_config or {}).get("max_pages") or DEFAULT_MAX_PAGES)
    outcome = PollOutcome(integration_id, "polled", messages=[])
    try:
        adapter = adapter_for(integration.poll_adapter)
        for _ in range(max(1, max_pages)):
            # One savepoint per page: its messages and the cursor after it, together.
            with transaction.atomic():
                batch = adapter.fetch(integration, integration.poll_cursor)
                for body, content_type, format_hint in batch.bodies:
                    message = message_store(
                        integration=integration,
                        channel=Channel.POLL,
                        body=body,
                        content_type=content_type,
                        format_hint=format_hint,
                    )
                    outcome.messages.append(message.pk)
                integration.poll_cursor = batch.next_cursor
                integration.save(update_fields=["poll_cursor"])
            outcome.pages += 1
            if not batch.more:
                break
    except (AdapterError, OutboundError) as error:  # our own short reasons, never the remote's
        outcome.status, outcome.error = "failed", error.message
    except DomainError as error:  # a page refused by message_store (e.g. too large)
        outcome.status, outcome.error = "failed", f"could not store a page: {error.message}"
    except Exception as error:  # a bug: record it, keep the pages stored so far
        logger.exception("poll of integration %s failed", integration_id)
        outcome.status, outcome.error = "failed", f"internal error ({type(error).__name__})"
    if outcome.error:
        logger.warning("poll of integration %s: %s", integration_id, outcome.error)
    integration.last_polled_at = timezone.now()
    integration.last_poll_error = outcome.error[:MAX_ERROR_CHARS]
    integration.save(update_fields=["last_polled_at", "last_poll_error"])
    return outcome

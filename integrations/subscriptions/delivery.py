"""Sending a delivery: claim it (committed), POST it through the outbound guard with no
transaction open, then record the attempt and decide what comes next (committed).

At least once, never under another id: a worker killed between claim and record leaves the
delivery "sending"; the beat sweep counts that attempt as failed after ``STALE_AFTER_S`` and
the retry goes out with the same ``webhook-id`` and the same bytes. Two workers never send
the same delivery at once: the claim skips rows another holds and takes only due pending ones.

Outcomes: 2xx delivered; 410 Gone fails the delivery and disables the subscription (the
receiver says the endpoint is gone for good); anything else — another status, a timeout, a
refused or unreachable destination — is retried on the schedule (``schedule.py``), after at
least ``Retry-After`` for 429 and 503. Redirects are not followed (the answer is a failure).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations import outbound
from integrations.subscriptions import schedule, signing
from integrations.subscriptions.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Subscription,
)
from tenancy.audit import audit_record
from tenancy.context import tenant_context

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # the whole exchange, connect to last byte (outbound enforces it)
MAX_RESPONSE_BYTES = 256 * 1024  # what a receiver may answer; the body is never kept
# A "sending" delivery older than this lost its worker (TIMEOUT_S bounds a live attempt).
STALE_AFTER_S = 120
GONE = 410
WORKER_LOST = "no outcome recorded: the worker stopped during the attempt"
DISABLED = "the subscription is disabled"


@dataclass(frozen=True)
class Job:
    """A claimed delivery: everything the POST needs, read in the claiming transaction."""

    delivery_id: int
    subscription_id: int
    message_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes
    attempt: int


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int | None
    error: str = ""
    retry_after_s: int | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Result:
    delivery_id: int
    status: str
    retry_in_s: float | None = None  # set when the next attempt is scheduled


def delivery_send(*, tenant_id: int, delivery_id: int) -> Result | None:
    """Attempt one delivery if it is due and nobody else holds it (None otherwise)."""
    with tenant_context(tenant_id):
        job = delivery_claim(delivery_id=delivery_id)
    if job is None:
        return None
    started_at = timezone.now()
    outcome = post(job)
    with tenant_context(tenant_id):
        return delivery_record(job=job, outcome=outcome, started_at=started_at)


def delivery_claim(*, delivery_id: int, now: datetime | None = None) -> Job | None:
    """Mark a due pending delivery "sending" (one more attempt) and return what to send."""
    now = now or timezone.now()
    delivery = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("subscription", "event")
        .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None:
        return None
    subscription = delivery.subscription
    if not subscription.is_active:
        delivery.status, delivery.failed_at, delivery.next_attempt_at = (
            DeliveryStatus.FAILED,
            now,
            None,
        )
        delivery.last_error = DISABLED
        delivery.save(update_fields=["status", "failed_at", "next_attempt_at", "last_error"])
        return None
    delivery.status, delivery.claimed_at = DeliveryStatus.SENDING, now
    delivery.attempts += 1
    delivery.save(update_fields=["status", "claimed_at", "attempts"])
    return Job(
        delivery_id=delivery.pk,
        subscription_id=subscription.pk,
        message_id=delivery.message_id,
        url=subscription.url,
        secrets=signing_secrets(subscription, now),
        body=delivery.event.body.encode(),
        attempt=delivery.attempts,
    )


def signing_secrets(subscription: Subscription, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while a rotation lets it live."""
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        return (subscription.secret, subscription.previous_secret)
    return (subscription.secret,)


def post(job: Job) -> Outcome:
    """The HTTP exchange, through integrations.outbound (the SSRF guard); never raises."""
    timestamp = int(time.time())
    headers = signing.delivery_headers(
        job.secrets, message_id=job.message_id, timestamp=timestamp, body=job.body
    )
    started = time.monotonic()
    try:
        response = outbound.fetch(
            "POST",
            job.url,
            headers=headers,
            body=job.body,
            timeout_s=TIMEOUT_S,
            max_bytes=MAX_RESPONSE_BYTES,
            max_redirects=0,
        )
    except outbound.OutboundError as error:
        return Outcome(None, _elapsed_ms(started), _failure_text(error))
    latency = _elapsed_ms(started)
    if response.ok:
        return Outcome(response.status, latency)
    retry_after = None
    if response.status in schedule.RETRY_AFTER_STATUSES:
        retry_after = schedule.parse_retry_after(response.header("retry-after"))
    text = f"HTTP {response.status} {response.reason}".strip()
    return Outcome(response.status, latency, text, retry_after)


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _failure_text(error: outbound.OutboundError) -> str:
    if error.code == "too_many_redirects":
        return "the endpoint answered with a redirect (redirects are not followed)"
    return error.message[:300]  # our own short text (outbound never passes on the remote's)


def delivery_record(*, job: Job, outcome: Outcome, started_at: datetime) -> Result:
    """Log the attempt and move the delivery on: delivered, retried later, or failed."""
    now = timezone.now()
    delivery = Delivery.objects.select_for_update().get(pk=job.delivery_id)
    current = delivery.status == DeliveryStatus.SENDING and delivery.attempts == job.attempt
    if not current and not (outcome.ok and delivery.status != DeliveryStatus.SUCCEEDED):
        # The sweep gave this attempt up for lost and another has started: history only.
        _log(delivery, job.attempt, started_at, outcome, None)
        return Result(delivery.pk, delivery.status)
    return _apply(delivery, job.attempt, started_at, outcome, now)


def _apply(
    delivery: Delivery, number: int, started_at: datetime, outcome: Outcome, now: datetime
) -> Result:
    retry_in: timedelta | None = None
    delivery.last_status_code = outcome.status_code
    delivery.last_latency_ms = outcome.latency_ms
    delivery.last_error = outcome.error[:300]
    delivery.claimed_at = None
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED,
            now,
            None,
        )
    elif outcome.status_code == GONE:
        delivery.status, delivery.failed_at, delivery.next_attempt_at = (
            DeliveryStatus.FAILED,
            now,
            None,
        )
        _disable_gone(delivery.subscription_id, now)
    else:
        delivery.step += 1
        retry_in = schedule.retry_delay(delivery.step, retry_after_s=outcome.retry_after_s)
        if retry_in is None:
            delivery.status, delivery.failed_at, delivery.next_attempt_at = (
                DeliveryStatus.FAILED,
                now,
                None,
            )
        else:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + retry_in
    delivery.save()
    _log(delivery, number, started_at, outcome, delivery.next_attempt_at)
    seconds = retry_in.total_seconds() if retry_in is not None else None
    return Result(delivery.pk, delivery.status, seconds)


def _log(
    delivery: Delivery,
    number: int,
    started_at: datetime,
    outcome: Outcome,
    next_attempt_at: datetime | None,
) -> None:
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error[:300],
        retry_after_s=outcome.retry_after_s,
        next_attempt_at=next_attempt_at,
    )


def _disable_gone(subscription_id: int, now: datetime) -> None:
    changed = Subscription.objects.filter(pk=subscription_id, is_active=True).update(
        is_active=False,
        disabled_reason="the endpoint answered 410 Gone",
        disabled_at=now,
        updated_at=now,
    )
    if changed:
        logger.info("webhooks: subscription %s disabled (410 Gone)", subscription_id)
        audit_record(
            action="webhook.disable",
            target_type="webhook",
            target_id=subscription_id,
            changes={"is_active": False, "reason": "410 Gone"},
        )


def deliveries_recover_stale(*, stale_after_s: float = STALE_AFTER_S, limit: int = 500) -> int:
    """Count attempts whose worker died as failed, so the schedule retries them (same id)."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                status=DeliveryStatus.SENDING,
                claimed_at__lt=now - timedelta(seconds=stale_after_s),
            )
            .order_by("pk")[:limit]
        )
        for delivery in stale:
            started = delivery.claimed_at or now
            _apply(delivery, delivery.attempts, started, Outcome(None, None, WORKER_LOST), now)
    if stale:
        logger.warning("webhooks: %d deliveries lost their worker; retrying them", len(stale))
    return len(stale)

"""Partner webhooks out: who listens (Subscription), what happened (WebhookEvent, the outbox),
each event's trip to each listener (Delivery) and every try of it (DeliveryAttempt).

An event and its deliveries are written in the transaction of the change they report, so a
change that commits has its deliveries and one that rolls back has none. A delivery's
``message_id`` is the ``webhook-id`` header: the same on every attempt and every replay, so a
receiver that saw it once can drop a repeat.
"""

from __future__ import annotations

import base64
import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.timezone import now

from tenancy.models import ApiKey, TenantOwned, User


class EventType(models.TextChoices):
    """What a subscription can listen to (the contract of issue 14: fixed names)."""

    SHIPMENT_CREATED = "shipment.created", "A shipment was created"
    SHIPMENT_UPDATED = "shipment.updated", "A shipment's status, ETA or milestones changed"
    SHIPMENT_DELIVERED = "shipment.delivered", "A shipment was delivered"
    MILESTONE_REACHED = "milestone.reached", "A milestone of a shipment was reached"
    ETA_CHANGED = "eta.changed", "A shipment's ETA changed"
    EXCEPTION_OPENED = "exception.opened", "An exception was opened on a shipment"
    EXCEPTION_RESOLVED = "exception.resolved", "An exception was resolved"
    DOCUMENT_ADDED = "document.added", "A document was added to a shipment"


# Sent only to the subscription they name, whatever its event types.
TEST_EVENT = "webhook.test"
RULE_EVENT = "rule.fired"


def new_signing_secret() -> str:
    """Standard Webhooks' form: ``whsec_`` + base64 of 32 random bytes (the HMAC key)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


class Subscription(TenantOwned):
    """A partner's endpoint and the event types it wants, signed with its own secret.

    ``customer_account_ids`` is the customer scope of whoever created it (empty: every
    account): a subscription made with a key limited to customer accounts receives only
    events of those accounts' shipments. ``sent_by_key`` is that key: such keys see only the
    subscriptions they made (``tenancy.api.base.SENT_BY_CALLER``).
    """

    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=40), default=list)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=100, default=new_signing_secret)
    # During a rotation deliveries carry a signature with each secret, until this time.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    customer_account_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    sent_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Since when this subscription has listened without a break (created, or re-enabled).
    watching_since = models.DateTimeField(default=now)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "is_active"])]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"


class WebhookEvent(TenantOwned):
    """The outbox: one row per event, its body rendered once (every delivery sends exactly
    these bytes). ``key`` makes recording idempotent where the source can replay (a
    document processed again, a rule firing run twice)."""

    type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField(default=now)
    body = models.TextField()
    key = models.CharField(max_length=200, blank=True)
    shipment_id = models.BigIntegerField(null=True, blank=True)
    customer_account_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key"],
                condition=~models.Q(key=""),
                name="webhook_event_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.pk})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its next attempt"
    SENDING = "sending", "An attempt is under way"
    SUCCEEDED = "succeeded", "Delivered (2xx)"
    FAILED = "failed", "Given up (can be replayed)"


class Delivery(TenantOwned):
    """One event on its way to one subscription."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # Position in the retry schedule of the current round (a replay starts a new round).
    step = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "status", "next_attempt_at"]),
            models.Index(fields=["subscription", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class DeliveryAttempt(TenantOwned):
    """One try: what answered (the status code only: nothing the remote sent is kept), how
    long it took, our own short text for a failure, and what was decided next."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    retry_after_s = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        indexes = [models.Index(fields=["delivery", "number"])]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"


class ShipmentState(TenantOwned):
    """What the webhooks last reported of a shipment: the "before" a timeline change is
    compared with (the timeline hook runs after the cache is written). Kept only while the
    tenant has subscriptions to shipment events; ``actuals`` maps milestone code -> the id
    of the event that is its actual."""

    shipment = models.OneToOneField(
        "shipments.Shipment", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    status = models.CharField(max_length=20)
    eta = models.DateTimeField(null=True, blank=True)
    is_late = models.BooleanField(default=False)
    actuals = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"state of shipment {self.shipment_id}"

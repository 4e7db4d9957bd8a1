"""Notifications: who wants to hear what (preferences), what we say (templates), and the
delivery record of every message sent (queued -> sending -> sent -> delivered | failed)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from tenancy.models import CustomerAccount, TenantOwned, User


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"
    # Delivered by the partner API issue (a "webhook" sender registers itself then).
    WEBHOOK = "webhook", "Partner webhook"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent (accepted by the provider)"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Not sent (opted out)"


FINAL_STATUSES = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})


class NotificationPreference(TenantOwned):
    """One recipient's wishes: for a customer account (its contact) or for one tracking
    number (the consignee of that parcel). A tracking-number row also records the account of
    its shipment (``customer_account``), so customer callers see exactly their accounts' rows.

    ``<channel>_milestones``: the milestones that channel is for; empty means every milestone.
    Quiet hours are local times in ``timezone`` (the tenant's when empty); a window may wrap
    midnight (21:00-07:00)."""

    customer_account = models.ForeignKey(
        CustomerAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tracking_number = models.CharField(max_length=80, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)  # E.164
    locale = models.CharField(max_length=16, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    email_enabled = models.BooleanField(default=False)
    sms_enabled = models.BooleanField(default=False)
    in_app_enabled = models.BooleanField(default=True)
    email_milestones = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    sms_milestones = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer_account"],
                condition=Q(tracking_number=""),
                name="notification_pref_account_uniq",
            ),
            models.UniqueConstraint(
                fields=["tenant", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="notification_pref_tracking_uniq",
            ),
            models.CheckConstraint(
                condition=~Q(tracking_number="") | Q(customer_account__isnull=False),
                name="notification_pref_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"preferences of {self.tracking_number or f'account {self.customer_account_id}'}"


class NotificationTemplate(TenantOwned):
    """A tenant's own wording for one topic, channel and locale (else the built-in default,
    integrations.notifications.templates). Placeholders: ``{{ name }}``, see PLACEHOLDERS."""

    topic = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    locale = models.CharField(max_length=16)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["topic", "channel", "locale"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "topic", "channel", "locale"], name="notification_template_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic}/{self.channel}/{self.locale}"


class Notification(TenantOwned):
    """One message to one recipient on one channel, and what became of it.

    ``idempotency_key`` is unique per tenant: a replayed rule firing (same firing, channel and
    recipient) finds its row and sends nothing again. In-app notifications are stored for a
    user and are delivered by being stored."""

    shipment = models.ForeignKey(
        "shipments.Shipment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    preference = models.ForeignKey(
        NotificationPreference, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    topic = models.CharField(max_length=40)
    locale = models.CharField(max_length=16)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    cause = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    provider = models.CharField(max_length=40, blank=True)
    provider_message_id = models.CharField(max_length=120, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    send_after = models.DateTimeField(default=now)  # quiet hours and retries move it on
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="notification_idempotency_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="notification_recent_idx"),
            models.Index(
                fields=["tenant", "user", "-created_at"],
                name="notification_inbox_idx",
                condition=Q(user__isnull=False),
            ),
            # The dispatcher's sweep: what is waiting and due.
            models.Index(
                fields=["send_after"],
                name="notification_due_idx",
                condition=Q(status__in=["queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"

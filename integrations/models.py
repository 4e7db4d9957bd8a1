"""Inbound integrations: partner connections, stored raw messages, dead letters, held events."""

from __future__ import annotations

import base64
import secrets
import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.timezone import now

from tenancy.models import TenantOwned


def new_integration_secret() -> str:
    """32 random bytes, base64: the HMAC key partners sign webhooks with."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class IntegrationKind(models.TextChoices):
    X12 = "x12", "ANSI X12 214"
    EDIFACT = "edifact", "EDIFACT IFTSTA"
    DCSA = "dcsa", "DCSA Track & Trace"
    EPCIS = "epcis", "GS1 EPCIS"
    CSV = "csv", "CSV"
    JSON = "json", "JSON"
    SCAN = "scan", "Scan"
    MANUAL = "manual", "Manual"


class Integration(TenantOwned):
    """One partner connection; its ``token`` appears in the webhook URL, its secret signs it."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=IntegrationKind.choices)
    partner_name = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    secret = models.TextField(default=new_integration_secret)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def source_name(self) -> str:
        return f"{self.kind}:{self.partner_name or self.name}"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    UPLOAD = "upload", "Upload"
    INBOX = "inbox", "Inbox"
    POLL = "poll", "Poll"
    SCAN = "scan", "Scan"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    PARTIALLY_FAILED = "partially_failed", "Partially failed"
    DEAD = "dead", "Dead"
    DUPLICATE = "duplicate", "Duplicate"


FINAL_STATUSES = frozenset(
    {MessageStatus.PROCESSED, MessageStatus.PARTIALLY_FAILED, MessageStatus.DUPLICATE}
)


class InboundMessage(TenantOwned):
    """The raw bytes as received, stored before anything is parsed."""

    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    received_at = models.DateTimeField(default=now)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=12, blank=True)
    format_hint = models.CharField(max_length=12, blank=True)
    events_parsed = models.PositiveIntegerField(default=0)
    events_applied = models.PositiveIntegerField(default=0)
    events_held = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "received_at"], name="inbound_status_idx"),
            models.Index(fields=["tenant", "sha256"], name="inbound_sha_idx"),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} ({self.channel}, {self.status})"


class DeadLetter(TenantOwned):
    """Something of a message that could not be applied, for ops to fix and replay."""

    message = models.ForeignKey(
        InboundMessage, on_delete=models.CASCADE, related_name="dead_letters"
    )
    reason = models.TextField()
    # intake (rejected at the door: never replayed), parse, mapping, or task (gave up).
    stage = models.CharField(max_length=10, default="parse")
    position = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "resolved_at", "created_at"])]

    def __str__(self) -> str:
        return f"Dead letter {self.pk}: {self.reason[:60]}"


class HeldEvent(TenantOwned):
    """A parsed event whose references match no shipment yet; applied when one appears."""

    message = models.ForeignKey(InboundMessage, on_delete=models.CASCADE, related_name="held")
    references = ArrayField(models.CharField(max_length=120), default=list)
    dedupe_key = models.CharField(max_length=128)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "message", "dedupe_key"], name="held_event_uniq"
            )
        ]
        indexes = [GinIndex(fields=["references"], name="held_event_refs_gin")]

    def __str__(self) -> str:
        return f"Held {self.dedupe_key[:16]} ({', '.join(self.references[:3])})"

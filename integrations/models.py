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


class PollAdapter(models.TextChoices):
    DCSA_V2 = "dcsa_v2", "DCSA Track & Trace 2.2 (GET /events)"
    SIMULATED = "simulated", "Simulated carrier (demo)"


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
    # Polling (carrier APIs on a schedule): which adapter, its settings and where it left off.
    poll_adapter = models.CharField(max_length=20, choices=PollAdapter.choices, blank=True)
    poll_config = models.JSONField(default=dict, blank=True)
    poll_cursor = models.TextField(blank=True)
    poll_interval_s = models.PositiveIntegerField(default=300)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_poll_error = models.TextField(blank=True)
    # CSV/JSON feeds: column or JSON path -> reference, milestone code, time, zone, location.
    feed_mapping = models.JSONField(default=dict, blank=True)
    # Partners who deliver files into a watched folder (settings.INGEST_INBOX_ROOT).
    inbox_enabled = models.BooleanField(default=False)

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
    POSITION = "position", "Position pings"
    DOCUMENT = "document", "Document"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    PARTIALLY_FAILED = "partially_failed", "Partially failed"
    DEAD = "dead", "Dead"
    DUPLICATE = "duplicate", "Duplicate"


# A message in one of these is done: processing it again needs an explicit replay (force).
FINISHED_STATUSES = frozenset(
    {
        MessageStatus.PROCESSED,
        MessageStatus.PARTIALLY_FAILED,
        MessageStatus.DUPLICATE,
        MessageStatus.DEAD,
    }
)


class InboundMessage(TenantOwned):
    """The raw bytes as received, stored before anything is parsed."""

    # What processing records on the message (each channel's processor writes these).
    OUTCOME_FIELDS = (
        "status",
        "format",
        "events_parsed",
        "events_applied",
        "events_held",
        "last_error",
        "processed_at",
    )

    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    # The partner API key that sent it: a key limited to customer accounts sees only its own
    # messages, and its events reach only those accounts' shipments.
    sent_by_key = models.ForeignKey(
        "tenancy.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    attempts = models.PositiveIntegerField(default=0)  # deliveries to a worker, counted first
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=12, blank=True)
    format_hint = models.CharField(max_length=12, blank=True)
    events_parsed = models.PositiveIntegerField(default=0)
    events_applied = models.PositiveIntegerField(default=0)
    events_held = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Someone is waiting to see it (one shipment's events from the API, a driver's scan): it
    # goes to the interactive queue (settings.CELERY_INTERACTIVE_QUEUE) and is processed on
    # its own, never taken into a bulk worker's batch (integrations.tasks).
    interactive = models.BooleanField(default=False)

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


class IngestPolicy(TenantOwned):
    """Per-tenant ingestion settings."""

    # A document's proposed update is applied without ops confirmation at or above this.
    document_auto_apply_threshold = models.FloatField(default=0.95)
    arriving_soon_m = models.PositiveIntegerField(default=5000)
    default_stop_radius_m = models.PositiveIntegerField(default=300)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="ingest_policy_uniq")]

    def __str__(self) -> str:
        return f"Ingest policy of tenant {self.tenant_id}"


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", "Photo"
    SIGNATURE = "signature", "Signature"
    DOCUMENT = "document", "Document"


class Attachment(TenantOwned):
    """A file that came with a message: scan photo, signature, uploaded document."""

    message = models.ForeignKey(
        InboundMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=10, choices=AttachmentKind.choices)
    file = models.FileField(upload_to="attachments/%Y/%m/")
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.kind} of message {self.message_id}"


class PositionPing(TenantOwned):
    """One GPS position: the trail of a shipment or vehicle."""

    message = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shipment = models.ForeignKey(
        "shipments.Shipment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    vehicle_ref = models.CharField(max_length=60, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    at = models.DateTimeField()
    received_at = models.DateTimeField(default=now)
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    accuracy_m = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=20, default="telematics")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "shipment", "at"], name="ping_shipment_idx"),
            models.Index(fields=["tenant", "vehicle_ref", "at"], name="ping_vehicle_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lat:.5f},{self.lon:.5f} at {self.at:%H:%M}"


class LatestPosition(TenantOwned):
    """The newest position per shipment and per vehicle (one row each, upserted)."""

    subject_kind = models.CharField(max_length=10)  # "shipment" | "vehicle"
    subject = models.CharField(max_length=60)
    shipment = models.ForeignKey(
        "shipments.Shipment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    vehicle_ref = models.CharField(max_length=60, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "subject_kind", "subject"], name="latest_position_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_kind} {self.subject} @ {self.lat:.4f},{self.lon:.4f}"


class StopState(models.TextChoices):
    OUTSIDE = "outside", "Not reached"
    APPROACHING = "approaching", "Arriving soon"
    INSIDE = "inside", "At stop"
    LEFT = "left", "Left"


class Stop(TenantOwned):
    """A geofenced stop of a shipment: entering records arrival, leaving records departure."""

    shipment = models.ForeignKey(
        "shipments.Shipment", on_delete=models.CASCADE, related_name="stops"
    )
    sequence = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=120)
    lat = models.FloatField()
    lon = models.FloatField()
    radius_m = models.PositiveIntegerField(default=300)
    arriving_soon_m = models.PositiveIntegerField(default=5000)
    # The place the stop is at (a registry place or one of the tenant's), when known.
    place = models.ForeignKey(
        "places.Place", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tenant_place = models.ForeignKey(
        "places.TenantPlace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    arrive_milestone = models.CharField(max_length=40, default="arrived")
    depart_milestone = models.CharField(max_length=40, default="departed")
    state = models.CharField(max_length=12, choices=StopState.choices, default=StopState.OUTSIDE)
    approaching_at = models.DateTimeField(null=True, blank=True)
    entered_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["shipment_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "sequence"], name="stop_sequence_uniq")
        ]

    def __str__(self) -> str:
        return f"Stop {self.sequence} {self.name}"


class ProposalStatus(models.TextChoices):
    PENDING = "pending", "Waiting for ops"
    APPLIED = "applied", "Applied by ops"
    AUTO_APPLIED = "auto_applied", "Applied automatically"
    REJECTED = "rejected", "Rejected"


class ProposedUpdate(TenantOwned):
    """What a document seems to prove, waiting for ops to confirm (or applied if confident)."""

    message = models.ForeignKey(InboundMessage, on_delete=models.CASCADE, related_name="proposals")
    attachment = models.ForeignKey(
        Attachment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shipment = models.ForeignKey(
        "shipments.Shipment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    document_type = models.CharField(max_length=30, blank=True)
    references = models.JSONField(default=list, blank=True)
    milestone = models.CharField(max_length=40, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    confidence = models.FloatField(default=0)
    extracted_text = models.TextField(blank=True)
    fields = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    decided_by = models.ForeignKey(
        "tenancy.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.document_type or 'document'}: {self.milestone} ({self.status})"

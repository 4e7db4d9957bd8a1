from __future__ import annotations

import secrets

from django.db import models
from django.utils.timezone import now

from milestones.models import Mode, TemplateVersion
from shipments.places.models import Place, TenantPlace
from tenancy.models import CustomerAccount, Tenant, TenantOwned, User


def _place() -> models.ForeignKey:
    """A pointer at a registry place (the text/code fields beside it keep what was sent)."""
    return models.ForeignKey(
        Place, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )


def _tenant_place() -> models.ForeignKey:
    """A pointer at one of the tenant's own places (a warehouse, a GLN, an address). No
    index: every index costs each cached-timeline update of the row, and tenant places are
    only ever deleted by hand."""
    return models.ForeignKey(
        TenantPlace,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )


class ReferenceKind(models.TextChoices):
    TRACKING_NUMBER = "tracking_number", "Tracking number"
    BILL_OF_LADING = "bill_of_lading", "Bill of lading"
    AIR_WAYBILL = "air_waybill", "Air waybill"
    CONTAINER = "container", "Container"
    BOOKING = "booking", "Booking"
    PURCHASE_ORDER = "purchase_order", "Purchase order"
    CUSTOMER_REFERENCE = "customer_reference", "Customer reference"
    SHIPMENT_ID = "shipment_id", "Shipment id"
    CONSIGNMENT = "consignment", "Consignment"
    TRANSPORT_DOCUMENT = "transport_document", "Transport document"
    SSCC = "sscc", "SSCC"
    # The shipment's own public id as a reference, so events sent to /shipments/{id}/events/
    # are matched by the pipeline like any other reference. Never shown, never accepted.
    MILEPOST = "milepost", "Milepost id"


# Crockford's base32, lower case: no i, l, o, u (nothing to misread, nothing rude).
PUBLIC_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
PUBLIC_ID_PREFIX = "shp_"


def new_public_id() -> str:
    """An opaque id: 80 random bits, so it says nothing of how many shipments exist."""
    return PUBLIC_ID_PREFIX + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(16))


class Shipment(TenantOwned):
    """A consignment followed through its milestones.

    The CACHED_TIMELINE_FIELDS are a cache of the computed timeline (rebuilt from events by
    shipments.services.timelines_refresh; ``timeline`` holds the compact summary of
    shipments.timeline.timeline_summary); the events are the truth.
    """

    CACHED_TIMELINE_FIELDS = (
        "status",
        "current_stage",
        "next_milestone",
        "eta",
        "progress_percent",
        "is_late",
        "timeline",
        "timeline_computed_at",
    )

    # Every query is tenant-scoped, so the (tenant, …) indexes below serve tenant lookups; a
    # separate tenant index (and one on status) only cost each timeline refresh an update.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, editable=False, related_name="+", db_index=False
    )
    # What the API calls the shipment; the integer pk stays internal (it counts shipments).
    public_id = models.CharField(max_length=24, default=new_public_id, editable=False)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    service = models.CharField(max_length=60, blank=True)
    carrier = models.CharField(max_length=120, blank=True)
    customer_account = models.ForeignKey(
        CustomerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipper_name = models.CharField(max_length=200, blank=True)
    consignee_name = models.CharField(max_length=200, blank=True)
    origin_locode = models.CharField(max_length=5, blank=True)
    origin_address = models.CharField(max_length=300, blank=True)
    origin_lat = models.FloatField(null=True, blank=True)
    origin_lon = models.FloatField(null=True, blank=True)
    destination_locode = models.CharField(max_length=5, blank=True)
    destination_address = models.CharField(max_length=300, blank=True)
    destination_lat = models.FloatField(null=True, blank=True)
    destination_lon = models.FloatField(null=True, blank=True)
    origin_place = _place()
    origin_tenant_place = _tenant_place()
    destination_place = _place()
    destination_tenant_place = _tenant_place()
    template_version = models.ForeignKey(
        TemplateVersion, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField()
    promised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    # Any change a partner may sync on: an edit, a cancellation, a recomputed timeline.
    updated_at = models.DateTimeField(default=now)

    status = models.CharField(max_length=20, default="booked")
    current_stage = models.CharField(max_length=40, blank=True)
    next_milestone = models.CharField(max_length=40, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    is_late = models.BooleanField(default=False)
    timeline = models.JSONField(default=dict, blank=True)
    timeline_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-booked_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "public_id"], name="shipment_public_id_uniq")
        ]
        # The API's lists (shipments.selectors.shipment_page) walk one of these in keyset order
        # (booked_at, public_id) and stop after a page: each filter's equality columns, then
        # the order with its tie-breaker, so the plan is an ordered index scan with a LIMIT
        # whatever the planner believes of the tenant's size (README, "List plans").
        indexes = [
            models.Index(fields=["tenant", "-booked_at", "-public_id"], name="shipment_page_idx"),
            models.Index(
                fields=["tenant", "status", "-booked_at", "-public_id"],
                name="shipment_status_idx",
            ),
            models.Index(
                fields=["tenant", "customer_account", "-booked_at", "-public_id"],
                name="shipment_customer_idx",
            ),
            models.Index(
                fields=["tenant", "status", "mode", "-booked_at", "-public_id"],
                name="shipment_status_mode_idx",
            ),
            models.Index(
                fields=["tenant", "mode", "-booked_at", "-public_id"], name="shipment_mode_idx"
            ),
            models.Index(
                fields=["tenant", "carrier", "-booked_at", "-public_id"],
                name="shipment_carrier_idx",
            ),
            models.Index(
                fields=["tenant", "-booked_at", "-public_id"],
                name="shipment_late_idx",
                condition=models.Q(is_late=True),
            ),
            models.Index(fields=["tenant", "updated_at", "public_id"], name="shipment_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"Shipment {self.public_id}"


class ShipmentReference(TenantOwned):
    """Any of these identifies the shipment to an inbound event; unique per tenant and kind."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="references")
    kind = models.CharField(max_length=24, choices=ReferenceKind.choices)
    value = models.CharField(max_length=80)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "value"], name="reference_uniq")
        ]
        indexes = [models.Index(fields=["tenant", "value"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class LegSegment(models.TextChoices):
    FIRST_MILE = "first_mile", "First mile"
    MIDDLE_MILE = "middle_mile", "Middle mile"
    LAST_MILE = "last_mile", "Last mile"


class Leg(TenantOwned):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="legs")
    sequence = models.PositiveSmallIntegerField()
    segment = models.CharField(max_length=12, choices=LegSegment.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    carrier = models.CharField(max_length=120, blank=True)
    origin_locode = models.CharField(max_length=5, blank=True)
    destination_locode = models.CharField(max_length=5, blank=True)
    origin_place = _place()
    origin_tenant_place = _tenant_place()
    destination_place = _place()
    destination_tenant_place = _tenant_place()
    planned_departure = models.DateTimeField(null=True, blank=True)
    planned_arrival = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["shipment_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "sequence"], name="leg_sequence_uniq")
        ]

    def __str__(self) -> str:
        return f"Leg {self.sequence} ({self.segment})"


class LinkKind(models.TextChoices):
    CONSOLIDATION = "consolidation", "Consolidation"
    FIRST_MILE_LOAD = "first_mile_load", "First-mile load"
    LINEHAUL = "linehaul", "Linehaul"


class ShipmentLink(TenantOwned):
    """The child waits on the parent: a delay of ``parent_milestone`` shifts ``child_milestone``."""

    parent = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="child_links")
    child = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="parent_links")
    kind = models.CharField(max_length=20, choices=LinkKind.choices)
    parent_milestone = models.CharField(max_length=40, default="departed")
    child_milestone = models.CharField(max_length=40, default="departed")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="shipment_link_uniq"),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("child")), name="shipment_link_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"


class Classifier(models.TextChoices):
    ACTUAL = "ACT", "Actual"
    ESTIMATED = "EST", "Estimated"
    PLANNED = "PLN", "Planned"


class SourceKind(models.TextChoices):
    INTEGRATION = "integration", "Integration"
    PARTNER = "partner", "Partner"
    USER = "user", "User"
    SYSTEM = "system", "System"


class TrackingEvent(TenantOwned):
    """One immutable fact about a shipment. Never updated (a trigger refuses UPDATE);
    corrections are new events that supersede or void earlier ones."""

    # Index budget: this is the big table (10M rows per tenant), every index costs each insert.
    # tenant and shipment are served by the unique (tenant, shipment, dedupe_key) index.
    # No database foreign key either: row-level security's WITH CHECK already pins every row
    # to the tenant of the transaction, and the per-row check cost ~8 µs per event.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        editable=False,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Checked per INSERT statement by a trigger instead of per row (migration 0004): a row-level
    # foreign key check cost as much as the insert itself at ingest volumes.
    shipment = models.ForeignKey(
        Shipment,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    milestone = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    classifier = models.CharField(max_length=3, choices=Classifier.choices)
    location = models.CharField(max_length=120, blank=True)
    source_kind = models.CharField(max_length=12, choices=SourceKind.choices)
    source_name = models.CharField(max_length=120)
    raw_code = models.CharField(max_length=40, blank=True)
    dedupe_key = models.CharField(max_length=128)
    recorded_at = models.DateTimeField(default=now)
    # The source's own issue time of the report (DCSA eventCreatedDateTime, X12/EDIFACT message
    # date); null when the source gives none. Among one source's estimates the newest issued
    # wins, so a replayed old message can not override a newer estimate (milestones.engine).
    issued_at = models.DateTimeField(null=True, blank=True)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    voids = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    inbound_message_id = models.BigIntegerField(null=True, blank=True)
    tz_unknown = models.BooleanField(default=False)
    details = models.JSONField(default=dict, blank=True)
    # Where it happened, resolved from ``location`` (kept as sent) by the pipeline. No
    # database constraint or index, like shipment above: places are never deleted, events
    # never updated, and each check would cost every insert.
    place = models.ForeignKey(
        Place,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    tenant_place = models.ForeignKey(
        TenantPlace,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "shipment", "dedupe_key"], name="event_dedupe_uniq"
            )
        ]
        # The unique index above serves "events of one shipment" (its leading columns).
        indexes = [
            models.Index(fields=["tenant", "recorded_at"], name="event_recorded_idx"),
            models.Index(
                fields=["tenant", "inbound_message_id"],
                name="event_message_idx",
                condition=models.Q(inbound_message_id__isnull=False),
            ),
            models.Index(
                fields=["supersedes"],
                name="event_supersedes_idx",
                condition=models.Q(supersedes__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.milestone} {self.classifier} {self.occurred_at:%Y-%m-%d %H:%M}"


class DeferredHooks(TenantOwned):
    """A shipment whose timeline changed while its heavier hooks (exceptions, rules, webhooks,
    billing, routes) were left for right after the commit (shipments.services
    ``timeline_hooks_deferred``). Written in the changing transaction, deleted by the
    transaction that runs them: a crash in between leaves the row, and the beat sweep
    (``shipments.run_deferred_hooks``) runs them. At most one row a shipment."""

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "since"], name="deferred_hooks_since_idx")]

    def __str__(self) -> str:
        return f"hooks of {self.shipment_id} since {self.since:%H:%M:%S}"

"""Exceptions: what went wrong with a shipment (or a feed), its lifecycle, the thresholds that
decide when a problem is one, and the deadlines the sweep watches.

* ``ShipmentException``: one open row per shipment + type + milestone (+ integration for a
  stale feed), a partial unique index (``status <> 'resolved'``) makes re-detection an upsert.
* ``ExceptionThreshold``: a tenant's override of the defaults in code
  (``integrations.exceptions.thresholds.DEFAULTS``), optionally per template, milestone and
  customer account; the most specific matching row wins.
* ``Deadline``: the narrow table the beat sweep reads instead of 1M timeline documents: per
  active shipment, each pending time-driven cause (a milestone due, the time a customs hold
  becomes too long, the time a shipment goes dark, …) with the times its severity rises.
  Rewritten for a shipment on every change of its timeline (``detection``).
* ``PlannedCorridor`` / ``CorridorPoint``: the planned polyline a vehicle follows (a route's
  start, then its stops in the planned order) and the shipments it carries; route deviation
  measures a position against its legs (else against the origin→destination line). Written
  by ``services.corridor_publish`` from whoever plans (portal.routing, when a route is
  sequenced or re-ordered): this layer knows no route, only the polyline.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.timezone import now

from milestones.models import MilestoneTemplate
from shipments.models import PUBLIC_ID_ALPHABET, Shipment
from tenancy.models import CustomerAccount, Role, Tenant, TenantOwned, User

PUBLIC_ID_PREFIX = "exc_"


def new_public_id() -> str:
    return PUBLIC_ID_PREFIX + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(16))


class ExceptionType(models.TextChoices):
    MISSED_MILESTONE = "missed_milestone", "Missed milestone"
    DELAYED_DEPARTURE = "delayed_departure", "Delayed departure"
    CUSTOMS_HOLD = "customs_hold", "Customs hold too long"
    LONG_DWELL = "long_dwell", "Long dwell at a location"
    DARK_SHIPMENT = "dark_shipment", "No tracking (dark shipment)"
    STALE_FEED = "stale_feed", "Integration gone quiet"
    PREDICTED_LATE = "predicted_late", "Predicted late delivery"
    SEQUENCE_VIOLATION = "sequence_violation", "Milestones out of sequence"
    ROUTE_DEVIATION = "route_deviation", "Off the planned route"
    CASCADE = "cascade", "Delayed by a parent shipment"


class Severity(models.TextChoices):
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class ExceptionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"


UNRESOLVED = (ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED, ExceptionStatus.ASSIGNED)


class ShipmentException(TenantOwned):
    # Index budget: the sweep opens and resolves these in bulk; every lookup is by tenant
    # first, so the (tenant, …) indexes below serve tenant and shipment alike. No database
    # foreign key to the tenant (like Deadline's): row-level security pins every row to the
    # transaction's tenant, and the deferred per-row check ran once per opened exception at
    # commit (80,000 of them in the sweep benchmark).
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        editable=False,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    public_id = models.CharField(max_length=24, default=new_public_id, editable=False)
    type = models.CharField(max_length=24, choices=ExceptionType.choices)
    # No database constraint (Django cascades deletes; row-level security pins the tenant):
    # its deferred per-row check, or an index for the shipments' delete checks, cost the
    # bulk opens and resolves.
    shipment = models.ForeignKey(
        Shipment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # A stale feed is about an integration, not a shipment.
    integration = models.ForeignKey(
        "integrations.Integration",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    milestone = models.CharField(max_length=40, blank=True, default="")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MINOR)
    status = models.CharField(
        max_length=12, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN
    )
    opened_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    assignee_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    assignee_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    auto_resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "shipment", "type", "milestone", "integration"],
                condition=~models.Q(status="resolved"),
                nulls_distinct=False,
                name="exception_one_open",
            ),
            models.UniqueConstraint(fields=["tenant", "public_id"], name="exception_public_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "type", "severity"],
                condition=~models.Q(status="resolved"),
                name="exception_queue_idx",
            ),
            models.Index(fields=["tenant", "-opened_at"], name="exception_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.milestone or ''} ({self.status})"


class ExceptionThreshold(TenantOwned):
    """When a cause becomes an exception (``after_minutes``; for route deviation kilometres)
    and when it becomes major / critical. Blank scope fields match everything."""

    type = models.CharField(max_length=24, choices=ExceptionType.choices)
    template = models.ForeignKey(
        MilestoneTemplate, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    milestone = models.CharField(max_length=40, blank=True, default="")
    customer_account = models.ForeignKey(
        CustomerAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    after_minutes = models.PositiveIntegerField()
    major_minutes = models.PositiveIntegerField()
    critical_minutes = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "type", "template", "milestone", "customer_account"],
                nulls_distinct=False,
                name="exception_threshold_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.after_minutes} min"


class Deadline(TenantOwned):
    """A pending time-driven cause of one active shipment (see the module docstring)."""

    # Index budget: rewritten per shipment on every applied batch; the shipment index serves
    # the rewrite, the due index the sweep. No database foreign keys (like TrackingEvent's):
    # row-level security pins every row to the transaction's tenant, and a deferred per-row
    # check cost every batch (and 80 s for the benchmark's 10M rows) at commit.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        editable=False,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    type = models.CharField(max_length=24, choices=ExceptionType.choices)
    milestone = models.CharField(max_length=40, blank=True, default="")
    due_at = models.DateTimeField()  # the cause is an exception from then on
    major_at = models.DateTimeField()
    critical_at = models.DateTimeField()
    basis_at = models.DateTimeField()  # what lateness is measured from (the planned deadline)

    class Meta:
        # (tenant, due_at) covering what the sweep reads: its due range and the floor count
        # are index-only scans. Without the included columns the sweep fetched the heap page
        # of every due row: at 10M rows (1 due in 50) that is most of the table's pages.
        indexes = [
            models.Index(
                fields=["tenant", "due_at"],
                include=["shipment", "type", "milestone", "basis_at", "major_at", "critical_at"],
                name="deadline_due_cover_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.milestone} due {self.due_at:%Y-%m-%d %H:%M}"


class PlannedCorridor(TenantOwned):
    """A planned polyline (see the module docstring), named by its planner's ``key`` (e.g.
    ``route:<id>``); ``vehicle_ref`` is the subject whose positions follow it."""

    key = models.CharField(max_length=60)
    vehicle_ref = models.CharField(max_length=60, blank=True)
    planned_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="corridor_key_uniq")]

    def __str__(self) -> str:
        return f"corridor {self.key}"


class CorridorPoint(TenantOwned):
    """Vertex ``sequence`` of a corridor (0 = where it starts); ``shipment`` is the stop's
    shipment (none for the start). Consecutive vertices are the corridor's legs."""

    corridor = models.ForeignKey(PlannedCorridor, on_delete=models.CASCADE, related_name="points")
    sequence = models.PositiveIntegerField()
    lat = models.FloatField()
    lon = models.FloatField()
    # No database constraint, like Deadline's: the corridor is replaced whole when re-planned.
    shipment = models.ForeignKey(
        Shipment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        ordering = ["corridor_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["corridor", "sequence"], name="corridor_point_sequence_uniq"
            )
        ]
        # The sweep finds a shipment's corridor by the shipment.
        indexes = [
            models.Index(
                fields=["tenant", "shipment"],
                condition=models.Q(shipment__isnull=False),
                name="corridor_point_shipment_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.corridor_id}#{self.sequence} @ {self.lat:.4f},{self.lon:.4f}"

"""Workflow: tenant rules (when → for which shipments → then actions), the log of their
firings (idempotent by key), tasks for people, and the tags rules set on shipments."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from integrations.exceptions.models import ShipmentException
from shipments.models import Shipment
from tenancy.models import Role, TenantOwned, User


class Trigger(models.TextChoices):
    MILESTONE_REACHED = "milestone_reached", "Milestone reached"
    MILESTONE_MISSED = "milestone_missed", "Milestone missed"
    EXCEPTION_OPENED = "exception_opened", "Exception opened"
    EXCEPTION_RESOLVED = "exception_resolved", "Exception resolved"
    STATUS_BECOMES = "status_becomes", "Status becomes"
    ETA_MOVED_MINUTES = "eta_moved_minutes", "ETA moves by more than N minutes"


class Rule(TenantOwned):
    """``when``: the trigger with its parameter (``milestone``, ``exception_type``, ``status``
    or ``minutes``); ``filters``: mode, customer (account id), origin, destination (UN/LOCODE),
    carrier, tag; ``actions``: ``[{"type": <registered action>, "config": {...}}]``, each
    config validated by its action on save (integrations.workflow.services.rule_save)."""

    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    when = models.JSONField(default=dict, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "trigger"],
                condition=models.Q(is_active=True),
                name="rule_active_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class FiringStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Firing(TenantOwned):
    """One rule firing for one cause; ``key`` is unique, so a replay inserts nothing."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    exception = models.ForeignKey(
        ShipmentException,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    key = models.CharField(max_length=200)
    cause = models.JSONField(default=dict)
    status = models.CharField(
        max_length=8, choices=FiringStatus.choices, default=FiringStatus.PENDING
    )
    actions_done = models.JSONField(default=list, blank=True)  # indexes of actions that ran
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="firing_key_uniq")]
        indexes = [
            models.Index(
                fields=["status", "created_at"],
                condition=models.Q(status="pending"),
                name="firing_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.key}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


class Task(TenantOwned):
    title = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    exception = models.ForeignKey(
        ShipmentException, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    source = models.CharField(max_length=40, default="manual")
    # Set for tasks made by a rule action: "<firing>:<action index>", so a replay makes none.
    source_key = models.CharField(max_length=80, null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    done_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_key"], name="task_source_key_uniq")
        ]
        indexes = [
            models.Index(
                fields=["tenant", "due_at"],
                condition=models.Q(status="open"),
                name="task_open_due_idx",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ShipmentTag(TenantOwned):
    """A label on a shipment (set by rules, read by rule filters)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "shipment", "tag"], name="shipment_tag_uniq")
        ]

    def __str__(self) -> str:
        return self.tag


class EtaState(TenantOwned):
    """The last ETA the rules saw per shipment (only while an ETA rule exists)."""

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="+")
    eta = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.eta}"

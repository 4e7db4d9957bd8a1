from __future__ import annotations

from datetime import timedelta

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.timezone import now

from milestones import engine
from tenancy.models import TenantOwned, User


class Mode(models.TextChoices):
    OCEAN_FCL = "ocean_fcl", "Ocean FCL"
    OCEAN_LCL = "ocean_lcl", "Ocean LCL"
    AIR = "air", "Air"
    ROAD_FTL = "road_ftl", "Road FTL"
    ROAD_LTL = "road_ltl", "Road LTL"
    PARCEL = "parcel", "Parcel"
    LAST_MILE = "last_mile", "Last-mile delivery"
    FIRST_MILE = "first_mile", "First-mile pickup"
    MULTIMODAL = "multimodal", "Multimodal"


class MilestoneTemplate(TenantOwned):
    """A tenant's template for one shipment type and mode; its content lives in versions."""

    name = models.CharField(max_length=120)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    shipment_type = models.CharField(max_length=40, default="standard")
    is_default = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "mode", "shipment_type"], name="template_mode_type_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(TenantOwned):
    """Immutable once created: editing a template makes a new version."""

    template = models.ForeignKey(
        MilestoneTemplate, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"

    def engine_definitions(self) -> list[engine.MilestoneDef]:
        return [d.to_engine() for d in self.definitions.all()]


class MilestoneDefinition(TenantOwned):
    version = models.ForeignKey(
        TemplateVersion, on_delete=models.CASCADE, related_name="definitions"
    )
    code = models.CharField(max_length=40)
    labels = models.JSONField(default=dict)
    sequence = models.PositiveIntegerField()
    required = models.BooleanField(default=True)
    customer_visible = models.BooleanField(default=True)
    allowed_sources = ArrayField(models.CharField(max_length=16), default=list, blank=True)
    planned_anchor = models.CharField(max_length=40, blank=True)
    planned_offset = models.DurationField(null=True, blank=True)
    tolerance = models.DurationField(default=timedelta(0))
    triggers_billing = models.BooleanField(default=False)
    kind = models.CharField(max_length=16, default=engine.KIND_PROGRESS)
    # May legitimately happen again (delivery attempts, holds): the latest report is current.
    repeatable = models.BooleanField(default=False)

    class Meta:
        ordering = ["version_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="definition_code_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.code}"

    def to_engine(self) -> engine.MilestoneDef:
        planned = None
        if self.planned_anchor:
            planned = engine.PlannedRule(anchor=self.planned_anchor, offset=self.planned_offset)
        return engine.MilestoneDef(
            code=self.code,
            label=dict(self.labels),
            sequence=self.sequence,
            required=self.required,
            customer_visible=self.customer_visible,
            allowed_sources=frozenset(self.allowed_sources),
            planned=planned,
            tolerance=self.tolerance,
            triggers_billing=self.triggers_billing,
            kind=self.kind,
            repeatable=self.repeatable,
        )

    @classmethod
    def from_engine(cls, definition: engine.MilestoneDef, **fields) -> MilestoneDefinition:
        planned = definition.planned
        return cls(
            code=definition.code,
            labels=dict(definition.label),
            sequence=definition.sequence,
            required=definition.required,
            customer_visible=definition.customer_visible,
            allowed_sources=sorted(definition.allowed_sources),
            planned_anchor=planned.anchor if planned else "",
            planned_offset=planned.offset if planned else None,
            tolerance=definition.tolerance,
            triggers_billing=definition.triggers_billing,
            kind=definition.kind,
            repeatable=definition.repeatable,
            **fields,
        )


def default_source_priority() -> list[str]:
    return list(engine.DEFAULT_SOURCE_PRIORITY)


class TrackingPolicy(TenantOwned):
    """Per-tenant rule of which estimate source wins (see milestones.engine docstring)."""

    source_priority = ArrayField(models.CharField(max_length=16), default=default_source_priority)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="tracking_policy_uniq")]

    def __str__(self) -> str:
        return " > ".join(self.source_priority)

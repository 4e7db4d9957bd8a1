"""Writes for milestone templates: create, revise (new version), install the defaults."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max

from milestones import engine
from milestones.default_templates import DEFAULT_TEMPLATES
from milestones.models import (
    MilestoneDefinition,
    MilestoneTemplate,
    Mode,
    TemplateVersion,
    TrackingPolicy,
)
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.models import User

TemplateInvalid = engine.TemplateInvalid


def _create_version(
    *,
    template: MilestoneTemplate,
    definitions: Sequence[engine.MilestoneDef],
    number: int,
    actor: User | None,
    note: str,
) -> TemplateVersion:
    engine.validate_template(definitions)
    version = TemplateVersion.objects.create(
        template=template, number=number, created_by=actor, note=note
    )
    MilestoneDefinition.objects.bulk_create(
        [
            MilestoneDefinition.from_engine(d, version=version, tenant_id=template.tenant_id)
            for d in definitions
        ]
    )
    return version


@transaction.atomic
def template_create(
    *,
    name: str,
    mode: str,
    definitions: Sequence[engine.MilestoneDef],
    shipment_type: str = "standard",
    actor: User | None = None,
) -> TemplateVersion:
    """Create a template with its first version. Raises TemplateInvalid naming the problem."""
    if mode not in Mode.values:
        raise TemplateInvalid(f"Unknown mode {mode!r}", code="unknown_mode", field="mode")
    engine.validate_template(definitions)
    template = MilestoneTemplate.objects.create(name=name, mode=mode, shipment_type=shipment_type)
    version = _create_version(
        template=template, definitions=definitions, number=1, actor=actor, note="created"
    )
    audit_record(
        action="template.create",
        target_type="milestone_template",
        target_id=template.pk,
        actor=actor,
        changes={"mode": mode, "version": 1},
    )
    return version


@transaction.atomic
def template_revise(
    *,
    template: MilestoneTemplate,
    definitions: Sequence[engine.MilestoneDef],
    actor: User | None = None,
    note: str = "",
) -> TemplateVersion:
    """Editing a template never changes a version shipments use: it adds the next version."""
    # Row lock: two concurrent edits must not both become version N+1.
    MilestoneTemplate.objects.select_for_update().get(pk=template.pk)
    latest = template.versions.aggregate(n=Max("number"))["n"] or 0
    version = _create_version(
        template=template, definitions=definitions, number=latest + 1, actor=actor, note=note
    )
    audit_record(
        action="template.revise",
        target_type="milestone_template",
        target_id=template.pk,
        actor=actor,
        changes={"version": version.number, "codes": [d.code for d in definitions]},
        reason=note,
    )
    return version


def templates_install_defaults() -> list[TemplateVersion]:
    """Give the current tenant its own editable copy of every default template."""
    existing = set(MilestoneTemplate.objects.values_list("mode", flat=True))
    return [
        template_create(name=f"{Mode(mode).label} (default)", mode=mode, definitions=defs)
        for mode, defs in DEFAULT_TEMPLATES.items()
        if mode not in existing
    ]


def tracking_policy_set(
    *, source_priority: Sequence[str], actor: User | None = None
) -> TrackingPolicy:
    unknown = set(source_priority) - engine.SOURCE_KINDS
    if unknown or len(set(source_priority)) != len(source_priority):
        raise TemplateInvalid(
            f"Source priority must list distinct source kinds from {sorted(engine.SOURCE_KINDS)}",
            code="invalid_source_priority",
            field="source_priority",
        )
    policy, _ = TrackingPolicy.objects.update_or_create(
        tenant_id=current_tenant_id(), defaults={"source_priority": list(source_priority)}
    )
    audit_record(
        action="tracking_policy.set",
        target_type="tracking_policy",
        target_id=policy.pk,
        actor=actor,
        changes={"source_priority": list(source_priority)},
    )
    return policy

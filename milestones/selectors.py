"""Reads for templates and the tenant's tracking policy (current tenant context)."""

from __future__ import annotations

from django.db.models import QuerySet

from milestones import engine
from milestones.models import MilestoneTemplate, TemplateVersion, TrackingPolicy


class NoTemplate(LookupError):
    """The tenant has no template for that mode."""


def template_list() -> QuerySet[MilestoneTemplate]:
    return MilestoneTemplate.objects.order_by("mode", "shipment_type")


def template_latest_version(*, mode: str, shipment_type: str = "standard") -> TemplateVersion:
    version = (
        TemplateVersion.objects.filter(template__mode=mode, template__shipment_type=shipment_type)
        .order_by("-number")
        .first()
    )
    if version is None:
        raise NoTemplate(f"No milestone template for mode {mode!r} ({shipment_type})")
    return version


def source_priority() -> tuple[str, ...]:
    policy = TrackingPolicy.objects.first()
    return tuple(policy.source_priority) if policy else engine.DEFAULT_SOURCE_PRIORITY

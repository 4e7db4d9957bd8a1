"""Reads for templates and the tenant's tracking policy (current tenant context)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

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


DIFF_FIELDS = (
    "labels",
    "sequence",
    "kind",
    "required",
    "customer_visible",
    "repeatable",
    "triggers_billing",
    "allowed_sources",
    "planned_anchor",
    "planned_offset",
    "tolerance",
)


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class MilestoneChange:
    """One milestone between two versions: ``change`` is added, removed, changed or same."""

    code: str
    change: str
    fields: tuple[FieldChange, ...] = ()


def _definition_values(definition: Any) -> dict[str, Any]:
    values = {name: getattr(definition, name) for name in DIFF_FIELDS}
    values["allowed_sources"] = sorted(values["allowed_sources"])
    values["labels"] = dict(sorted(dict(values["labels"]).items()))
    return values


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """What differs; labels one locale at a time ("label.en"), so the change is readable."""
    changes = []
    for name in DIFF_FIELDS:
        if old[name] == new[name]:
            continue
        if name == "labels":
            for locale in sorted(set(old[name]) | set(new[name])):
                if old[name].get(locale) != new[name].get(locale):
                    changes.append(
                        FieldChange(
                            field=f"label.{locale}",
                            old=old[name].get(locale),
                            new=new[name].get(locale),
                        )
                    )
        else:
            changes.append(FieldChange(field=name, old=old[name], new=new[name]))
    return changes


def definitions_diff(old: Iterable[Any], new: Iterable[Any]) -> list[MilestoneChange]:
    """Milestone-by-milestone difference of two lists of definitions (model rows or unsaved
    ones), in the new order, removed milestones last. Works for a version and a draft alike."""
    before = {d.code: _definition_values(d) for d in old}
    after = {d.code: _definition_values(d) for d in new}
    changes: list[MilestoneChange] = []
    for code, values in sorted(after.items(), key=lambda item: item[1]["sequence"]):
        if code not in before:
            changes.append(MilestoneChange(code=code, change="added"))
            continue
        fields = tuple(_field_changes(before[code], values))
        changes.append(
            MilestoneChange(code=code, change="changed" if fields else "same", fields=fields)
        )
    for code, _values in sorted(before.items(), key=lambda item: item[1]["sequence"]):
        if code not in after:
            changes.append(MilestoneChange(code=code, change="removed"))
    return changes


def template_version_diff(*, old: TemplateVersion, new: TemplateVersion) -> list[MilestoneChange]:
    return definitions_diff(old.definitions.all(), new.definitions.all())

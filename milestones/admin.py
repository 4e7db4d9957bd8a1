from django.contrib import admin

from milestones.models import (
    MilestoneDefinition,
    MilestoneTemplate,
    TemplateVersion,
    TrackingPolicy,
)
from tenancy.admin import TenantOwnedAdmin


@admin.register(MilestoneTemplate)
class MilestoneTemplateAdmin(TenantOwnedAdmin):
    list_display = ["name", "mode", "shipment_type", "is_default", "created_at"]
    list_filter = ["mode", "shipment_type"]
    search_fields = ["name"]


class MilestoneDefinitionInline(admin.TabularInline):
    model = MilestoneDefinition
    extra = 0
    can_delete = False
    fields = [
        "sequence",
        "code",
        "kind",
        "required",
        "repeatable",
        "planned_anchor",
        "planned_offset",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TemplateVersion)
class TemplateVersionAdmin(TenantOwnedAdmin):
    """Versions are immutable: a change is a new version (milestones.services.template_revise)."""

    list_display = ["template", "number", "created_at", "created_by", "note"]
    list_filter = ["template__mode"]
    inlines = [MilestoneDefinitionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrackingPolicy)
class TrackingPolicyAdmin(TenantOwnedAdmin):
    list_display = ["__str__"]

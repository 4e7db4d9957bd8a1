from django.contrib import admin

from shipments.models import Leg, Shipment, ShipmentLink, ShipmentReference, TrackingEvent
from tenancy.admin import TenantOwnedAdmin


class ShipmentReferenceInline(admin.TabularInline):
    model = ShipmentReference
    extra = 0
    fields = ["kind", "value"]


class LegInline(admin.TabularInline):
    model = Leg
    extra = 0


@admin.register(Shipment)
class ShipmentAdmin(TenantOwnedAdmin):
    list_display = [
        "id",
        "mode",
        "carrier",
        "status",
        "current_stage",
        "eta",
        "progress_percent",
        "is_late",
        "booked_at",
    ]
    list_filter = ["status", "mode", "is_late"]
    search_fields = ["references__value", "carrier", "shipper_name", "consignee_name"]
    date_hierarchy = "booked_at"
    # The cached timeline fields are rebuilt from events; editing them by hand would be lost.
    readonly_fields = ["template_version", *Shipment.CACHED_TIMELINE_FIELDS]
    raw_id_fields = ["customer_account"]
    inlines = [ShipmentReferenceInline, LegInline]

    def has_add_permission(self, request) -> bool:
        # A shipment is created by shipments.services.shipment_create (references, template).
        return False


@admin.register(ShipmentReference)
class ShipmentReferenceAdmin(TenantOwnedAdmin):
    list_display = ["value", "kind", "shipment"]
    list_filter = ["kind"]
    search_fields = ["value"]
    raw_id_fields = ["shipment"]


@admin.register(ShipmentLink)
class ShipmentLinkAdmin(TenantOwnedAdmin):
    list_display = ["parent", "child", "kind", "parent_milestone", "child_milestone"]
    list_filter = ["kind"]
    raw_id_fields = ["parent", "child"]


@admin.register(TrackingEvent)
class TrackingEventAdmin(TenantOwnedAdmin):
    """Events are immutable facts (a database trigger refuses UPDATE): view only."""

    list_display = [
        "shipment",
        "milestone",
        "classifier",
        "occurred_at",
        "source_kind",
        "source_name",
        "recorded_at",
        "supersedes",
        "voids",
    ]
    list_filter = ["classifier", "source_kind", "voids"]
    search_fields = ["milestone", "source_name", "dedupe_key"]
    list_select_related = ["shipment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

from django.contrib import admin

from integrations.models import DeadLetter, HeldEvent, InboundMessage, Integration
from tenancy.admin import TenantOwnedAdmin


@admin.register(Integration)
class IntegrationAdmin(TenantOwnedAdmin):
    list_display = ["name", "kind", "partner_name", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["token", "created_at"]
    exclude = ["secret"]


@admin.register(InboundMessage)
class InboundMessageAdmin(TenantOwnedAdmin):
    list_display = ["id", "channel", "status", "format", "size", "received_at", "attempts"]
    list_filter = ["status", "channel"]
    exclude = ["body"]
    readonly_fields = ["sha256", "size", "received_at", "processed_at"]


@admin.register(DeadLetter)
class DeadLetterAdmin(TenantOwnedAdmin):
    list_display = ["id", "message", "stage", "reason", "created_at", "resolved_at"]
    list_filter = ["stage"]


@admin.register(HeldEvent)
class HeldEventAdmin(TenantOwnedAdmin):
    list_display = ["id", "message", "dedupe_key", "created_at", "applied_at"]

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenancy.models import ApiKey, AuditLog, CustomerAccount, Membership, Tenant, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deactivate instead: a user's memberships and history live in tenants that this
        # request cannot see, so the cascade could not complete.
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "locale"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request) -> bool:
        # A tenant is created by tenancy.services.tenant_create (it installs the templates).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The cascade would have to span the tenant's rows, which RLS hides from this request.
        return False


class TenantOwnedAdmin(admin.ModelAdmin):
    """Shows the chosen tenant's rows only: the request runs in that tenant's context.

    Without a tenant the admin site sends the superuser to its tenant picker
    (tenancy.admin_site); RLS would hide every other tenant's rows anyway.
    """


@admin.register(CustomerAccount)
class CustomerAccountAdmin(TenantOwnedAdmin):
    list_display = ["code", "name", "contact_email"]


@admin.register(Membership)
class MembershipAdmin(TenantOwnedAdmin):
    list_display = ["user", "role", "is_active"]
    list_filter = ["role"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantOwnedAdmin):
    list_display = ["name", "prefix", "scopes", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "last_used_at"]


@admin.register(AuditLog)
class AuditLogAdmin(TenantOwnedAdmin):
    list_display = ["at", "action", "target_type", "target_id", "actor"]
    readonly_fields = [f.name for f in AuditLog._meta.fields]

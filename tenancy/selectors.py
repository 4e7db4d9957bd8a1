"""Reads for tenancy. Tenant-owned reads require the tenant context (see tenancy.context)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.expressions import ArraySubquery
from django.db import transaction
from django.db.models import OuterRef, QuerySet
from django.utils import timezone

from tenancy.context import tenant_context, user_context
from tenancy.models import (
    ApiKey,
    ApiKeyCustomerAccount,
    AuditLog,
    CustomerAccount,
    Membership,
    User,
    hash_api_key,
)


def memberships_of_user(*, user: User) -> list[Membership]:
    """The user's active memberships across tenants.

    This deliberately spans tenants: the RLS policy on memberships lets a user read rows whose
    user_id is theirs, so it runs in a user-only context.
    """
    with user_context(user.pk):
        return list(
            Membership._base_manager.filter(user=user, is_active=True)
            .select_related("tenant")
            .order_by("tenant__name")
        )


def membership_for_tenant(*, memberships: list[Membership], tenant_id: int | None):
    for membership in memberships:
        if membership.tenant_id == tenant_id:
            return membership
    return memberships[0] if memberships else None


def tenant_id_from_api_key(raw_key: str) -> int | None:
    parts = raw_key.split("_", 3)
    if len(parts) != 4 or parts[0] != "mpk" or not parts[1].isdigit():
        return None
    return int(parts[1])


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """Find the active key matching ``raw_key``; records its use. None when unknown or revoked."""
    tenant_id = tenant_id_from_api_key(raw_key)
    if tenant_id is None:
        return None
    with tenant_context(tenant_id):
        return api_key_find(raw_key=raw_key)


def api_key_find(*, raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key`` in the current tenant context (the key's own
    tenant: ``tenant_id_from_api_key``), with its tenant and its customer accounts in the same
    query. None when unknown, revoked, or of another tenant (RLS hides it).

    The request middleware calls it inside the request's own tenant transaction: a separate
    transaction for the lookup cost five more round trips a request (the API's hot path)."""
    accounts = ApiKeyCustomerAccount.objects.filter(api_key=OuterRef("pk")).values(
        "customer_account_id"
    )
    key = (
        ApiKey.objects.select_related("tenant")
        .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .annotate(limited_to_account_ids=ArraySubquery(accounts))
        .first()
    )
    if key is not None:
        _touch_last_used(key)
    return key


def _touch_last_used(key: ApiKey) -> None:
    now = timezone.now()
    # Only write once a minute: a busy partner must not turn every request into an UPDATE.
    # After commit, in a transaction of its own: inside the request's it would hold the key's
    # row lock for the whole request, and every concurrent request of that key would queue on
    # it.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now
        tenant_id, pk = key.tenant_id, key.pk

        def touch() -> None:
            with tenant_context(tenant_id):
                ApiKey.objects.filter(pk=pk).update(last_used_at=now)

        transaction.on_commit(touch, robust=True)


def customer_accounts(*, ids: Iterable[int]) -> list[CustomerAccount]:
    return list(CustomerAccount.objects.filter(pk__in=list(ids)))


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.all()


def audit_log_for(*, target_type: str, target_id: str) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(target_type=target_type, target_id=str(target_id))


def member_list() -> QuerySet[Membership]:
    """The current tenant's memberships with their users (RLS: never another tenant's)."""
    return Membership.objects.select_related("user").order_by("role", "user__email")


def customer_account_list() -> QuerySet[CustomerAccount]:
    return CustomerAccount.objects.order_by("name")

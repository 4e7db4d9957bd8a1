"""Writes for tenancy: tenants, members, API keys and the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenancy.context import tenant_context
from tenancy.models import (
    ApiKey,
    ApiKeyCustomerAccount,
    ApiScope,
    AuditLog,
    CustomerAccount,
    Membership,
    MembershipCustomerAccount,
    Role,
    Tenant,
    User,
)


class TenancyError(Exception):
    """A tenancy rule was broken; the message is meant for the caller."""


def audit_record(
    *,
    action: str,
    target_type: str,
    target_id: object,
    actor: User | None = None,
    api_key: ApiKey | None = None,
    changes: dict | None = None,
    reason: str = "",
) -> AuditLog:
    """Append one audit entry in the current tenant context."""
    return AuditLog.objects.create(
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        actor=actor if actor is not None and actor.is_authenticated else None,
        api_key=api_key,
        changes=changes or {},
        reason=reason,
    )


def tenant_create(*, slug: str, name: str, timezone_name: str = "UTC", **branding) -> Tenant:
    """Create a tenant that starts with its own copies of the default milestone templates."""
    from milestones.services import templates_install_defaults

    tenant = Tenant(slug=slug, name=name, timezone=timezone_name, **branding)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        with tenant_context(tenant.pk):
            templates_install_defaults()
    return tenant


def member_add(
    *,
    tenant: Tenant,
    user: User,
    role: str,
    customer_accounts: list[CustomerAccount] = (),
    actor: User | None = None,
) -> Membership:
    if role not in Role.values:
        raise TenancyError(f"Unknown role {role!r}; expected one of {', '.join(Role.values)}")
    if role == Role.CUSTOMER and not customer_accounts:
        raise TenancyError("A customer member must be bound to at least one customer account")
    with tenant_context(tenant.pk):
        membership = Membership.objects.create(user=user, role=role)
        MembershipCustomerAccount.objects.bulk_create(
            [
                MembershipCustomerAccount(
                    tenant_id=tenant.pk, membership=membership, customer_account=account
                )
                for account in customer_accounts
            ]
        )
        audit_record(
            action="member.add",
            target_type="membership",
            target_id=membership.pk,
            actor=actor,
            changes={"user": user.email, "role": role},
        )
    return membership


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once, never stored


def api_key_issue(
    *,
    name: str,
    scopes: list[str],
    customer_accounts: list[CustomerAccount] = (),
    actor: User | None = None,
) -> IssuedApiKey:
    """Create a key in the current tenant context; only its hash is kept."""
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown or not scopes:
        raise TenancyError(
            f"Scopes must be a non-empty subset of {', '.join(ApiScope.values)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    from tenancy.context import current_tenant_id
    from tenancy.models import hash_api_key

    with transaction.atomic():
        raw, prefix = ApiKey.generate(current_tenant_id())
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=hash_api_key(raw),
            scopes=sorted(set(scopes)),
            created_by=actor,
        )
        ApiKeyCustomerAccount.objects.bulk_create(
            [
                ApiKeyCustomerAccount(api_key=key, customer_account=a, tenant_id=key.tenant_id)
                for a in customer_accounts
            ]
        )
        audit_record(
            action="api_key.issue",
            target_type="api_key",
            target_id=key.pk,
            actor=actor,
            changes={"name": name, "scopes": key.scopes, "prefix": prefix},
        )
    return IssuedApiKey(api_key=key, raw_key=raw)


def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoke", target_type="api_key", target_id=api_key.pk, actor=actor
        )
    return api_key

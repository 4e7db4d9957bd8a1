"""Writes for tenancy: tenants, members, API keys and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenancy import hooks
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id, tenant_context
from tenancy.errors import DomainError
from tenancy.models import (
    ApiKey,
    ApiKeyCustomerAccount,
    ApiScope,
    CustomerAccount,
    Membership,
    MembershipCustomerAccount,
    Role,
    Tenant,
    User,
    hash_api_key,
)


class TenancyError(DomainError):
    """A tenancy rule was broken; the message is meant for the caller."""


def tenant_create(
    *,
    slug: str,
    name: str,
    timezone_name: str = "UTC",
    locale: str = "en",
    primary_colour: str | None = None,
    accent_colour: str | None = None,
    support_email: str = "",
    support_phone: str = "",
    custom_domains: Sequence[str] = (),
) -> Tenant:
    """Create a tenant; the tenant_created hooks give it its starting data (e.g. the default
    milestone templates) inside its own context, in the same transaction."""
    tenant = Tenant(
        slug=slug,
        name=name,
        timezone=timezone_name,
        locale=locale,
        support_email=support_email,
        support_phone=support_phone,
        custom_domains=list(custom_domains),
    )
    if primary_colour:
        tenant.primary_colour = primary_colour
    if accent_colour:
        tenant.accent_colour = accent_colour
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        with tenant_context(tenant.pk):
            hooks.tenant_created(tenant.pk)
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

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


# --- members (the settings pages: users and roles) --------------------------------------------


def _active_admins_after(membership: Membership, *, role: str, is_active: bool) -> int:
    others = (
        Membership.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=membership.pk).count()
    )
    return others + (1 if role == Role.ADMIN and is_active else 0)


@transaction.atomic
def member_invite(
    *,
    email: str,
    role: str,
    customer_accounts: Sequence[CustomerAccount] = (),
    actor: User | None = None,
) -> Membership:
    """Add a person to the current tenant by email: an unknown address becomes a new user
    without a password (they set one through "forgot password"); a known person (a member of
    another tenant, say) gets a membership here and nothing else of theirs is touched."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise TenancyError("Enter a valid email address.", field="email") from None
    if role not in Role.values:
        raise TenancyError(f"One of {', '.join(Role.values)}.", field="role")
    user = User.objects.filter(email=email).first()
    if user is not None and Membership.objects.filter(user=user).exists():
        raise TenancyError("This person is already a member of this tenant.", field="email")
    if user is None:
        user = User.objects.create_user(email=email, password=None)
    try:
        return member_add(
            tenant=Tenant.objects.get(pk=current_tenant_id()),
            user=user,
            role=role,
            customer_accounts=list(customer_accounts),
            actor=actor,
        )
    except TenancyError as error:
        field = "customer_accounts" if role == Role.CUSTOMER else "role"
        raise TenancyError(error.message, field=field) from None


@transaction.atomic
def member_update(
    *,
    membership: Membership,
    role: str,
    is_active: bool,
    customer_accounts: list[CustomerAccount] | None = None,
    actor: User | None = None,
) -> Membership:
    """Change a member's role and/or (de)activate them. The tenant always keeps one active
    admin, so nobody can lock the tenant out of its own settings."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role not in Role.values:
        raise TenancyError(f"One of {', '.join(Role.values)}.", field="role")
    # Row locks on every active admin: two admins demoting each other at once must not both
    # see "one other admin left".
    list(Membership.objects.select_for_update().filter(role=Role.ADMIN, is_active=True))
    if _active_admins_after(membership, role=role, is_active=is_active) == 0:
        raise TenancyError(
            "The tenant needs at least one active admin.",
            code="last_admin",
            field="role" if role != Role.ADMIN else "is_active",
        )
    accounts = (
        list(customer_accounts)
        if customer_accounts is not None
        else [
            link.customer_account
            for link in MembershipCustomerAccount.objects.filter(membership=membership)
        ]
    )
    if role == Role.CUSTOMER and not accounts:
        raise TenancyError(
            "A customer member must be bound to at least one customer account",
            field="customer_accounts",
        )
    changes: dict[str, object] = {}
    if membership.role != role:
        changes["role"] = [membership.role, role]
    if membership.is_active != is_active:
        changes["is_active"] = [membership.is_active, is_active]
    membership.role = role
    membership.is_active = is_active
    membership.save(update_fields=["role", "is_active"])
    if customer_accounts is not None:
        before = set(membership.customer_account_ids())
        after = {a.pk for a in accounts} if role == Role.CUSTOMER else set()
        if before != after:
            MembershipCustomerAccount.objects.filter(membership=membership).delete()
            MembershipCustomerAccount.objects.bulk_create(
                [
                    MembershipCustomerAccount(membership=membership, customer_account_id=pk)
                    for pk in sorted(after)
                ]
            )
            changes["customer_accounts"] = sorted(after)
    if changes:
        audit_record(
            action="member.update",
            target_type="membership",
            target_id=membership.pk,
            actor=actor,
            changes={"user": membership.user.email, **changes},
        )
    return membership


# --- branding ----------------------------------------------------------------------------------

LOGO_MAX_BYTES = 512 * 1024
# Raster formats only: an SVG served from the portal's own origin could carry script.
LOGO_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"RIFF": "webp",  # checked for the WEBP tag below
}
BRANDING_FIELDS = (
    "name",
    "locale",
    "timezone",
    "primary_colour",
    "accent_colour",
    "support_email",
    "support_phone",
)


def _logo_extension(head: bytes) -> str | None:
    for signature, extension in LOGO_SIGNATURES.items():
        if head.startswith(signature):
            if extension == "webp" and head[8:12] != b"WEBP":
                return None
            return extension
    return None


@transaction.atomic
def tenant_branding_update(
    *,
    tenant: Tenant,
    changes: dict[str, object],
    logo: object | None = None,
    remove_logo: bool = False,
    actor: User | None = None,
) -> Tenant:
    """Change the current tenant's branding (name, colours, support contact, locale, time
    zone, logo). Every field is checked by the model's validators; errors name the field.
    ``logo`` is an uploaded file (PNG, JPEG or WebP, at most 512 KiB)."""
    from django.conf import settings as django_settings
    from django.core.exceptions import ValidationError
    from django.core.files.base import ContentFile

    if tenant.pk != current_tenant_id():
        raise TenancyError("Not this tenant.", code="not_found", status=404)
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    unknown = sorted(set(changes) - set(BRANDING_FIELDS))
    if unknown:
        raise TenancyError(f"Unknown setting {unknown[0]!r}.", field=unknown[0])
    if "locale" in changes and changes["locale"] not in dict(django_settings.LANGUAGES):
        raise TenancyError(
            f"One of {', '.join(code for code, _ in django_settings.LANGUAGES)}.", field="locale"
        )
    before = {name: getattr(tenant, name) for name in changes}
    for name, value in changes.items():
        setattr(tenant, name, value)
    try:
        tenant.full_clean(exclude=["logo", "slug", "custom_domains", "created_at"])
    except ValidationError as error:
        fields = {name: [str(m) for m in messages] for name, messages in error.message_dict.items()}
        first = next(iter(fields))
        raise TenancyError(fields[first][0], fields=fields) from None
    audited: dict[str, object] = {
        name: [before[name], value] for name, value in changes.items() if before[name] != value
    }
    if logo is not None:
        size = getattr(logo, "size", 0) or 0
        if size > LOGO_MAX_BYTES:
            raise TenancyError("The logo may be at most 512 KiB.", field="logo")
        content = logo.read()  # type: ignore[attr-defined]
        extension = _logo_extension(content[:16])
        if extension is None:
            raise TenancyError("Upload a PNG, JPEG or WebP image.", field="logo")
        if tenant.logo:
            tenant.logo.delete(save=False)
        tenant.logo.save(f"{tenant.slug}.{extension}", ContentFile(content), save=False)
        audited["logo"] = tenant.logo.name
    elif remove_logo and tenant.logo:
        tenant.logo.delete(save=False)
        audited["logo"] = ""
    tenant.save()
    if audited:
        audit_record(
            action="tenant.branding",
            target_type="tenant",
            target_id=tenant.pk,
            actor=actor,
            changes=audited,
        )
    return tenant

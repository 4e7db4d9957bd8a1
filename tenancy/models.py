from __future__ import annotations

import hashlib
import secrets
from typing import Any, cast

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models, router
from django.utils.timezone import now

# Registers the __any lookup before any model field exists (fields cache their lookups).
from tenancy import lookups  # noqa: F401
from tenancy.context import auth_scope, current_tenant_id, current_tenant_id_or_none

hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour like #0b5fff.")


class ScopedWrites(models.Model):
    """Rows that raw SQL may not create, delete or (for users) re-credential: a trigger refuses
    those writes without the signed auth scope (tenancy.rls). The model's own statements carry
    it, so Python code (services, allauth, the admin, commands, tests) writes them as before.
    Only the single INSERT/UPDATE/DELETE gets the scope, not the signals around it.

    The arguments pass through untouched (their list differs between Django versions).
    """

    class Meta:
        abstract = True

    def _do_update(self, *args: Any, **kwargs: Any) -> Any:
        with auth_scope(using=_using(args, kwargs, 1)):
            return super()._do_update(*args, **kwargs)

    def _do_insert(self, *args: Any, **kwargs: Any) -> Any:
        with auth_scope(using=_using(args, kwargs, 1)):
            return cast(Any, super())._do_insert(*args, **kwargs)

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        with auth_scope(using=using or router.db_for_write(type(self), instance=self)):
            return super().delete(using=using, keep_parents=keep_parents)


def _using(args: tuple[Any, ...], kwargs: dict[str, Any], position: int) -> str:
    using: str | None = kwargs.get("using", args[position] if len(args) > position else None)
    return using or "default"


class Tenant(ScopedWrites):
    """A customer organisation of Milepost. The registry itself is not tenant-owned."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    locale = models.CharField(max_length=16, default="en")
    logo = models.FileField(upload_to="tenant-logos/", blank=True)
    primary_colour = models.CharField(max_length=7, default="#0b5fff", validators=[hex_colour])
    accent_colour = models.CharField(max_length=7, default="#ff8a00", validators=[hex_colour])
    support_email = models.EmailField(blank=True)
    support_phone = models.CharField(max_length=40, blank=True)
    custom_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import available_timezones

        from django.core.exceptions import ValidationError

        if self.timezone not in available_timezones():
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}."})


class TenantScopedManager(models.Manager):
    """Every query is confined to the current tenant context; none exists without one.

    PostgreSQL RLS enforces the same rule underneath; this manager makes a forgotten
    context fail loudly in Python instead of silently returning nothing.
    """

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant_id=current_tenant_id())


class TenantOwned(models.Model):
    """Base of every tenant-owned table: NOT NULL tenant, RLS policy added by tenancy.rls."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, editable=False, related_name="+")

    objects = TenantScopedManager()

    # Extra SQL OR-ed into the RLS policy (e.g. a user may read their own memberships).
    rls_extra_condition: str = ""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        context_tenant = current_tenant_id()
        if self.tenant_id is None:
            self.tenant_id = context_tenant
        elif self.tenant_id != context_tenant:
            raise PermissionError(
                f"{type(self).__name__} belongs to tenant {self.tenant_id}, "
                f"context is tenant {context_tenant}"
            )
        super().save(*args, **kwargs)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractUser, ScopedWrites):
    """A person; belongs to tenants through memberships. Logs in with email."""

    username = None
    email = models.EmailField(unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPS = "ops", "Operations"
    SALES = "sales", "Sales"
    FINANCE = "finance", "Finance"
    CUSTOMER = "customer", "Customer"
    DRIVER = "driver", "Driver"


# Role groups, named once: views and consumers declare their maps with these.
ADMIN_ONLY = frozenset({Role.ADMIN})
STAFF = frozenset({Role.ADMIN, Role.OPS})  # runs operations: ingestion, corrections, settings
FIELD = frozenset({Role.ADMIN, Role.OPS, Role.DRIVER})  # scans, positions, stops
OFFICE = frozenset({Role.ADMIN, Role.OPS, Role.SALES, Role.FINANCE})  # the ops live feed


class CustomerAccount(TenantOwned):
    """A shipper or consignee of the tenant whose shipments customers may see."""

    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    contact_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="customer_account_code_uniq")
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TenantOwned):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    # A user reads their own memberships in every tenant (signed user context, tenancy.context).
    rls_extra_condition = "user_id = (SELECT milepost_user_id())"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_uniq")
        ]
        indexes = [models.Index(fields=["user", "tenant"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"

    def customer_account_ids(self) -> list[int]:
        return list(
            MembershipCustomerAccount.objects.filter(membership=self).values_list(
                "customer_account_id", flat=True
            )
        )


class MembershipCustomerAccount(TenantOwned):
    """Which customer accounts a customer-role member may see."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE)
    customer_account = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "customer_account"], name="membership_account_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} -> {self.customer_account_id}"


class ApiScope(models.TextChoices):
    READ = "read", "Read shipments and timelines"
    WRITE = "write", "Create shipments and record events"
    INGEST = "ingest", "Send inbound messages"
    FINANCE = "finance", "Read billing and exports"


API_KEY_PREFIX = "mpk"


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no brute force possible).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(TenantOwned):
    """A partner's credential. Only the hash is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=ApiScope.choices), default=list)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate(tenant_id: int) -> tuple[str, str]:
        """Return (raw key, display prefix). The tenant id lets auth set the RLS context first."""
        prefix = secrets.token_hex(4)
        raw = f"{API_KEY_PREFIX}_{tenant_id}_{prefix}_{secrets.token_urlsafe(32)}"
        return raw, prefix

    def customer_account_ids(self) -> list[int]:
        # Read with the key itself by tenancy.selectors.api_key_find (one query a request).
        known = getattr(self, "limited_to_account_ids", None)
        if known is not None:
            return list(known)
        return list(
            ApiKeyCustomerAccount.objects.filter(api_key=self).values_list(
                "customer_account_id", flat=True
            )
        )


class ApiKeyCustomerAccount(TenantOwned):
    """Limits an API key to some customer accounts (none listed = all)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE)
    customer_account = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "customer_account"], name="apikey_account_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} -> {self.customer_account_id}"


class AuditLog(TenantOwned):
    """Who changed what, when. Written by services; nothing updates or deletes its rows."""

    at = models.DateTimeField(default=now, db_index=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["tenant", "target_type", "target_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_type}:{self.target_id}"


class IdempotencyKey(TenantOwned):
    """The first answer to a POST sent with an ``Idempotency-Key`` (tenancy.api.idempotency):
    a retry with the same key and body gets these bytes again. Kept 24 hours, per caller."""

    owner = models.CharField(max_length=40)  # "key:<api key id>" or "user:<user id>"
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    status_code = models.PositiveSmallIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=bytes)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "owner", "key"], name="idempotency_key_uniq")
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


__all__ = [
    "ApiKey",
    "ApiKeyCustomerAccount",
    "ApiScope",
    "AuditLog",
    "CustomerAccount",
    "IdempotencyKey",
    "Membership",
    "MembershipCustomerAccount",
    "Role",
    "Tenant",
    "TenantOwned",
    "TenantScopedManager",
    "User",
    "current_tenant_id_or_none",
    "hash_api_key",
]

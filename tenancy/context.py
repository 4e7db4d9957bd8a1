"""The tenant context: which tenant the current unit of work acts for.

It lives in two places that must agree: a contextvar read by tenant-scoped managers, and the
PostgreSQL settings read by the row-level security policies. The database settings are
transaction-local (``set_config(..., true)``) so they are safe behind a transaction-mode
pooler; that is why a tenant context always opens a transaction.

Any SQL may call ``set_config``, so the settings are signed: each carries its id and an
HMAC-SHA256 over the id and this transaction's binding (backend pid and transaction start,
``milepost_context_binding()``), keyed with settings.RLS_CONTEXT_KEY. The policies accept the
id only through ``milepost_tenant_id()`` / ``milepost_user_id()``, which verify it with the
copy of the key that migrate wrote where the app role cannot read it (tenancy.rls). A forged
value, or one copied from another transaction, verifies as NULL: no rows. The auth scope
(``auth_scope``, ``milepost_scope()``) is signed the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.db.transaction import TransactionManagementError


class TenantContextMissing(RuntimeError):
    """Tenant data was touched outside a tenant context."""


class TenantContextRejected(RuntimeError):
    """PostgreSQL did not accept the signed context: its key differs from the app's."""


# Domains of the signed values (part of the signed message, so one never passes as another).
TENANT_DOMAIN = "tenant"
USER_DOMAIN = "user"
SCOPE_DOMAIN = "scope"
# The one scope: reading and writing the accounts tables (sessions aside) for any user, and
# changing users' credentials and privileges. allauth's pages, the operators' admin and the
# statements that write a User or a Tenant run in it (tenancy.middleware, tenancy.models).
AUTH_SCOPE = "auth"


@dataclass(frozen=True)
class _Context:
    tenant_id: int | None
    user_id: int | None
    using: str
    binding: str  # the transaction the database settings were signed for
    scope: str | None = None


_current: ContextVar[_Context | None] = ContextVar("milepost_tenant", default=None)


def current_tenant_id() -> int:
    ctx = _current.get()
    if ctx is None or ctx.tenant_id is None:
        raise TenantContextMissing(
            "No tenant context: wrap the work in tenancy.context.tenant_context(tenant_id)"
        )
    return ctx.tenant_id


def current_tenant_id_or_none() -> int | None:
    ctx = _current.get()
    return ctx.tenant_id if ctx else None


def sign(domain: str, value: int | str, binding: str) -> str:
    """The token PostgreSQL verifies: ``<id>:<hex HMAC of "domain:id:binding">``."""
    message = f"{domain}:{value}:{binding}".encode()
    mac = hmac.new(settings.RLS_CONTEXT_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"{value}:{mac}"


def transaction_binding(using: str = "default") -> str:
    """What this transaction's signatures are bound to (one round trip)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT milepost_context_binding()")
        return cursor.fetchone()[0]


def set_db_context(
    tenant_id: int | None,
    user_id: int | None = None,
    using: str = "default",
    *,
    scope: str | None = None,
    binding: str | None = None,
) -> str:
    """Write the signed context into the current transaction of ``using``; returns the binding.

    Reads the verified values back in the same round trip: a database whose key differs from
    ours (migrate not run since DJANGO_SECRET_KEY / MILEPOST_RLS_CONTEXT_KEY changed) fails
    loudly here instead of showing empty pages.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise TransactionManagementError("The database context needs a transaction (atomic).")
    if tenant_id is None and user_id is None and scope is None:
        _clear_db_context(using)
        return binding or ""
    binding = binding or transaction_binding(using)
    values = [
        (TENANT_DOMAIN, tenant_id, "milepost_tenant_id"),
        (USER_DOMAIN, user_id, "milepost_user_id"),
        (SCOPE_DOMAIN, scope, "milepost_scope"),
    ]
    tokens = ["" if value is None else sign(domain, value, binding) for domain, value, _ in values]
    # One verification is enough to catch another key (all share key and binding), and each
    # costs a little: check the first value that is set.
    _, expected, verifier = next(v for v in values if v[1] is not None)
    with connection.cursor() as cursor:
        # OFFSET 0 keeps the subquery (the settings) evaluated before the outer verification.
        cursor.execute(
            f"SELECT {verifier}() FROM "  # noqa: S608 — a constant name
            "(SELECT set_config(%s, %s, true), set_config(%s, %s, true), "
            "set_config(%s, %s, true) OFFSET 0) AS s",
            [
                settings.TENANT_DB_SETTING,
                tokens[0],
                settings.USER_DB_SETTING,
                tokens[1],
                settings.SCOPE_DB_SETTING,
                tokens[2],
            ],
        )
        (verified,) = cursor.fetchone()
    if verified != expected:
        raise TenantContextRejected(
            "PostgreSQL rejected the signed tenant context: its copy of the context key differs "
            "from this process's (run `manage.py migrate` after changing DJANGO_SECRET_KEY or "
            "MILEPOST_RLS_CONTEXT_KEY)"
        )
    return binding


def _clear_db_context(using: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, '', true), set_config(%s, '', true), set_config(%s, '', true)",
            [settings.TENANT_DB_SETTING, settings.USER_DB_SETTING, settings.SCOPE_DB_SETTING],
        )


@contextmanager
def _db_context(
    tenant_id: int | None, user_id: int | None, using: str, scope: str | None = None
) -> Iterator[None]:
    """One transaction (or savepoint) carrying the signed context; the outer one restored.

    A transaction-local setting outlives a released savepoint, so on exit the outer context
    is written back, or the settings cleared when the enclosing transaction had none: the rest
    of that transaction must not keep this tenant's rights.
    """
    outer = _current.get()
    if outer is not None and outer.using != using:
        outer = None
    nested = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        # Inside the outer context's transaction the binding is the same: no extra round trip.
        binding = set_db_context(
            tenant_id, user_id, using, scope=scope, binding=outer.binding if outer else None
        )
        token = _current.set(_Context(tenant_id, user_id, using, binding, scope))
        try:
            yield
            # On an exception the savepoint rollback restores the outer settings by itself.
            if outer is not None:
                set_db_context(
                    outer.tenant_id,
                    outer.user_id,
                    using,
                    scope=outer.scope,
                    binding=outer.binding,
                )
            elif nested:
                _clear_db_context(using)
        finally:
            _current.reset(token)


@contextmanager
def tenant_context(
    tenant_id: int,
    *,
    user_id: int | None = None,
    using: str = "default",
    scope: str | None = None,
) -> Iterator[None]:
    """Act for one tenant inside one transaction.

    Nesting is allowed (a savepoint); the outer context is restored on exit. A nested context
    does not inherit the outer scope: least privilege unless asked.
    """
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise TypeError(f"tenant_id must be an int, got {tenant_id!r}")
    with _db_context(tenant_id, user_id, using, scope):
        yield


@contextmanager
def auth_scope(*, user_id: int | None = None, using: str = "default") -> Iterator[None]:
    """Add the signed auth scope to the current context (or open one with just the scope).

    For the code paths that must see or change accounts rows of any user: allauth's pages,
    the operators' admin, writes of a User (tenancy.models). Raw SQL elsewhere lacks it.
    """
    outer = _current.get()
    if outer is not None and outer.using == using:
        tenant_id, user_id = outer.tenant_id, user_id if user_id is not None else outer.user_id
    else:
        tenant_id = None
    with _db_context(tenant_id, user_id, using, AUTH_SCOPE):
        yield


@contextmanager
def user_context(user_id: int, *, using: str = "default") -> Iterator[None]:
    """No tenant yet, only the user: lets a user read their own memberships (policy-permitted)."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise TypeError(f"user_id must be an int, got {user_id!r}")
    with _db_context(None, user_id, using):
        yield


def for_each_tenant(tenant_ids, work) -> dict[int, object]:
    """The one explicit way to span tenants: run ``work(tenant_id)`` in each tenant's context."""
    results = {}
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            results[tenant_id] = work(tenant_id)
    return results

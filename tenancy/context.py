"""The tenant context: which tenant the current unit of work acts for.

It lives in two places that must agree: a contextvar read by tenant-scoped managers, and the
PostgreSQL setting read by the row-level security policies. The database setting is
transaction-local (``set_config(..., true)``) so it is safe behind a transaction-mode pooler;
that is why a tenant context always opens a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction


class TenantContextMissing(RuntimeError):
    """Tenant data was touched outside a tenant context."""


@dataclass(frozen=True)
class _Context:
    tenant_id: int
    user_id: int | None


_current: ContextVar[_Context | None] = ContextVar("milepost_tenant", default=None)


def current_tenant_id() -> int:
    ctx = _current.get()
    if ctx is None:
        raise TenantContextMissing(
            "No tenant context: wrap the work in tenancy.context.tenant_context(tenant_id)"
        )
    return ctx.tenant_id


def current_tenant_id_or_none() -> int | None:
    ctx = _current.get()
    return ctx.tenant_id if ctx else None


def set_db_context(tenant_id: int | None, user_id: int | None = None, using: str = "default"):
    """Write the context into the current transaction of connection ``using``."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
            [
                settings.TENANT_DB_SETTING,
                "" if tenant_id is None else str(tenant_id),
                settings.USER_DB_SETTING,
                "" if user_id is None else str(user_id),
            ],
        )


@contextmanager
def tenant_context(
    tenant_id: int, *, user_id: int | None = None, using: str = "default"
) -> Iterator[None]:
    """Act for one tenant inside one transaction.

    Nesting is allowed (a savepoint); the outer context is restored on exit because a
    transaction-local setting outlives a released savepoint.
    """
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise TypeError(f"tenant_id must be an int, got {tenant_id!r}")
    outer = _current.get()
    token = _current.set(_Context(tenant_id, user_id))
    try:
        with transaction.atomic(using=using):
            set_db_context(tenant_id, user_id, using)
            yield
            # On an exception the savepoint rollback restores the outer setting by itself.
            if outer is not None:
                set_db_context(outer.tenant_id, outer.user_id, using)
    finally:
        _current.reset(token)


@contextmanager
def user_context(user_id: int, *, using: str = "default") -> Iterator[None]:
    """No tenant yet, only the user: lets a user read their own memberships (policy-permitted)."""
    with transaction.atomic(using=using):
        set_db_context(None, user_id, using)
        yield


def for_each_tenant(tenant_ids, work) -> dict[int, object]:
    """The one explicit way to span tenants: run ``work(tenant_id)`` in each tenant's context."""
    results = {}
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            results[tenant_id] = work(tenant_id)
    return results

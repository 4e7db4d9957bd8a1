"""Customer scope: which customer accounts a caller may see (None: all of the tenant's)."""

from __future__ import annotations

from django.http import HttpRequest

from tenancy.models import ApiKey, Membership, Role

_UNRESTRICTED = "unrestricted"


def caller_customer_accounts(request: HttpRequest) -> frozenset[int] | None:
    """Customer members see their accounts; keys limited to accounts see those; others all.

    Resolved once per request (cached on it): every list and detail of the request uses it.
    """
    cached = getattr(request, "_customer_accounts", None)
    if cached is not None:
        return None if cached == _UNRESTRICTED else cached
    api_key: ApiKey | None = getattr(request, "api_key", None)
    membership: Membership | None = getattr(request, "membership", None)
    accounts: frozenset[int] | None = None
    if api_key is not None:
        ids = api_key.customer_account_ids()
        accounts = frozenset(ids) if ids else None
    elif membership is not None and membership.role == Role.CUSTOMER:
        accounts = frozenset(membership.customer_account_ids())
    request._customer_accounts = _UNRESTRICTED if accounts is None else accounts  # type: ignore[attr-defined]
    return accounts

"""The one base of every tenant API view: who calls, for which tenant, seeing which customers.

``tenancy.middleware.TenantContextMiddleware`` has already resolved the caller (session user
with a membership, or a partner API key) and opened the tenant's transaction. This base is
the only code that reads those request attributes; views use its properties.

Every concrete view declares three maps, explicitly (nothing is inherited from here, and
``tests/tenancy/test_api_base.py`` fails for a view that lacks one):

* ``role_map``: HTTP method -> member roles allowed (a missing method: nobody);
* ``scope_map``: HTTP method -> API key scopes of which the key needs one (``{}``: no key);
* ``customer_scope``: the ORM path from the view's objects to their customer account id
  (``"customer_account_id"`` for shipments, ``"shipment__customer_account_id"`` for what
  hangs off a shipment); ``None`` when the view is not for customer-limited callers at all
  (they get 403); ``CALLER_ONLY`` for a view about the caller itself. Customer-limited
  callers are customer members and API keys limited to some customer accounts; ``scoped``
  and ``get_scoped`` filter every list and detail for them.

Every view also gets the API's conventions (tenancy.api.conventions): rate limits with their
headers, ``Idempotency-Key`` on POST, ETag / If-None-Match on reads; and lists page with
tenancy.api.pagination.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from tenancy.api.conventions import ApiConventions
from tenancy.api.parsers import RawBody
from tenancy.customers import caller_customer_accounts
from tenancy.errors import NotFound
from tenancy.models import ADMIN_ONLY, FIELD, STAFF, ApiKey, Membership, Tenant, User

MethodMap = Mapping[str, frozenset[str]]
M = TypeVar("M", bound=Model)

NO_KEYS: MethodMap = {}
# customer_scope of a view that only shows the caller itself (nothing of any customer's).
CALLER_ONLY = "caller"
# customer_scope of a view of what callers sent (inbound messages): a customer-limited key
# sees only what it sent itself; what it sends reaches only its accounts' shipments.
SENT_BY_CALLER = "sent_by_key"


__all__ = [
    "ADMIN_ONLY",
    "CALLER_ONLY",
    "FIELD",
    "NO_KEYS",
    "SENT_BY_CALLER",
    "STAFF",
    "MethodMap",
    "TenantAPIView",
]


class TenantAPIView(ApiConventions):
    role_map: ClassVar[MethodMap]
    scope_map: ClassVar[MethodMap]
    customer_scope: ClassVar[str | None]

    @property
    def django_request(self) -> HttpRequest:
        return self.request._request

    @property
    def tenant(self) -> Tenant:
        tenant: Tenant = self.django_request.tenant  # type: ignore[attr-defined]
        return tenant

    @property
    def api_key(self) -> ApiKey | None:
        return getattr(self.django_request, "api_key", None)

    @property
    def membership(self) -> Membership | None:
        return getattr(self.django_request, "membership", None)

    @property
    def actor(self) -> User | None:
        """The user acting (None for a partner API key)."""
        user = self.request.user
        return user if isinstance(user, User) else None

    @property
    def customer_account_ids(self) -> frozenset[int] | None:
        """The customer accounts the caller is limited to; None when it sees all of them."""
        return caller_customer_accounts(self.django_request)

    @property
    def is_customer_limited(self) -> bool:
        return self.customer_account_ids is not None

    def raw_body(self) -> RawBody:
        """The body as bytes, for views whose parser_classes include RawBodyParser."""
        data = self.request.data
        return data if isinstance(data, RawBody) else RawBody(data=b"", size=0)

    def scoped(self, queryset: QuerySet[M], path: str | None = None) -> QuerySet[M]:
        """``queryset`` limited to the caller's customer accounts (unchanged for staff)."""
        accounts = self.customer_account_ids
        if accounts is None:
            return queryset
        path = path or self.customer_scope
        if path is None or path == CALLER_ONLY:  # the permission refuses such callers
            return queryset.none()
        if path == SENT_BY_CALLER:
            key = self.api_key
            return queryset.filter(sent_by_key=key) if key is not None else queryset.none()
        return queryset.filter(**{f"{path}__in": sorted(accounts)})

    def get_scoped(self, queryset: QuerySet[M], path: str | None = None, **lookup: Any) -> M:
        """One object the caller may see; NotFound for missing and for forbidden alike."""
        found = self.scoped(queryset, path).filter(**lookup).first()
        if found is None:
            raise NotFound()
        return found

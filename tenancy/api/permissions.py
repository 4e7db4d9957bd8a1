"""Role per HTTP method for members, scope per HTTP method for API keys, customer scope."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from tenancy.customers import caller_customer_accounts


class IsTenantMember(permissions.BasePermission):
    """The caller acts for a tenant, with a role (or key scope) the view allows for the method.

    Views declare ``role_map``, ``scope_map`` and ``customer_scope`` (see tenancy.api.base);
    a view that lacks one is refused for everyone rather than open by default.
    """

    message = "You do not have access to this resource."

    def has_permission(self, request: Request, view: Any) -> bool:
        django_request = request._request
        if getattr(django_request, "tenant", None) is None:
            return False
        if not declares_maps(type(view)):
            return False
        if view.customer_scope is None and caller_customer_accounts(django_request) is not None:
            self.message = "Not available to callers limited to customer accounts."
            return False
        # HEAD is a GET without the body: it is allowed to whoever may GET.
        method = "GET" if request.method == "HEAD" else (request.method or "")
        api_key = getattr(django_request, "api_key", None)
        if api_key is not None:
            allowed = view.scope_map.get(method, frozenset())
            return bool(allowed & set(api_key.scopes))
        membership = getattr(django_request, "membership", None)
        if membership is None:
            return False
        return membership.role in view.role_map.get(method, frozenset())


REQUIRED_DECLARATIONS = ("role_map", "scope_map", "customer_scope")


def declares_maps(view_class: type) -> bool:
    return all(hasattr(view_class, name) for name in REQUIRED_DECLARATIONS)

"""Role per HTTP method for members, scope per HTTP method for API keys."""

from __future__ import annotations

from rest_framework import permissions

from tenancy.models import Role

STAFF_ROLES = frozenset({Role.ADMIN, Role.OPS})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class IsTenantMember(permissions.BasePermission):
    """The caller acts for a tenant, with a role (or key scope) the view allows for the method.

    Views declare ``role_map`` and ``scope_map``: {"GET": {...}, "POST": {...}}. A missing
    method entry means nobody may use it.
    """

    message = "You do not have access to this resource."

    def has_permission(self, request, view) -> bool:
        django_request = request._request
        if getattr(django_request, "tenant", None) is None:
            return False
        api_key = getattr(django_request, "api_key", None)
        if api_key is not None:
            allowed = view_scope_map(view).get(request.method, frozenset())
            return bool(allowed & set(api_key.scopes))
        membership = getattr(django_request, "membership", None)
        if membership is None:
            return False
        return membership.role in view_role_map(view).get(request.method, frozenset())


DEFAULT_ROLE_MAP = {
    "GET": frozenset(Role.values),
    "HEAD": frozenset(Role.values),
    "OPTIONS": frozenset(Role.values),
}
DEFAULT_SCOPE_MAP = {"GET": frozenset({"read"}), "HEAD": frozenset({"read"})}


def view_role_map(view) -> dict:
    return getattr(view, "role_map", DEFAULT_ROLE_MAP)


def view_scope_map(view) -> dict:
    return getattr(view, "scope_map", DEFAULT_SCOPE_MAP)

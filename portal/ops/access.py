"""Who may open the dashboard: a signed-in office member of the current tenant. Anyone else
gets the same bare 404 as for a missing page (no tenant or shipment names leak)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from shipments.zones import zone_named
from tenancy.models import OFFICE, STAFF, User

View = Callable[..., HttpResponse]


def ops_view(roles: Iterable[str] = OFFICE) -> Callable[[View], View]:
    allowed = frozenset(roles)

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = getattr(request, "membership", None)
            if getattr(request, "tenant", None) is None or membership is None:
                raise Http404()
            if membership.role not in allowed:
                raise Http404()
            # Times typed into forms (datetime-local) and shown are the tenant's local times.
            tenant = request.tenant  # type: ignore[attr-defined]
            with timezone.override(zone_named(tenant.timezone)):
                return view(request, *args, **kwargs)

        return wrapped

    return decorate


def can_change(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in STAFF


def user_of(request: HttpRequest) -> User:
    """The signed-in user of a request that went through ops_view."""
    return cast(User, request.user)

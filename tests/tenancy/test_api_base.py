"""The one API base: every view declares its maps, domain errors answer as themselves, and
customer-limited callers are filtered by one mechanism."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tenancy.api.base import STAFF, TenantAPIView
from tenancy.api.errors import exception_handler
from tenancy.api.permissions import REQUIRED_DECLARATIONS, IsTenantMember
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tenancy.models import ApiKeyCustomerAccount, CustomerAccount
from tenancy.services import api_key_issue

# Schema and docs (read-only, their own permissions); the partner webhook (authenticated by
# its integration secret, tenant from the URL); the unsubscribe link (a signed token, tenant
# from the token).
OUTSIDE_THE_BASE = (
    "drf_spectacular.",
    "integrations.webhooks.api",
    "integrations.notifications.api.UnsubscribeView",
)


def _views(resolvers):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from _views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None) or getattr(
                entry.callback, "cls", None
            )
            if view_class is not None and issubclass(view_class, APIView):
                yield entry.name, view_class


def test_every_api_view_is_a_tenant_view_that_declares_its_maps():
    views = dict(_views(get_resolver().url_patterns))
    assert len(views) > 20
    problems = []
    for name, view_class in views.items():
        if f"{view_class.__module__}.{view_class.__qualname__}".startswith(OUTSIDE_THE_BASE):
            continue
        if not issubclass(view_class, TenantAPIView):
            problems.append(f"{name}: {view_class.__name__} does not subclass TenantAPIView")
            continue
        missing = [attr for attr in REQUIRED_DECLARATIONS if not hasattr(view_class, attr)]
        if missing:
            problems.append(f"{name}: {view_class.__name__} lacks {', '.join(missing)}")
    assert problems == []


class _Undeclared(TenantAPIView):
    """Declares no maps: must be refused to everyone, admins included."""

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class _StaffOnly(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({"read"})}
    customer_scope = None

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class _Raises(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {}
    customer_scope = None

    def get(self, request: Request) -> Response:
        raise _Unexpected("nothing in the view expects this", fields={"thing": "is wrong"})


class _Unexpected(DomainError):
    code = "unexpected_rule"
    status = 422


urlpatterns = [
    path("undeclared/", _Undeclared.as_view()),
    path("staff-only/", _StaffOnly.as_view()),
    path("raises/", _Raises.as_view()),
]


@pytest.mark.django_db
@pytest.mark.urls("tests.tenancy.test_api_base")
def test_a_view_without_maps_is_refused_even_to_admins(personas):
    assert personas.client("admin").get("/undeclared/").status_code == 403
    assert personas.client("admin").get("/staff-only/").status_code == 200


@pytest.mark.django_db
@pytest.mark.urls("tests.tenancy.test_api_base")
def test_an_unexpected_domain_error_answers_as_itself_not_500(personas):
    response = personas.client("ops").get("/raises/")
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "unexpected_rule",
            "message": "nothing in the view expects this",
            "fields": {"thing": ["is wrong"]},
        }
    }


@pytest.mark.django_db
@pytest.mark.urls("tests.tenancy.test_api_base")
def test_customer_limited_keys_are_refused_where_the_view_has_no_customer_scope(personas):
    with tenant_context(personas.tenant.pk):
        limited = api_key_issue(
            name="limited",
            scopes=["read"],
            customer_accounts=[CustomerAccount.objects.get(pk=personas.customer_account.pk)],
        )
        unlimited = api_key_issue(name="all", scopes=["read"])
        assert ApiKeyCustomerAccount.objects.filter(api_key=limited.api_key).count() == 1
    client = APIClient()
    ok = client.get("/staff-only/", HTTP_AUTHORIZATION=f"Bearer {unlimited.raw_key}")
    refused = client.get("/staff-only/", HTTP_AUTHORIZATION=f"Bearer {limited.raw_key}")
    assert ok.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("Not available to callers limited")


def test_every_domain_error_subclass_maps_to_its_status():
    import integrations.apps  # noqa: F401  (imports the channel packages' errors)
    from integrations.documents import services as _documents  # noqa: F401
    from integrations.positions import services as _positions  # noqa: F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    request = Request(RequestFactory().get("/"))
    found = list(subclasses(DomainError))
    assert len(found) >= 10
    for error_class in found:
        error = error_class.__new__(error_class)
        DomainError.__init__(error, "broken rule")
        response = exception_handler(error, {"request": request})
        assert response is not None, error_class
        assert response.status_code == error.status >= 400, error_class
        assert response.data["error"]["code"] == error.code


def test_the_permission_needs_a_tenant():
    class View:
        role_map = {"GET": STAFF}
        scope_map = {}
        customer_scope = None

    request = Request(RequestFactory().get("/"))
    request._request.tenant = None
    assert IsTenantMember().has_permission(request, View()) is False

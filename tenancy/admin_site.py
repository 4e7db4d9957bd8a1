"""The Django admin is the operators' tool: superusers only, acting for one explicit tenant.

Tenant members manage their tenant in the app and the API, where services keep the audit log
and the invariants; the admin edits rows directly, so it is closed to everyone but
superusers, with a clear page instead of Django's "You don't have permission" index.

A superuser's admin requests run in the context of the tenant picked at ``/admin/tenant/``
(or, without a pick, their active membership's tenant), set by TenantContextMiddleware like
every request, so RLS applies as everywhere else. A tenant-owned page without a tenant sends
them to the picker instead of failing.
"""

from __future__ import annotations

from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from tenancy.context import TenantContextMissing, current_tenant_id_or_none

# Session key of the tenant a superuser picked for the admin (the app keeps its own choice).
ADMIN_TENANT_KEY = "admin_tenant_id"


class MilepostAdminConfig(AdminConfig):
    default_site = "tenancy.admin_site.MilepostAdminSite"


def _needs_tenant(view) -> bool:
    from tenancy.admin import TenantOwnedAdmin

    return isinstance(getattr(view, "__self__", None), TenantOwnedAdmin)


class MilepostAdminSite(admin.AdminSite):
    site_header = "Milepost operations"
    site_title = "Milepost admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def admin_view(self, view, cacheable: bool = False):
        inner = super().admin_view(view, cacheable)

        def gate(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if user.is_authenticated and not self.has_permission(request):
                if request.path == reverse("admin:logout", current_app=self.name):
                    return inner(request, *args, **kwargs)
                return self._operators_only(request)
            if user.is_authenticated and _needs_tenant(view) and not current_tenant_id_or_none():
                return self._to_picker(request)
            try:
                response = inner(request, *args, **kwargs)
                # Render here: a lazily rendered page would query after this guard.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response
            except TenantContextMissing:
                return self._to_picker(request)

        return update_wrapper(gate, inner)

    def _operators_only(self, request: HttpRequest) -> HttpResponse:
        return TemplateResponse(request, "admin/operators_only.html", status=403)

    def _to_picker(self, request: HttpRequest) -> HttpResponse:
        picker = reverse("admin:tenant-pick", current_app=self.name)
        return HttpResponseRedirect(f"{picker}?{urlencode({'next': request.get_full_path()})}")

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["admin_tenant"] = getattr(request, "tenant", None)
        return context

    def get_urls(self):
        return [
            path("tenant/", self.admin_view(self.tenant_pick), name="tenant-pick"),
            *super().get_urls(),
        ]

    @staticmethod
    def _next(request: HttpRequest) -> str:
        target = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return reverse("admin:index")
        return target

    def tenant_pick(self, request: HttpRequest) -> HttpResponse:
        """Which tenant the admin acts for: the tenant registry itself is not tenant-owned."""
        from tenancy.models import Tenant

        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if request.method == "POST":
            picked = request.POST.get("tenant", "")
            if not picked.isdigit():
                raise Http404("No such tenant")
            tenant = get_object_or_404(Tenant, pk=int(picked))
            request.session[ADMIN_TENANT_KEY] = tenant.pk
            return HttpResponseRedirect(self._next(request))
        context = {
            **self.each_context(request),
            "title": "Choose the tenant to act for",
            "tenants": Tenant.objects.order_by("name"),
            "next": self._next(request),
        }
        return TemplateResponse(request, "admin/tenant_pick.html", context)

"""Resolve who is calling and for which tenant, then run the request in that tenant context.

Sets on the request: ``tenant`` (or None), ``membership`` (session users), ``api_key``
(partners), ``api_key_error`` (a key was sent but is not valid) and ``memberships``.
In the admin a superuser acts for the tenant picked there (tenancy.admin_site), member or not.
The whole downstream handler, template rendering included, runs inside one transaction that
carries the tenant in PostgreSQL, so RLS applies to every query of the request. allauth's
pages and the operators' admin also carry the signed auth scope, which opens the accounts
tables (e-mail addresses, MFA authenticators, admin log) for any user (tenancy.rls).
"""

from __future__ import annotations

import os
from functools import cache
from typing import cast

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from tenancy.context import AUTH_SCOPE, auth_scope, tenant_context
from tenancy.models import ApiKey, Membership, Tenant
from tenancy.selectors import (
    api_key_find,
    membership_for_tenant,
    memberships_of_user,
    tenant_id_from_api_key,
)

SESSION_TENANT_KEY = "active_tenant_id"


class TenantRequest(HttpRequest):
    """What this middleware sets on every request (for type checking; the request is
    Django's own)."""

    tenant: Tenant | None
    membership: Membership | None
    memberships: list[Membership]
    api_key: ApiKey | None
    api_key_error: str | None


def raw_api_key(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-Api-Key") or None


class TenantContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, http_request: HttpRequest) -> HttpResponse:
        request = cast(TenantRequest, http_request)
        self._reset(request)
        key = raw_api_key(request)
        if key is not None:
            answered = self._with_api_key(request, key)
            if answered is not None:
                return answered
            request.api_key_error = "Invalid or revoked API key."
        elif request.user.is_authenticated:
            self._resolve_session_user(request)
        scoped = _needs_auth_scope(request)
        if request.tenant is None and not scoped:
            return self.get_response(request)
        user = request.user
        user_id = user.pk if request.api_key is None and user.is_authenticated else None
        if request.tenant is None:
            context = auth_scope(user_id=user_id)
        else:
            scope = AUTH_SCOPE if scoped else None
            context = tenant_context(request.tenant.pk, user_id=user_id, scope=scope)
        with context:
            response = self.get_response(request)
            if response.status_code >= 500:
                # The view's exception was already turned into a response: undo its writes.
                transaction.set_rollback(True)
            return response

    @staticmethod
    def _reset(request: TenantRequest) -> None:
        request.tenant = None
        request.membership = None
        request.memberships = []
        request.api_key = None
        request.api_key_error = None

    def _with_api_key(self, request: TenantRequest, key: str) -> HttpResponse | None:
        """A partner's request: the key is looked up inside the request's own tenant
        transaction (the tenant id is part of the key), one context a request instead of one
        for the lookup and another for the view. None (nothing run) for an unknown key."""
        tenant_id = tenant_id_from_api_key(key)
        if tenant_id is None:
            return None
        scope = AUTH_SCOPE if request.path_info.startswith(_accounts_prefix()) else None
        with tenant_context(tenant_id, scope=scope):
            api_key = api_key_find(raw_key=key)
            if api_key is None:
                return None  # leaves the (empty) transaction: the request goes on without one
            request.api_key = api_key
            request.tenant = api_key.tenant
            response = self.get_response(request)
            if response.status_code >= 500:
                transaction.set_rollback(True)  # as below: the view's writes are undone
            return response

    @staticmethod
    def _resolve_session_user(request: TenantRequest) -> None:
        request.memberships = memberships_of_user(user=request.user)
        membership = membership_for_tenant(
            memberships=request.memberships, tenant_id=request.session.get(SESSION_TENANT_KEY)
        )
        if membership is not None:
            request.membership = membership
            request.tenant = membership.tenant
        if request.user.is_superuser and _is_admin_path(request):
            _resolve_admin_tenant(request)


def _is_admin_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(reverse("admin:index"))


@cache
def _accounts_prefix() -> str:
    # Where allauth's URLs are mounted (the common start of two of them: "/accounts/").
    return os.path.commonpath([reverse("account_login"), reverse("mfa_index")]).rstrip("/") + "/"


def _needs_auth_scope(request: TenantRequest) -> bool:
    """allauth's pages (sign-in, MFA, password reset, e-mail) and the operators' admin."""
    if request.path_info.startswith(_accounts_prefix()):
        return True
    user = request.user
    return request.api_key is None and user.is_superuser and _is_admin_path(request)


def _resolve_admin_tenant(request: TenantRequest) -> None:
    """A superuser's admin acts for the tenant they picked there (tenancy.admin_site)."""
    from tenancy.admin_site import ADMIN_TENANT_KEY

    picked = request.session.get(ADMIN_TENANT_KEY)
    if picked is None:
        return
    tenant = Tenant.objects.filter(pk=picked).first()
    if tenant is None:  # deleted since: back to no choice
        request.session.pop(ADMIN_TENANT_KEY, None)
        return
    request.tenant = tenant
    request.membership = next((m for m in request.memberships if m.tenant_id == tenant.pk), None)

"""Resolve who is calling and for which tenant, then run the request in that tenant context.

Sets on the request: ``tenant`` (or None), ``membership`` (session users), ``api_key``
(partners), ``api_key_error`` (a key was sent but is not valid) and ``memberships``.
The whole downstream handler, template rendering included, runs inside one transaction that
carries the tenant in PostgreSQL, so RLS applies to every query of the request.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from tenancy.context import tenant_context
from tenancy.selectors import api_key_authenticate, membership_for_tenant, memberships_of_user

SESSION_TENANT_KEY = "active_tenant_id"


def raw_api_key(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-Api-Key") or None


class TenantContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self._resolve(request)
        if request.tenant is None:
            return self.get_response(request)
        user_id = request.user.pk if request.membership else None
        with tenant_context(request.tenant.pk, user_id=user_id):
            response = self.get_response(request)
            if response.status_code >= 500:
                # The view's exception was already turned into a response: undo its writes.
                transaction.set_rollback(True)
            return response

    def _resolve(self, request: HttpRequest) -> None:
        request.tenant = None
        request.membership = None
        request.memberships = []
        request.api_key = None
        request.api_key_error = None
        key = raw_api_key(request)
        if key is not None:
            self._resolve_api_key(request, key)
        elif request.user.is_authenticated:
            self._resolve_session_user(request)

    @staticmethod
    def _resolve_api_key(request: HttpRequest, key: str) -> None:
        api_key = api_key_authenticate(raw_key=key)
        if api_key is None:
            request.api_key_error = "Invalid or revoked API key."
            return
        request.api_key = api_key
        request.tenant = api_key.tenant

    @staticmethod
    def _resolve_session_user(request: HttpRequest) -> None:
        request.memberships = memberships_of_user(user=request.user)
        membership = membership_for_tenant(
            memberships=request.memberships, tenant_id=request.session.get(SESSION_TENANT_KEY)
        )
        if membership is not None:
            request.membership = membership
            request.tenant = membership.tenant

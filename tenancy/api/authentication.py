"""DRF authentication that reuses what TenantContextMiddleware resolved."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions


class PartnerPrincipal:
    """The caller behind an API key: authenticated, but not a user account."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class TenantContextAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request):
        django_request = request._request
        if getattr(django_request, "api_key_error", None):
            raise exceptions.AuthenticationFailed(django_request.api_key_error)
        api_key = getattr(django_request, "api_key", None)
        if api_key is not None:
            return PartnerPrincipal(api_key), api_key
        return super().authenticate(request)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="milepost"'


class TenantContextAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents both ways in: a partner API key (Bearer) or the browser session."""

    target_class = "tenancy.api.authentication.TenantContextAuthentication"
    name = ["apiKey", "session"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Partner API key: mpk_…"},
            {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        ]

"""A request to one of a tenant's custom domains gets the tracking portal's URL set.

``Tenant.custom_domains`` is read once per minute per process (the registry is small and
changes rarely), so ordinary requests cost a dict lookup and nothing else.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse

from tenancy.models import Tenant

logger = logging.getLogger(__name__)
_REFRESH_S = 60.0
_cache: dict[str, int] = {}
_loaded_at = 0.0


# Never looked up for these: health checks must answer with the database down, and the
# API, the admin and the sign-in pages live on the main host only.
SKIPPED_PREFIXES = ("/healthz", "/readyz", "/api/", "/static/", "/admin/", "/accounts/")


def domains() -> dict[str, int]:
    global _cache, _loaded_at
    if time.monotonic() - _loaded_at > _REFRESH_S:
        found: dict[str, int] = {}
        try:
            rows = list(
                Tenant.objects.exclude(custom_domains=[]).values_list("pk", "custom_domains")
            )
        except Exception:
            logger.warning("tenant domains not read; keeping the last ones", exc_info=True)
            _loaded_at = time.monotonic()
            return _cache
        for pk, names in rows:
            for name in names:
                found[name.lower().rstrip(".")] = pk
        _cache, _loaded_at = found, time.monotonic()
    return _cache


def forget() -> None:
    """Re-read the domains on the next request (tests, after an edit)."""
    global _loaded_at
    _loaded_at = 0.0


class TenantDomainMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(SKIPPED_PREFIXES):
            return self.get_response(request)
        host = request.get_host().split(":")[0].lower().rstrip(".")
        tenant_id = domains().get(host)
        if tenant_id is not None:
            tenant = Tenant.objects.filter(pk=tenant_id).first()
            if tenant is not None:
                request.portal_tenant = tenant  # type: ignore[attr-defined]
                request.urlconf = "portal.tracking.domain_urls"
        return self.get_response(request)

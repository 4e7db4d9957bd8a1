"""Customer portal pages: thin views over portal.tracking.selectors/services.

Visitors are anonymous, so the tenant comes from the URL (slug), the host (custom domain,
portal.tracking.middleware) or a signed token, and each view opens that tenant's context
itself. Unknown and foreign tracking numbers run the same code and render the same page.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST

from integrations.models import Attachment
from portal.tracking import ratelimit, selectors, services, tokens
from portal.tracking.i18n import Words, pick_locale
from shipments.models import Shipment
from tenancy.context import tenant_context
from tenancy.customers import caller_customer_accounts
from tenancy.errors import DomainError
from tenancy.models import STAFF, Role, Tenant

SESSION_VERIFIED = "track_verified"
STATUSES = (
    "booked",
    "in_transit",
    "at_customs",
    "out_for_delivery",
    "delivered",
    "failed_delivery",
    "returned",
    "cancelled",
)


def _tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404
    return tenant


def _text_on(colour: str) -> str:
    """Black or white, whichever contrasts more with the colour (WCAG relative luminance)."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def branding(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        "slug": tenant.slug,
        "logo": reverse("track-logo", args=[tenant.slug]) if tenant.logo else "",
        "primary": tenant.primary_colour,
        "accent": tenant.accent_colour,
        "on_primary": _text_on(tenant.primary_colour),
        "support_email": tenant.support_email,
        "support_phone": tenant.support_phone,
    }


def _locale(request: HttpRequest, tenant: Tenant) -> str:
    return pick_locale(
        requested=request.GET.get("lang", ""),
        tenant_locale=tenant.locale,
        accept=request.headers.get("Accept-Language", ""),
    )


def _on_domain(request: HttpRequest) -> bool:
    return getattr(request, "portal_tenant", None) is not None


def _page_url(request: HttpRequest, tenant: Tenant, tracking_number: str) -> str:
    if _on_domain(request):
        return reverse("track-domain-page", kwargs={"tracking_number": tracking_number})
    return reverse("track-page", kwargs={"slug": tenant.slug, "tracking_number": tracking_number})


def _form_url(request: HttpRequest, tenant: Tenant) -> str:
    if _on_domain(request):
        return reverse("track-domain-form")
    return reverse("track-form", kwargs={"slug": tenant.slug})


def _render(
    request: HttpRequest, tenant: Tenant, template: str, code: int = 200, **extra: Any
) -> HttpResponse:
    locale = extra.pop("locale", None) or _locale(request, tenant)
    context = {
        "brand": branding(tenant),
        "t": Words(locale),
        "locale": locale,
        "form_url": _form_url(request, tenant),
    } | extra
    response = render(request, template, context, status=code)
    response["Content-Language"] = locale
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _not_found(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return _render(request, tenant, "track/not_found.html", code=404)


def _rate_limited(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    response = _render(request, tenant, "track/not_found.html", code=429, limited=True)
    response["Retry-After"] = "60"
    return response


def _may_see_all(request: HttpRequest, tenant: Tenant, shipment: Shipment) -> bool:
    verified = request.session.get(SESSION_VERIFIED, []) if hasattr(request, "session") else []
    if f"{tenant.pk}:{shipment.public_id}" in verified:
        return True
    membership = getattr(request, "membership", None)
    if membership is None or membership.tenant_id != tenant.pk:
        return False
    if membership.role in STAFF:
        return True
    if membership.role == Role.CUSTOMER:
        accounts = caller_customer_accounts(request) or frozenset()
        return shipment.customer_account_id in accounts
    return False


def _shipment_page(
    request: HttpRequest,
    tenant: Tenant,
    shipment: Shipment,
    *,
    full: bool,
    nonce: str | None = None,
) -> HttpResponse:
    locale = _locale(request, tenant)
    started = time.perf_counter()
    view = selectors.tracking_view(shipment=shipment, tenant=tenant, full=full, locale=locale)
    access = tokens.access_token(
        tokens.Access(tenant_id=tenant.pk, public_id=shipment.public_id, full=full, nonce=nonce)
    )
    settings_row = selectors.portal_settings()
    response = _render(
        request,
        tenant,
        "track/shipment.html",
        locale=locale,
        view=view,
        access=access,
        ws_path=f"/ws/track/{access}/",
        here=request.get_full_path(),
        sharing=settings_row.sharing_enabled,
        done=request.GET.get("done", ""),
        return_number=request.GET.get("return", "")[:40],
        share_url=_own_share_url(request),
        map_tiles=settings.OPS_MAP_TILE_URL,
        map_attribution=settings.OPS_MAP_TILE_ATTRIBUTION,
    )
    response["Server-Timing"] = f"view;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def _own_share_url(request: HttpRequest) -> str:
    """The share link just created (shown back once): only ever a link of this portal."""
    url = request.GET.get("share_url", "")
    prefix = request.build_absolute_uri("/t/")
    return url if url.startswith(prefix) and len(url) < 300 and "\n" not in url else ""


# --- pages ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def track_form(request: HttpRequest, slug: str) -> HttpResponse:
    return _form(request, _tenant_by_slug(slug))


@require_http_methods(["GET", "POST"])
def track_domain_form(request: HttpRequest) -> HttpResponse:
    return _form(request, request.portal_tenant)  # type: ignore[attr-defined]


def _form(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    if request.method == "GET":
        return _render(request, tenant, "track/form.html")
    if not ratelimit.lookup_allowed(request):
        return _rate_limited(request, tenant)
    number = request.POST.get("tracking_number", "").strip()
    secret = request.POST.get("secret", "").strip()
    with tenant_context(tenant.pk):
        shipment = selectors.shipment_for_tracking(number)
        if shipment is None:
            return _not_found(request, tenant)
        if secret and selectors.verify_recipient(shipment, secret):
            verified = list(request.session.get(SESSION_VERIFIED, []))[-49:]
            verified.append(f"{tenant.pk}:{shipment.public_id}")
            request.session[SESSION_VERIFIED] = verified
    return HttpResponseRedirect(_page_url(request, tenant, number))


@require_http_methods(["GET"])
def track_page(request: HttpRequest, slug: str, tracking_number: str) -> HttpResponse:
    return _lookup(request, _tenant_by_slug(slug), tracking_number)


@require_http_methods(["GET"])
def track_domain_page(request: HttpRequest, tracking_number: str) -> HttpResponse:
    return _lookup(request, request.portal_tenant, tracking_number)  # type: ignore[attr-defined]


def _lookup(request: HttpRequest, tenant: Tenant, tracking_number: str) -> HttpResponse:
    if not ratelimit.lookup_allowed(request):
        return _rate_limited(request, tenant)
    with tenant_context(tenant.pk):
        shipment = selectors.shipment_for_tracking(tracking_number)
        if shipment is None:
            return _not_found(request, tenant)
        return _shipment_page(
            request, tenant, shipment, full=_may_see_all(request, tenant, shipment)
        )


@require_http_methods(["GET"])
def track_share(request: HttpRequest, token: str) -> HttpResponse:
    claim = tokens.share_read(token)
    tenant = Tenant.objects.filter(pk=claim[0]).first() if claim else None
    if claim is None or tenant is None:
        raise Http404
    if not ratelimit.lookup_allowed(request):
        return _rate_limited(request, tenant)
    with tenant_context(tenant.pk):
        link = selectors.share_link_valid(nonce=claim[1])
        if link is None:
            return _not_found(request, tenant)
        shipment = Shipment.objects.get(pk=link.shipment_id)
        return _shipment_page(request, tenant, shipment, full=True, nonce=link.nonce)


def _access(token: str) -> tuple[tokens.Access, Tenant]:
    access = tokens.access_read(token)
    tenant = Tenant.objects.filter(pk=access.tenant_id).first() if access else None
    if access is None or tenant is None:
        raise Http404
    return access, tenant


def access_shipment(access: tokens.Access) -> Shipment | None:
    """The shipment an access token names, in its tenant's context; None once its share
    link was revoked (or sharing switched off)."""
    if access.nonce and selectors.share_link_valid(nonce=access.nonce) is None:
        return None
    return Shipment.objects.filter(public_id=access.public_id).first()


@require_http_methods(["GET"])
def track_logo(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The tenant's logo, served by the portal itself (media may live elsewhere, and a
    custom domain must not need a second host)."""
    tenant = _tenant_by_slug(slug)
    if not tenant.logo:
        raise Http404
    response = FileResponse(tenant.logo.open("rb"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_http_methods(["GET"])
def track_file(request: HttpRequest, token: str, attachment_id: int) -> HttpResponseBase:
    access, tenant = _access(token)
    if not access.full:
        raise Http404
    with tenant_context(tenant.pk):
        shipment = access_shipment(access)
        if shipment is None or attachment_id not in selectors.customer_file_ids(shipment):
            raise Http404
        attachment = Attachment.objects.get(pk=attachment_id)
        response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_POST
def track_action(request: HttpRequest, token: str, action: str) -> HttpResponse:
    access, tenant = _access(token)
    if not access.full:
        raise Http404
    wants_json = "application/json" in request.headers.get("Accept", "")
    extra: dict[str, str] = {}
    with tenant_context(tenant.pk):
        shipment = access_shipment(access)
        if shipment is None:
            raise Http404
        try:
            extra = _act(request, tenant, shipment, action)
        except DomainError as error:
            if wants_json:
                return JsonResponse(
                    {"error": {"code": error.code, "message": str(error)}}, status=error.status
                )
            extra = {"done": "error"}
    if wants_json:
        return JsonResponse({"ok": True} | extra)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    path, _, old_query = back.split("#")[0].partition("?")
    kept = [(k, v) for k, v in parse_qsl(old_query) if k not in ("done", "return", "share_url")]
    query = urlencode([*kept, ("done", action), *extra.items()])
    return HttpResponseRedirect(f"{path}?{query}#{action}")


def _act(request: HttpRequest, tenant: Tenant, shipment: Shipment, action: str) -> dict[str, str]:
    post = request.POST
    if action == "rate":
        services.rating_submit(
            shipment=shipment,
            stars=_int(post.get("stars")),
            comment=post.get("comment", ""),
            followup_answer=post.get("followup_answer", ""),
        )
        return {}
    if action == "message":
        services.message_post(
            shipment=shipment,
            author_kind="customer",
            body=post.get("body", ""),
            addressed_to=post.get("to", "support"),
        )
        return {}
    if action == "notify":
        visible = {
            m["code"]
            for m in selectors.tracking_view(
                shipment=shipment, tenant=tenant, full=True, locale="en"
            )["notify_milestones"]
        }
        services.notify_optin(
            shipment=shipment,
            tracking_number=selectors.tracking_number_of(shipment),
            sms=post.get("sms") == "on",
            email=post.get("email_on") == "on",
            phone=post.get("phone", ""),
            address=post.get("email", ""),
            milestones=[m for m in post.getlist("milestones") if m in visible],
            locale=_locale(request, tenant),
        )
        return {}
    if action == "return":
        created = services.return_request(shipment=shipment, reason=post.get("reason", ""))
        return {"return": selectors.tracking_number_of(created.return_shipment)}
    if action == "share":
        _, share = services.share_link_create(shipment=shipment)
        return {"share_url": request.build_absolute_uri(reverse("track-share", args=[share]))}
    raise Http404


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@require_http_methods(["GET"])
def track_snapshot(request: HttpRequest, token: str) -> HttpResponse:
    """The page's data as JSON (the websocket's fallback poll): same fields, same level."""
    access, tenant = _access(token)
    with tenant_context(tenant.pk):
        shipment = access_shipment(access)
        if shipment is None:
            raise Http404
        view = selectors.tracking_view(
            shipment=shipment, tenant=tenant, full=access.full, locale=_locale(request, tenant)
        )
    return JsonResponse(view)


@require_http_methods(["GET"])
def my_shipments(request: HttpRequest) -> HttpResponse:
    """A logged-in customer user: their own accounts' shipments, searched and filtered."""
    membership = getattr(request, "membership", None)
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?next={request.path}")
    if membership is None or membership.role != Role.CUSTOMER:
        raise Http404
    tenant = membership.tenant
    accounts = caller_customer_accounts(request) or frozenset()
    query, status = request.GET.get("q", "")[:80], request.GET.get("status", "")
    shipments = list(
        selectors.customer_shipments(
            account_ids=accounts, query=query, status=status if status in STATUSES else ""
        )[:100]
    )
    locale = _locale(request, tenant)
    words = Words(locale)
    rows = [
        {
            "tracking_number": selectors.tracking_number_of(s),
            "status": s.status,
            "status_label": words.get(f"status_{s.status}", s.status),
            "destination": s.consignee_name or s.destination_address,
            "progress": s.progress_percent,
        }
        for s in shipments
    ]
    return _render(
        request,
        tenant,
        "track/mine.html",
        locale=locale,
        rows=rows,
        q=query,
        status=status,
        statuses=[(code, words.get(f"status_{code}", code)) for code in STATUSES],
    )

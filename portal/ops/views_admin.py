"""Integrations health, analytics (each chart as CSV too) and the settings overview."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from integrations import selectors as integration_selectors
from integrations import services as integration_services
from integrations.eta.accuracy import neutralise
from integrations.subscriptions import selectors as subscription_selectors
from milestones.models import TemplateVersion
from milestones.selectors import template_list
from portal.ops import selectors
from portal.ops.access import ops_view, user_of
from tenancy import services as tenancy_services
from tenancy.models import ADMIN_ONLY, STAFF, ApiScope, Membership
from tenancy.selectors import api_key_list
from tenancy.services import api_key_issue


@require_GET
@ops_view(STAFF)
def integrations(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ops/integrations.html",
        {
            "health": selectors.integration_health(),
            "dead_letters": selectors.dead_letters(),
            "held": selectors.held_events(),
        },
    )


@require_POST
@ops_view(STAFF)
def dead_letter_replay(request: HttpRequest, dead_letter_id: int) -> HttpResponse:
    letter = integration_selectors.dead_letter_list().filter(pk=dead_letter_id).first()
    if letter is None:
        raise Http404()
    letter = integration_services.dead_letter_replay(dead_letter=letter, actor=user_of(request))
    if letter.resolved_at is not None:
        messages.success(request, _("Replayed: the message now applies."))
    else:
        messages.error(request, _("Replayed, still failing: %(r)s") % {"r": letter.reason[:200]})
    return redirect("ops-integrations")


@require_POST
@ops_view(STAFF)
def dead_letters_replay_all(request: HttpRequest) -> HttpResponse:
    result = integration_services.dead_letters_replay_all(actor=user_of(request))
    messages.success(request, _("Replayed all dead letters: %(r)s") % {"r": result})
    return redirect("ops-integrations")


def _chart_rows(chart: str) -> tuple[list[str], list[dict[str, Any]]]:
    if chart == "on-time-carrier":
        return ["label", "total", "on_time", "pct"], selectors.on_time_by("carrier")
    if chart == "on-time-lane":
        return ["label", "total", "on_time", "pct"], selectors.on_time_by("lane")
    if chart == "on-time-customer":
        return ["label", "total", "on_time", "pct"], selectors.on_time_by("customer")
    if chart == "volumes":
        return ["day", "shipments"], selectors.volumes()
    if chart == "dwell":
        return ["milestone", "n", "mean_h"], selectors.dwell()
    if chart == "eta-accuracy":
        return ["hours_out", "n", "mae_h", "bias_h", "in_window_pct"], selectors.eta_accuracy_rows()
    raise Http404()


@require_GET
@ops_view()
def analytics(request: HttpRequest) -> HttpResponse:
    charts = {
        name.replace("-", "_"): _chart_rows(name)[1]
        for name in (
            "on-time-carrier",
            "on-time-lane",
            "on-time-customer",
            "volumes",
            "dwell",
            "eta-accuracy",
        )
    }
    return render(request, "ops/analytics.html", {"charts": charts})


@require_GET
@ops_view()
def analytics_csv(request: HttpRequest, chart: str) -> HttpResponse:
    header, rows = _chart_rows(chart)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(row.get(column)) for column in header])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chart}.csv"'
    return response


@require_GET
@ops_view(ADMIN_ONLY)
def settings_home(request: HttpRequest) -> HttpResponse:
    subscriptions = list(subscription_selectors.subscription_list()[:50])
    deliveries = {
        s.pk: list(subscription_selectors.delivery_list(subscription=s)[:10]) for s in subscriptions
    }
    templates = list(template_list())
    latest: dict[int, TemplateVersion] = {}
    for version in TemplateVersion.objects.filter(
        template_id__in=[t.pk for t in templates]
    ).order_by("template_id", "-number"):
        latest.setdefault(version.template_id, version)
    return render(
        request,
        "ops/settings.html",
        {
            "api_keys": list(api_key_list()[:100]),
            "scopes": ApiScope.choices,
            "subscriptions": [(s, deliveries[s.pk]) for s in subscriptions],
            "members": list(
                Membership.objects.select_related("user").order_by("role", "user__email")[:500]
            ),
            "templates": [(t, latest.get(t.pk)) for t in templates],
        },
    )


@require_POST
@ops_view(ADMIN_ONLY)
def api_key_create(request: HttpRequest) -> HttpResponse:
    scopes = [s for s in request.POST.getlist("scopes") if s in ApiScope.values]
    name = request.POST.get("name", "").strip()[:100]
    if not name or not scopes:
        messages.error(request, _("Name the key and choose at least one scope."))
        return redirect("ops-settings")
    issued = api_key_issue(name=name, scopes=scopes, actor=user_of(request))
    messages.success(
        request,
        _("Key %(name)s issued; copy it now, it is not shown again: %(key)s")
        % {"name": name, "key": issued.raw_key},
    )
    return redirect("ops-settings")


@require_POST
@ops_view(ADMIN_ONLY)
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = api_key_list().filter(pk=key_id).first()
    if key is None:
        raise Http404()
    tenancy_services.api_key_revoke(api_key=key, actor=user_of(request))
    messages.success(request, _("Key %(name)s revoked.") % {"name": key.name})
    return redirect("ops-settings")

"""Integrations health (with each integration's code table and the replay dry run),
analytics (each chart as CSV too) and the settings overview."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations import code_tables
from integrations import selectors as integration_selectors
from integrations import services as integration_services
from integrations.eta.accuracy import neutralise
from integrations.models import Integration
from integrations.subscriptions import selectors as subscription_selectors
from milestones.models import TemplateVersion
from milestones.selectors import template_list
from portal.ops import jobs, selectors, services
from portal.ops.access import ops_view, user_of
from portal.ops.models import JobKind
from tenancy import services as tenancy_services
from tenancy.errors import DomainError, NotFound
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
            "jobs": jobs.jobs_recent(kind=JobKind.REPLAY, limit=5),
        },
    )


def _integration_or_404(integration_id: int) -> Integration:
    try:
        return integration_selectors.integration_get(integration_id=integration_id)
    except NotFound:
        raise Http404() from None


def _posted_rows(request: HttpRequest) -> list[tuple[str, str]]:
    codes, milestones = request.POST.getlist("code"), request.POST.getlist("milestone")
    rows = [(c[:200], m[:60]) for c, m in zip(codes, milestones, strict=False)]
    # blank rows (the form's spare ones, or cleared to remove a code) are not rows
    return [(c, m) for c, m in rows if c.strip() or m.strip()][: code_tables.MAX_ROWS + 1]


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def integration_codes(request: HttpRequest, integration_id: int) -> HttpResponse:
    """The integration's code table: edit rows, preview what a replay would change (dry
    run, nothing stored), save (audited), save and replay (a Celery job)."""
    integration = _integration_or_404(integration_id)
    known = integration_selectors.known_milestones()
    rows = sorted(code_tables.table_of(integration).items())
    context: dict[str, Any] = {"integration": integration, "errors": {}, "general": []}
    if request.method == "POST":
        rows = _posted_rows(request)
        action = request.POST.get("action", "preview")
        try:
            table = code_tables.table_check(integration, rows, known=known)
            if action in ("save", "save_replay"):
                integration_services.integration_code_table_save(
                    integration=integration, table=table, actor=user_of(request)
                )
                messages.success(request, _("Code table saved."))
                ids = code_tables.replay_candidates(integration)
                if action == "save_replay" and ids:
                    job = services.replay_start(
                        actor=user_of(request), integration=integration, message_ids=ids
                    )
                    return redirect("ops-job", job_id=job.pk)
                return redirect("ops-integration-codes", integration_id=integration.pk)
            context["preview"] = code_tables.replay_preview(integration=integration, table=table)
        except code_tables.CodeTableError as error:
            context["errors"], context["general"] = error.rows, error.general
    context |= {
        "rows": [
            (i, code, milestone, context["errors"].get(i, []))
            for i, (code, milestone) in enumerate(rows)
        ],
        "next_index": len(rows),
        "milestones": sorted(known),
        "defaults": sorted(code_tables.format_defaults(integration).items()),
        "is_feed": code_tables.is_feed(integration),
        "candidates": len(code_tables.replay_candidates(integration)),
    }
    return render(request, "ops/integration_codes.html", context)


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
    """Every open dead letter (or one integration's), replayed by a Celery job."""
    integration = None
    if request.POST.get("integration"):
        try:
            integration = integration_selectors.integration_named(request.POST["integration"])
        except DomainError:
            raise Http404() from None
    try:
        job = services.replay_start(actor=user_of(request), integration=integration)
    except DomainError as error:
        messages.error(request, str(error))
        return redirect("ops-integrations")
    return redirect("ops-job", job_id=job.pk)


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

"""The ops dashboard's pages: thin views over the shipments, integrations and tenancy
selectors and services (plus portal.ops's own for saved views and tags)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from rest_framework.request import Request

from integrations.documents import selectors as document_selectors
from integrations.documents import services as document_services
from integrations.errors import IngestError
from integrations.exceptions import selectors as exception_selectors
from integrations.notifications import selectors as notification_selectors
from integrations.positions import selectors as position_selectors
from integrations.workflow import selectors as task_selectors
from milestones.models import TemplateVersion
from portal.ops import selectors, services
from portal.ops.access import can_change, ops_view, user_of
from portal.ops.forms import (
    BulkForm,
    CorrectForm,
    ListFilterForm,
    ManualMilestoneForm,
    MigrateForm,
    UploadForm,
)
from shipments import selectors as shipment_selectors
from shipments import services as shipment_services
from shipments.models import Shipment, ShipmentLink, TrackingEvent
from tenancy.api.pagination import paginate
from tenancy.errors import DomainError
from tenancy.models import STAFF
from tenancy.selectors import audit_log_for

PAGE_SIZE = 50


def _ws_url(request: HttpRequest) -> str:
    return settings.OPS_WEBSOCKET_URL or ""


def _shipment_or_404(public_id: str) -> Shipment:
    found = shipment_selectors.shipment_by_public_id(
        public_id=public_id, queryset=shipment_selectors.shipment_api_list(Shipment.objects.all())
    )
    if found is None:
        raise Http404()
    return found


def _list_page(request: HttpRequest) -> dict[str, Any]:
    form = ListFilterForm(request.GET)
    filters = form.filters()
    keyset = selectors.SORTS.get(filters.sort, selectors.SORTS["-booked"])
    api_request = Request(request)
    params = request.GET.copy()
    params.setdefault("limit", str(PAGE_SIZE))
    api_request._request.GET = params  # type: ignore[assignment]  # the dashboard's page size
    try:
        page = paginate(
            api_request, selectors.shipments_filtered(filters), keyset, rows=selectors.list_rows
        )
    except DomainError:  # a damaged cursor: back to the first page
        params.pop("cursor", None)
        page = paginate(
            api_request, selectors.shipments_filtered(filters), keyset, rows=selectors.list_rows
        )
    rows = page.rows
    tags = selectors.tags_by_shipment([s.pk for s in rows])
    for shipment in rows:
        shipment.tag_list = tags.get(shipment.pk, [])
        shipment.reference_text = ", ".join(
            r.value for r in getattr(shipment, "visible_references", [])[:2]
        )
    next_url = None
    if page.next_url:
        parts = urlsplit(page.next_url)
        next_url = f"{parts.path}?{parts.query}"
    base = {k: v for k, v in request.GET.items() if k not in ("cursor", "sort", "limit")}
    return {
        "form": form,
        "filters": filters,
        "rows": rows,
        "next_url": next_url,
        "is_first": "cursor" not in request.GET,
        "first_url": "?" + urlencode({k: v for k, v in request.GET.items() if k != "cursor"}),
        "sort": filters.sort,
        "sort_base": urlencode(base),
    }


@require_GET
@ops_view()
def shipment_list(request: HttpRequest) -> HttpResponse:
    context = _list_page(request)
    context |= {
        "kpis": selectors.kpis_cached(),
        "saved_views": selectors.saved_views(user_id=user_of(request).pk),
        "carriers": selectors.carriers(),
        "tag_names": selectors.tag_names(),
        "can_change": can_change(request),
        "ws_url": _ws_url(request),
        "query": request.GET.urlencode(),
    }
    return render(request, "ops/shipment_list.html", context)


@require_GET
@ops_view()
def shipment_rows(request: HttpRequest) -> HttpResponse:
    """The rows of the list as it is now (live updates swap them in)."""
    context = _list_page(request) | {"can_change": can_change(request)}
    return render(request, "ops/_rows.html", context)


@require_GET
@ops_view()
def kpi_tiles(request: HttpRequest) -> HttpResponse:
    return render(request, "ops/_kpis.html", {"kpis": selectors.kpis()})


@require_POST
@ops_view()
def saved_view_create(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        services.saved_view_save(
            user=user_of(request), name=request.POST.get("name", ""), query=query
        )
    except DomainError as error:
        messages.error(request, str(error))
    return redirect(reverse("ops-shipments") + (f"?{query}" if query else ""))


@require_POST
@ops_view()
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = selectors.saved_view_get(user_id=user_of(request).pk, view_id=view_id)
    if view is None:
        raise Http404()
    services.saved_view_delete(view=view)
    return redirect("ops-shipments")


@require_POST
@ops_view(STAFF)
def bulk_action(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    back = reverse("ops-shipments") + "?" + request.POST.get("query", "")
    if not form.is_valid():
        messages.error(request, _("Choose shipments and an action."))
        return redirect(back)
    found = shipment_selectors.shipments_by_public_ids(form.public_ids())
    shipments = list(found.values())
    if not shipments:
        messages.error(request, _("None of those shipments was found."))
        return redirect(back)
    data = form.cleaned_data
    try:
        if data["action"] == "tag":
            added = services.tags_add(shipments=shipments, name=data["tag"], actor=user_of(request))
            messages.success(request, _("Tagged %(n)d shipment(s).") % {"n": added})
        else:
            if not data.get("milestone") or not data.get("occurred_at"):
                raise DomainError(_("Name the milestone and its time."), code="invalid")
            result = services.milestones_record_many(
                shipments=shipments,
                milestone=data["milestone"],
                occurred_at=data["occurred_at"],
                reason=data.get("reason") or "",
                actor=user_of(request),
            )
            messages.success(request, _("Recorded for %(n)d shipment(s).") % {"n": result.done})
            for public_id, reason in result.failed[:10]:
                messages.error(request, f"{public_id}: {reason}")
    except DomainError as error:
        messages.error(request, str(error))
    return redirect(back)


# --- one shipment -------------------------------------------------------------------------------


def _as_of(request: HttpRequest) -> datetime | None:
    raw = request.GET.get("as_of") or ""
    value = parse_datetime(raw) if raw else None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return value


def _timeline_context(request: HttpRequest, shipment: Shipment) -> dict[str, Any]:
    as_of = _as_of(request)
    tenant = request.tenant  # type: ignore[attr-defined]
    timeline = shipment_selectors.shipment_timeline_display(
        shipment=shipment, tenant_zone=tenant.timezone, as_of=as_of
    )
    locale = getattr(request, "LANGUAGE_CODE", "en")
    for row in timeline.get("rows", []):
        labels = row.get("label") or {}
        row["label_text"] = labels.get(locale) or labels.get("en") or row["code"]
    events = list(shipment_selectors.shipment_events(shipment=shipment))
    superseded = {e.supersedes_id for e in events if e.supersedes_id}
    first = shipment.booked_at
    return {
        "shipment": shipment,
        "timeline": timeline,
        "events": events,
        "superseded": superseded,
        "as_of": as_of,
        "as_of_min": int(first.timestamp()),
        "as_of_max": int(timezone.now().timestamp()),
        "as_of_value": int((as_of or timezone.now()).timestamp()),
        "show_candidates": request.GET.get("candidates") == "1",
        "can_change": can_change(request),
    }


def _map_data(shipment: Shipment) -> dict[str, Any]:
    trail, _ = position_selectors.position_trail(shipment=shipment, limit=500)
    stops = list(position_selectors.stop_list(shipment=shipment))
    points = []
    if shipment.origin_lat is not None and shipment.origin_lon is not None:
        start = {"lat": shipment.origin_lat, "lon": shipment.origin_lon}
        points.append(start | {"label": "origin", "name": shipment.origin_locode})
    for stop in stops:
        lat, lon = getattr(stop, "lat", None), getattr(stop, "lon", None)
        if lat is not None and lon is not None:
            points.append({"lat": lat, "lon": lon, "label": f"stop {stop.sequence}"})
    if shipment.destination_lat is not None and shipment.destination_lon is not None:
        points.append(
            {
                "lat": shipment.destination_lat,
                "lon": shipment.destination_lon,
                "label": "destination",
            }
        )
    return {
        "route": points,
        "trail": [[p.lat, p.lon] for p in trail],
        "tiles": settings.OPS_MAP_TILE_URL,
        "attribution": settings.OPS_MAP_TILE_ATTRIBUTION,
    }


@require_GET
@ops_view()
def shipment_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    context = _timeline_context(request, shipment)
    parents = [link.parent for link in getattr(shipment, "parent_link_list", [])]
    children = list(
        ShipmentLink.objects.filter(parent=shipment).select_related("child").order_by("pk")[:200]
    )
    versions = TemplateVersion.objects.filter(
        template_id=shipment.template_version.template_id
    ).order_by("-number")
    context |= {
        "parents": parents,
        "children": [link.child for link in children],
        "documents": list(document_selectors.shipment_documents(shipment_id=shipment.pk)[:100]),
        "notifications": list(notification_selectors.delivery_list(shipment_id=shipment.pk)[:100]),
        "audit": list(audit_log_for(target_type="shipment", target_id=str(shipment.pk))[:100]),
        "map": _map_data(shipment),
        "versions": versions,
        "tags": selectors.tags_by_shipment([shipment.pk]).get(shipment.pk, []),
        "ws_url": _ws_url(request),
        "manual_form": ManualMilestoneForm(),
        "exceptions": list(exception_selectors.exception_list(shipment_id=shipment.pk)[:50]),
        "tasks": list(task_selectors.task_list(shipment_id=shipment.pk)[:50]),
    }
    return render(request, "ops/shipment_detail.html", context)


@require_GET
@ops_view()
def shipment_timeline(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    return render(request, "ops/_timeline.html", _timeline_context(request, shipment))


def _back(public_id: str) -> HttpResponse:
    return redirect("ops-shipment", public_id=public_id)


def _form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        messages.error(request, f"{field}: {' '.join(errors)}")


@require_POST
@ops_view(STAFF)
def record_milestone(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    form = ManualMilestoneForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(public_id)
    data = form.cleaned_data
    try:
        shipment_services.milestone_record_manual(
            shipment=shipment,
            milestone=data["milestone"],
            occurred_at=data["occurred_at"],
            reason=data["reason"],
            location=data.get("location") or "",
            actor=user_of(request),
        )
        messages.success(request, _("Milestone recorded."))
    except DomainError as error:
        messages.error(request, str(error))
    return _back(public_id)


@require_POST
@ops_view(STAFF)
def correct_event(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    form = CorrectForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(public_id)
    data = form.cleaned_data
    event = TrackingEvent.objects.filter(shipment=shipment, pk=data["event"]).first()
    if event is None:
        raise Http404()
    try:
        if data["action"] == "void":
            shipment_services.event_void(event=event, reason=data["reason"], actor=user_of(request))
            messages.success(request, _("Event voided."))
        else:
            shipment_services.event_correct(
                event=event,
                reason=data["reason"],
                actor=user_of(request),
                occurred_at=data.get("occurred_at"),
            )
            messages.success(request, _("Event corrected."))
    except DomainError as error:
        messages.error(request, str(error))
    return _back(public_id)


@require_POST
@ops_view(STAFF)
def upload_document(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(public_id)
    upload = form.cleaned_data["file"]
    try:
        document_services.document_store(
            body=upload.read(),
            filename=upload.name,
            declared_size=upload.size,
            document_type=form.cleaned_data.get("document_type") or "",
            shipment=shipment,
        )
        messages.success(request, _("Document uploaded; it is read in the background."))
    except (IngestError, DomainError) as error:
        messages.error(request, str(error))
    return _back(public_id)


@require_POST
@ops_view(STAFF)
def migrate_template(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _shipment_or_404(public_id)
    form = MigrateForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(public_id)
    version = TemplateVersion.objects.filter(
        pk=form.cleaned_data["version"], template_id=shipment.template_version.template_id
    ).first()
    if version is None:
        raise Http404()
    try:
        shipment_services.shipment_migrate_template(
            shipment=shipment,
            version=version,
            reason=form.cleaned_data["reason"],
            actor=user_of(request),
        )
        messages.success(request, _("Moved to template version %(n)s.") % {"n": version.number})
    except DomainError as error:
        messages.error(request, str(error))
    return _back(public_id)

"""Bulk import of shipments at /ops/import/: upload, mapping, dry run, start, progress
(polled by htmx), result. Writers only (STAFF)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from portal.ops import importing, services
from portal.ops.access import ops_view, user_of
from portal.ops.models import ImportStatus, ShipmentImport
from tenancy.errors import DomainError
from tenancy.models import STAFF

PREVIEW_ROWS = 200


def _job_or_404(import_id: int) -> ShipmentImport:
    job = ShipmentImport.objects.filter(pk=import_id).first()  # RLS + tenant manager
    if job is None:
        raise Http404()
    return job


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def import_home(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a .csv or .xlsx file."))
        else:
            try:
                job = services.import_upload(
                    user=user_of(request), name=upload.name or "upload", data=upload.read()
                )
            except DomainError as error:
                messages.error(request, str(error))
            else:
                return redirect("ops-import-detail", import_id=job.pk)
    recent = ShipmentImport.objects.defer("rows", "created", "skipped", "rejected")[:20]
    return render(request, "ops/import.html", {"recent": recent})


def _mapping_from(request: HttpRequest) -> dict[str, int]:
    mapping = {}
    for name in importing.FIELDS:
        value = request.POST.get(f"map_{name}", "")
        if value.lstrip("-").isdigit() and int(value) >= 0:
            mapping[name] = int(value)
    return mapping


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job_or_404(import_id)
    outcomes = None
    if request.method == "POST":
        try:
            job = services.import_map(job=job, mapping=_mapping_from(request))
            if request.POST.get("action") == "start":
                services.import_start(job=job, actor=user_of(request))
                return redirect("ops-import-detail", import_id=job.pk)
            outcomes = services.import_check(job=job)
        except DomainError as error:
            messages.error(request, str(error))
    context = {
        "job": job,
        "fields": [
            (name, label, required, chosen, _first_values(job, chosen))
            for name, (label, required, _words) in importing.FIELDS.items()
            for chosen in [job.mapping.get(name)]
        ],
        "columns": list(enumerate(job.headers)),
    }
    if outcomes is not None:
        context["outcomes"] = outcomes[:PREVIEW_ROWS]
        context["more"] = max(0, len(outcomes) - PREVIEW_ROWS)
        context["counts"] = {
            kind: sum(1 for o in outcomes if o.outcome == kind)
            for kind in ("create", "skip", "reject")
        }
    return render(request, "ops/import_detail.html", context)


def _first_values(job: ShipmentImport, column: int | None) -> list[str]:
    if column is None:
        return []
    return [row[column] for row in job.rows[:3] if column < len(row) and row[column]]


@require_GET
@ops_view(STAFF)
def import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job_or_404(import_id)
    return render(request, "ops/_import_progress.html", {"job": job})


__all__ = ["ImportStatus", "import_detail", "import_home", "import_progress"]

"""Long operations' pages: start an export of the list, a job's progress (polled by htmx),
its result and the exported file. The work is portal/ops/jobs.py, run by Celery."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.ops import jobs, services
from portal.ops.access import ops_view, user_of
from portal.ops.models import JobKind, OpsJob
from tenancy.errors import DomainError
from tenancy.models import OFFICE, STAFF


def _job_or_404(request: HttpRequest, job_id: int) -> OpsJob:
    """Another tenant's job is missing (RLS and the tenant manager); a replay is for the
    roles that may replay (STAFF), an export for whoever may read the list (OFFICE)."""
    job = jobs.job_get(job_id=job_id)
    role = request.membership.role  # type: ignore[attr-defined]
    if job is None or (job.kind == JobKind.REPLAY and role not in STAFF):
        raise Http404()
    return job


@require_POST
@ops_view(OFFICE)
def export_start(request: HttpRequest) -> HttpResponse:
    try:
        job = services.export_start(
            actor=user_of(request),
            query=request.POST.get("query", "")[:2000],
            fmt=request.POST.get("format", "csv"),
        )
    except DomainError as error:
        messages.error(request, str(error))
        return redirect("ops-shipments")
    return redirect("ops-job", job_id=job.pk)


@require_GET
@ops_view(OFFICE)
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    role = request.membership.role  # type: ignore[attr-defined]
    recent = jobs.jobs_recent(kind=None if role in STAFF else JobKind.EXPORT, limit=11)
    recent = [j for j in recent if j.pk != job.pk][:10]  # this one is followed above
    return render(request, "ops/job_detail.html", {"job": job, "recent": recent})


@require_GET
@ops_view(OFFICE)
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    return render(request, "ops/_job_progress.html", {"job": job})


@require_GET
@ops_view(OFFICE)
def job_download(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    try:
        data = jobs.job_file(job=job)
    except DomainError:
        raise Http404() from None
    response = HttpResponse(data, content_type=job.file_type)
    response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
    return response


__all__ = ["export_start", "job_detail", "job_download", "job_progress"]

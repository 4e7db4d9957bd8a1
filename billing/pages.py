"""Finance pages (server-rendered): accruals and the period view, invoices, reconciliation,
export jobs (progress polled by htmx, download when done).
Finance and admin members only; everyone else gets 403 (a member of another tenant never
sees this tenant's rows: every query runs in the caller's tenant context, under RLS)."""

from __future__ import annotations

from datetime import date
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from billing import exports, reconciliation, selectors, services
from billing.api import FINANCE_ROLES, month_bounds
from billing.exporting import ExportFilters
from billing.models import (
    CarrierInvoice,
    CarrierInvoiceLine,
    ChargeStatus,
    ExportFormat,
    ExportJob,
    ExportKind,
    ExportStatus,
    Invoice,
)
from tenancy.errors import DomainError
from tenancy.models import CustomerAccount


def finance_only(view):
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if getattr(request, "tenant", None) is None or membership is None:
            return render(request, "finance/forbidden.html", status=403)
        if membership.role not in FINANCE_ROLES:
            return render(request, "finance/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _month(value: str | None) -> tuple[date, date, str]:
    today = timezone.now().date()
    try:
        start = date.fromisoformat(f"{value}-01") if value else today.replace(day=1)
    except ValueError:
        start = today.replace(day=1)
    start, end = month_bounds(f"{start:%Y-%m}")
    return start, end, f"{start:%Y-%m}"


def _export_context() -> dict:
    return {
        "customers": CustomerAccount.objects.order_by("name"),
        "statuses": ChargeStatus.choices,
        "kinds": ExportKind.choices,
        "formats": ExportFormat.choices,
        "jobs": ExportJob.objects.select_related("created_by")[:10],
    }


@require_GET
@finance_only
def finance_home(request: HttpRequest) -> HttpResponse:
    start, end, month = _month(request.GET.get("period"))
    rows = selectors.accruals(period_start=start, period_end=end)
    count = selectors.charge_list(period_start=start, period_end=end).count()
    return render(
        request,
        "finance/home.html",
        {
            "rows": rows,
            "period": month,
            "period_start": start,
            "period_end": end,
            "charge_count": count,
            # Larger periods are exported by a job (progress, download link) only.
            "sync_links": count <= settings.BILLING_EXPORT_SYNC_MAX_ROWS,
            **_export_context(),
        },
    )


def _export_filters(data) -> ExportFilters:
    """The export form: ``period`` (YYYY-MM, empty for every period), ``customer`` (an id of
    this tenant's accounts, empty for all), ``status`` (empty for all)."""
    month = (data.get("period") or "").strip()
    start, end = month_bounds(month) if month else (None, None)
    customer = (data.get("customer") or "").strip()
    if customer and (not customer.isdigit() or len(customer) > 18):
        raise DomainError("Choose a customer.", field="customer")
    return ExportFilters(
        period_start=start,
        period_end=end,
        customer=int(customer) if customer else None,
        status=(data.get("status") or "").strip() or None,
    )


@require_http_methods(["GET", "POST"])
@finance_only
def finance_exports(request: HttpRequest) -> HttpResponse:
    """The export jobs; POST starts one (always a job from here, whatever its size)."""
    error = ""
    if request.method == "POST":
        try:
            job = services.export_job_create(
                kind=request.POST.get("kind", ""),
                file_format=request.POST.get("format", ""),
                filters=_export_filters(request.POST),
                actor=request.user,  # type: ignore[arg-type]
            )
            return redirect("finance-export", export_id=job.pk)
        except DomainError as failure:
            error = str(failure)
    context = _export_context() | {
        "jobs": ExportJob.objects.select_related("created_by")[:50],
        "period": _month(None)[2],
        "error": error,
    }
    return render(request, "finance/exports.html", context, status=400 if error else 200)


def _job_or_404(export_id: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=export_id).first()  # tenant manager + RLS
    if job is None:
        raise Http404()
    return job


@require_GET
@finance_only
def finance_export(request: HttpRequest, export_id: int) -> HttpResponse:
    job = _job_or_404(export_id)
    return render(request, "finance/export_detail.html", {"job": job, **_describe(job)})


@require_GET
@finance_only
def finance_export_progress(request: HttpRequest, export_id: int) -> HttpResponse:
    return render(request, "finance/_export_progress.html", {"job": _job_or_404(export_id)})


@require_GET
@finance_only
def finance_export_download(request: HttpRequest, export_id: int) -> HttpResponseBase:
    job = _job_or_404(export_id)
    if job.status != ExportStatus.DONE or not job.file.name:
        raise Http404()
    response = FileResponse(
        default_storage.open(job.file.name, "rb"),
        as_attachment=True,
        filename=job.file_name,
        content_type=exports.CONTENT_TYPES[job.format],
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _describe(job: ExportJob) -> dict:
    filters = ExportFilters.from_json(job.filters)
    customer = (
        CustomerAccount.objects.filter(pk=filters.customer).first() if filters.customer else None
    )
    return {"filters": filters, "customer": customer}


@finance_only
def finance_invoices(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "issue":
                invoice = Invoice.objects.filter(public_id=request.POST.get("invoice", "")).first()
                if invoice is None:
                    raise DomainError("Unknown invoice.")
                services.invoice_issue(invoice=invoice, actor=request.user)  # type: ignore[arg-type]
            else:
                start, end, _ = _month(request.POST.get("period"))
                customer = CustomerAccount.objects.filter(
                    pk=int(request.POST.get("customer") or 0)
                ).first()
                if customer is None:
                    raise DomainError("Choose a customer.")
                services.invoice_draft_create(
                    customer_account=customer,
                    period_start=start,
                    period_end=end,
                    currency=request.POST.get("currency") or None,
                    actor=request.user,  # type: ignore[arg-type]
                )
            return redirect("finance-invoices")
        except (DomainError, ValueError) as failure:
            error = str(failure)
    return render(
        request,
        "finance/invoices.html",
        {
            "invoices": selectors.invoice_list()[:200],
            "customers": CustomerAccount.objects.order_by("name"),
            "period": _month(None)[2],
            "error": error,
        },
        status=400 if error else 200,
    )


@finance_only
def finance_reconciliation(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("Attach the carrier's invoice.")
            invoice = reconciliation.carrier_invoice_import(
                data=upload.read(),
                file_name=upload.name or "",
                mapping=None,
                carrier=request.POST.get("carrier", ""),
                reference=request.POST.get("reference", ""),
                currency=request.POST.get("currency") or "EUR",
                actor=request.user,  # type: ignore[arg-type]
            )
            return redirect(f"{request.path}?id={invoice.pk}")
        except DomainError as failure:
            error = str(failure)
    selected = None
    lines: list[CarrierInvoiceLine] = []
    shown = request.GET.get("id", "")
    if shown.isdigit() and len(shown) <= 18:
        selected = CarrierInvoice.objects.filter(pk=int(shown)).first()
        if selected is not None:
            lines = list(CarrierInvoiceLine.objects.filter(carrier_invoice=selected))
    return render(
        request,
        "finance/reconciliation.html",
        {
            "imports": selectors.carrier_invoice_list()[:100],
            "selected": selected,
            "lines": lines,
            "error": error,
        },
        status=400 if error else 200,
    )

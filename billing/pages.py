"""Finance pages (server-rendered): accruals and the period view, invoices, reconciliation.
Finance and admin members only; everyone else gets 403 (a member of another tenant never
sees this tenant's rows: every query runs in the caller's tenant context, under RLS)."""

from __future__ import annotations

from datetime import date
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from billing import reconciliation, selectors, services
from billing.api import FINANCE_ROLES, month_bounds
from billing.models import CarrierInvoice, CarrierInvoiceLine, Invoice
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


@finance_only
def finance_home(request: HttpRequest) -> HttpResponse:
    start, end, month = _month(request.GET.get("period"))
    rows = selectors.accruals(period_start=start, period_end=end)
    return render(
        request,
        "finance/home.html",
        {"rows": rows, "period": month, "period_start": start, "period_end": end},
    )


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

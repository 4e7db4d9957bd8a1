"""Billing API (finance): charge and journal exports, accruals, invoices (draft, issue,
credit note, PDF/XLSX/UBL), carrier-invoice reconciliation. Thin views: the rules live in
billing.services / billing.reconciliation, the reads in billing.selectors.

Who: tenant members with the finance or admin role; partner keys with the ``finance`` scope
may read (GET) but not create or issue. Customer-limited callers get 403 (customer_scope None).
"""

from __future__ import annotations

import calendar
import json
from datetime import date
from typing import Any, ClassVar

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing import documents, exports, reconciliation, selectors, services
from billing.models import (
    CarrierInvoice,
    CarrierInvoiceLine,
    ChargeStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from billing.money import format_money
from billing.serializers import CarrierInvoiceUpload, DecisionIn, InvoiceIn
from shipments.models import Shipment
from tenancy.api.base import NO_KEYS, MethodMap, TenantAPIView
from tenancy.api.parsers import JSONParser
from tenancy.errors import Conflict, DomainError, NotFound
from tenancy.models import ApiScope, CustomerAccount, Role

FINANCE_ROLES = frozenset({Role.ADMIN, Role.FINANCE})
FINANCE_SCOPE = frozenset({ApiScope.FINANCE})
INVOICE_ID_PATTERN = "inv_[0-9a-hjkmnp-tv-z]{16}"
ID_MAX = 10**18 - 1
INVOICE_ID = OpenApiParameter(
    "invoice_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=f"^{INVOICE_ID_PATTERN}$",
    description="The invoice's id (inv_…)",
)


class FinanceAPIView(TenantAPIView):
    role_map: ClassVar[MethodMap] = {"GET": FINANCE_ROLES}
    scope_map: ClassVar[MethodMap] = {"GET": FINANCE_SCOPE}
    customer_scope = None


class IgnoreFormatParameter(DefaultContentNegotiation):
    """``?format=csv|xlsx`` picks the export's file type, not a DRF renderer (errors are
    JSON, the first renderer)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)


def _date(request: Request, name: str, default: date | None = None) -> date | None:
    value = request.query_params.get(name) if hasattr(request, "query_params") else None
    return _parse_date(value, name, default)


def _parse_date(value: Any, name: str, default: date | None = None) -> date | None:
    if value is None:
        return default
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DomainError(f"{name} must be a date (YYYY-MM-DD).", field=name) from None


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``."""
    try:
        start = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise DomainError("period must be YYYY-MM.", field="period") from None
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _period(request: Request) -> tuple[date | None, date | None]:
    """``period=YYYY-MM`` (a month) or ``period_start`` / ``period_end``."""
    month = request.query_params.get("period")
    if month is not None:
        return month_bounds(month)
    return _date(request, "period_start"), _date(request, "period_end")


def _status(request: Request, choices: list[str]) -> str | None:
    value = request.query_params.get("status")
    if value is not None and value not in choices:  # "?status=" names no status: refused
        raise DomainError(f"status must be one of {', '.join(choices)}.", field="status")
    return value


def _customer_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise DomainError("customer must be a customer account id.", field="customer")
    if not CustomerAccount.objects.filter(pk=int(text)).exists():
        raise NotFound("Unknown customer account.")
    return int(text)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    return data if isinstance(data, dict) else {}  # a QueryDict (multipart) is a dict


def _file(content: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _format(request: Request) -> str:
    value = request.query_params.get("format", "csv")
    if value not in ("csv", "xlsx"):
        raise DomainError("format must be csv or xlsx.", field="format")
    return value


EXPORT_PARAMETERS = [
    OpenApiParameter("format", str, enum=["csv", "xlsx"], required=False),
    OpenApiParameter(
        "period",
        {"type": "string", "pattern": "^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"},
        description="A month, YYYY-MM (else period_start and period_end)",
        required=False,
    ),
    OpenApiParameter("period_start", OpenApiTypes.DATE, required=False),
    OpenApiParameter("period_end", OpenApiTypes.DATE, required=False),
    OpenApiParameter(
        "customer", {"type": "integer", "minimum": 1, "maximum": ID_MAX}, required=False
    ),
    OpenApiParameter("status", str, enum=list(ChargeStatus.values), required=False),
]
EXPORT_RESPONSES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV"),
    (200, exports.XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX"),
}


class ChargeExportView(FinanceAPIView):
    """The charges (and credit lines) of a period as CSV or XLSX."""

    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(parameters=EXPORT_PARAMETERS, responses=EXPORT_RESPONSES)
    def get(self, request: Request) -> HttpResponse:
        kind = _format(request)
        start, end = _period(request)
        status = _status(request, ChargeStatus.values)
        charges = selectors.charge_list(
            period_start=start,
            period_end=end,
            customer_account_id=_customer_id(request.query_params.get("customer")),
            status=status,
        ).select_related("invoice")
        if kind == "xlsx":
            body = exports.to_xlsx([exports.charges_table(charges, signed=True)])
            return _file(body, exports.XLSX_TYPE, "charges.xlsx")
        body = exports.to_csv(exports.charges_table(charges, signed=False))
        return _file(body, exports.CSV_TYPE, "charges.csv")


class JournalExportView(FinanceAPIView):
    """Journal entries of the period's charges: date, account, debit, credit, reference,
    customer (and currency), as CSV or XLSX."""

    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(parameters=EXPORT_PARAMETERS, responses=EXPORT_RESPONSES)
    def get(self, request: Request) -> HttpResponse:
        kind = _format(request)
        start, end = _period(request)
        charges = selectors.charge_list(
            period_start=start,
            period_end=end,
            customer_account_id=_customer_id(request.query_params.get("customer")),
            status=_status(request, ChargeStatus.values),
        )
        if kind == "xlsx":
            body = exports.to_xlsx([exports.journal_table(charges, signed=True)])
            return _file(body, exports.XLSX_TYPE, "journal.xlsx")
        return _file(
            exports.to_csv(exports.journal_table(charges, signed=False)),
            exports.CSV_TYPE,
            "journal.csv",
        )


class AccrualsView(FinanceAPIView):
    """Per customer and currency: accrued, invoiced and not yet invoiced revenue, and cost."""

    @extend_schema(parameters=EXPORT_PARAMETERS[1:4], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        if start is None or end is None:  # the current month by default
            this_month = month_bounds(f"{timezone.now().date():%Y-%m}")
            start, end = start or this_month[0], end or this_month[1]
        rows = selectors.accruals(period_start=start, period_end=end)
        return Response(
            {
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "results": [
                    {
                        "customer": row.customer_account_id,
                        "customer_name": row.customer,
                        "currency": row.currency,
                        "accrued": format_money(row.accrued, row.currency),
                        "invoiced": format_money(row.invoiced, row.currency),
                        "not_invoiced": format_money(row.not_invoiced, row.currency),
                        "cost": format_money(row.cost, row.currency),
                    }
                    for row in rows
                ],
            }
        )


def invoice_out(invoice: Invoice, lines: list[InvoiceLine] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": invoice.public_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "number": invoice.number or None,
        "customer": invoice.customer_account_id,
        "customer_name": invoice.customer_account.name,
        "currency": invoice.currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "net_total": format_money(invoice.net_total, invoice.currency),
        "tax_total": format_money(invoice.tax_total, invoice.currency),
        "total": format_money(invoice.total, invoice.currency),
        "credits": invoice.credits.public_id if invoice.credits_id and invoice.credits else None,
    }
    if lines is not None:
        data["lines"] = [
            {
                "position": line.position,
                "shipment_reference": line.shipment_reference,
                "code": line.code,
                "description": line.description,
                "quantity": str(line.quantity.normalize()),
                "unit_amount": str(line.unit_amount.normalize()),
                "net_amount": format_money(line.net_amount, invoice.currency),
                "tax_rate": str(line.tax_rate),
                "tax_amount": format_money(line.tax_amount, invoice.currency),
                "total": format_money(line.total, invoice.currency),
            }
            for line in lines
        ]
    return data


class InvoiceListView(FinanceAPIView):
    """GET the invoices; POST a draft from the uninvoiced charges of a customer and period:
    ``{"customer": id, "period_start", "period_end", "currency"?, "shipment"?}``."""

    role_map = {"GET": FINANCE_ROLES, "POST": FINANCE_ROLES}
    scope_map = {"GET": FINANCE_SCOPE}  # keys read; issuing money is for people

    @extend_schema(
        operation_id="billing_invoices_list",
        parameters=[
            OpenApiParameter("status", str, enum=list(InvoiceStatus.values), required=False),
            EXPORT_PARAMETERS[4],
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        invoices = selectors.invoice_list(
            status=_status(request, InvoiceStatus.values),
            customer_account_id=_customer_id(request.query_params.get("customer")),
        ).select_related("credits")[:200]
        return Response({"results": [invoice_out(i) for i in invoices]})

    @extend_schema(request=InvoiceIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = InvoiceIn(data=_body(request))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = CustomerAccount.objects.filter(pk=values["customer"]).first()
        if customer is None:
            raise NotFound("Unknown customer account.")
        shipment = None
        if values.get("shipment"):
            shipment = Shipment.objects.filter(public_id=values["shipment"]).first()
            if shipment is None:
                raise NotFound("Unknown shipment.")
        invoice = services.invoice_draft_create(
            customer_account=customer,
            period_start=values["period_start"],
            period_end=values["period_end"],
            currency=values.get("currency"),
            shipment=shipment,
            actor=self.actor,
        )
        return Response(invoice_out(invoice, selectors.invoice_lines(invoice)), status=201)


def _invoice(public_id: str) -> Invoice:
    invoice = (
        Invoice.objects.select_related("customer_account", "credits")
        .filter(public_id=public_id)
        .first()
    )
    if invoice is None:
        raise NotFound()
    return invoice


class InvoiceDetailView(FinanceAPIView):
    @extend_schema(parameters=[INVOICE_ID], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, invoice_id: str) -> Response:
        invoice = _invoice(invoice_id)
        return Response(invoice_out(invoice, selectors.invoice_lines(invoice)))


class InvoiceIssueView(FinanceAPIView):
    role_map = {"POST": FINANCE_ROLES}
    scope_map = NO_KEYS

    @extend_schema(parameters=[INVOICE_ID], request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, invoice_id: str) -> Response:
        invoice = services.invoice_issue(invoice=_invoice(invoice_id), actor=self.actor)
        invoice = _invoice(invoice.public_id)
        return Response(invoice_out(invoice, selectors.invoice_lines(invoice)))


class CreditNoteView(FinanceAPIView):
    """POST: a draft credit note reversing an issued invoice (issue it like an invoice)."""

    role_map = {"POST": FINANCE_ROLES}
    scope_map = NO_KEYS

    @extend_schema(parameters=[INVOICE_ID], request=None, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, invoice_id: str) -> Response:
        note = services.credit_note_create(invoice=_invoice(invoice_id), actor=self.actor)
        note = _invoice(note.public_id)
        return Response(invoice_out(note, selectors.invoice_lines(note)), status=201)


def _file_name(invoice: Invoice, extension: str) -> str:
    return f"{invoice.number or invoice.public_id}.{extension}"


def _binary(media_type: str) -> dict:
    return {(200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="the file")}


class InvoicePdfView(FinanceAPIView):
    @extend_schema(parameters=[INVOICE_ID], responses=_binary("application/pdf"))
    def get(self, request: Request, invoice_id: str) -> HttpResponse:
        invoice = _invoice(invoice_id)
        body = documents.invoice_pdf(invoice, selectors.invoice_lines(invoice), self.tenant)
        return _file(body, "application/pdf", _file_name(invoice, "pdf"))


class InvoiceXlsxView(FinanceAPIView):
    @extend_schema(parameters=[INVOICE_ID], responses=_binary(exports.XLSX_TYPE))
    def get(self, request: Request, invoice_id: str) -> HttpResponse:
        invoice = _invoice(invoice_id)
        body = exports.to_xlsx(exports.invoice_tables(invoice, selectors.invoice_lines(invoice)))
        return _file(body, exports.XLSX_TYPE, _file_name(invoice, "xlsx"))


class InvoiceUblView(FinanceAPIView):
    """UBL 2.1 (Peppol BIS Billing 3.0) of an issued invoice or credit note."""

    @extend_schema(parameters=[INVOICE_ID], responses=_binary("application/xml"))
    def get(self, request: Request, invoice_id: str) -> HttpResponse:
        invoice = _invoice(invoice_id)
        if invoice.status != InvoiceStatus.ISSUED:
            raise Conflict("Only issued invoices have a UBL document.", code="not_issued")
        body = documents.invoice_ubl(invoice, selectors.invoice_lines(invoice), self.tenant)
        return _file(body, "application/xml", _file_name(invoice, "xml"))


# --- reconciliation -------------------------------------------------------------------------


def _upload(request: Request) -> tuple[bytes, str, dict[str, str] | None]:
    fields = dict(_body(request).items())  # a QueryDict's items() are its last values
    form = CarrierInvoiceUpload(data=fields | dict(request.FILES.items()))
    form.is_valid(raise_exception=True)
    upload = form.validated_data["file"]
    if upload.size and upload.size > reconciliation.MAX_BYTES:
        raise DomainError("The file is larger than 5 MB.", code="file_too_large", field="file")
    raw_mapping = _body(request).get("mapping")
    mapping = None
    if raw_mapping:
        try:
            mapping = json.loads(raw_mapping)
        except (TypeError, ValueError):
            raise DomainError("mapping must be a JSON object.", field="mapping") from None
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise DomainError("mapping must map fields to column names.", field="mapping")
    return upload.read(), upload.name or "", mapping


def line_out(line: CarrierInvoiceLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "row": line.row,
        "shipment_reference": line.shipment_reference,
        "matched_reference": line.matched_reference or None,
        "match_score": None if line.match_score is None else str(line.match_score),
        "charge_code": line.charge_code,
        "amount": format_money(line.amount, line.currency),
        "currency": line.currency,
        "expected_amount": None
        if line.expected_amount is None
        else format_money(line.expected_amount, line.currency),
        "variance": format_money(line.variance, line.currency),
        "result": line.result,
        "decision": line.decision,
        "dispute_evidence": line.dispute_evidence or None,
    }


def carrier_invoice_out(invoice: CarrierInvoice, with_lines: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": invoice.pk,
        "carrier": invoice.carrier,
        "reference": invoice.reference,
        "file_name": invoice.file_name,
        "mapping": invoice.mapping,
        "imported_at": invoice.imported_at,
    }
    if with_lines:
        lines = list(CarrierInvoiceLine.objects.filter(carrier_invoice=invoice))
        data["lines"] = [line_out(line) for line in lines]
        counts: dict[str, int] = {}
        for line in lines:
            counts[line.result] = counts.get(line.result, 0) + 1
        data["summary"] = counts
    return data


class ReconciliationListView(FinanceAPIView):
    """GET the imported carrier invoices; POST (multipart) imports one: ``file`` (CSV or
    XLSX), ``mapping`` (JSON: reference, amount, charge_code, currency, description -> column),
    ``carrier``, ``reference``, ``currency`` (when the file has no currency column)."""

    role_map = {"GET": FINANCE_ROLES, "POST": FINANCE_ROLES}
    scope_map = {"GET": FINANCE_SCOPE}
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="billing_reconciliations_list", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request: Request) -> Response:
        invoices = selectors.carrier_invoice_list()[:200]
        return Response({"results": [carrier_invoice_out(i, with_lines=False) for i in invoices]})

    @extend_schema(
        request={"multipart/form-data": CarrierInvoiceUpload},
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data, name, mapping = _upload(request)
        form = _body(request)
        invoice = reconciliation.carrier_invoice_import(
            data=data,
            file_name=name,
            mapping=mapping,
            carrier=str(form.get("carrier") or ""),
            reference=str(form.get("reference") or ""),
            currency=str(form.get("currency") or "EUR"),
            actor=self.actor,
        )
        return Response(carrier_invoice_out(invoice), status=201)


class ReconciliationPreviewView(FinanceAPIView):
    """POST (multipart) a file and optionally a mapping: its columns, the guessed or given
    mapping and the first rows as they would be read. Nothing is stored."""

    role_map = {"POST": FINANCE_ROLES}
    scope_map = NO_KEYS
    parser_classes = [MultiPartParser]
    idempotent = False  # stores nothing: a retry computes the same preview

    @extend_schema(
        request={"multipart/form-data": CarrierInvoiceUpload},
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data, name, mapping = _upload(request)
        return Response(
            reconciliation.preview(
                data, name, mapping, currency=str(_body(request).get("currency") or "EUR")
            )
        )


def _carrier_invoice(pk: int) -> CarrierInvoice:
    found = CarrierInvoice.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


class ReconciliationDetailView(FinanceAPIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, reconciliation_id: int) -> Response:
        return Response(carrier_invoice_out(_carrier_invoice(reconciliation_id)))


class ReconciliationLineView(FinanceAPIView):
    """POST ``{"decision": "accepted"|"disputed", "note": "…"}`` on one line."""

    role_map = {"POST": FINANCE_ROLES}
    scope_map = NO_KEYS

    @extend_schema(request=DecisionIn, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, reconciliation_id: int, line_id: int) -> Response:
        data = DecisionIn(data=_body(request))
        data.is_valid(raise_exception=True)
        line = reconciliation.line_decide(
            line_id=line_id,
            carrier_invoice=_carrier_invoice(reconciliation_id),
            decision=data.validated_data["decision"],
            note=data.validated_data.get("note", ""),
            actor=self.actor,
        )
        return Response(line_out(line))

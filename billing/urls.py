"""URL patterns of billing's API, mounted at /api/v1/billing/ by config.urls (fixed: other
tools rely on them)."""

from django.urls import path, register_converter

from billing import api


class InvoiceIdConverter:
    regex = api.INVOICE_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(InvoiceIdConverter, "invoice_id")

urlpatterns = [
    path("charges/export/", api.ChargeExportView.as_view(), name="billing-charges-export"),
    path("journal/export/", api.JournalExportView.as_view(), name="billing-journal-export"),
    path("accruals/", api.AccrualsView.as_view(), name="billing-accruals"),
    path("invoices/", api.InvoiceListView.as_view(), name="billing-invoices"),
    path(
        "invoices/<invoice_id:invoice_id>/", api.InvoiceDetailView.as_view(), name="billing-invoice"
    ),
    path(
        "invoices/<invoice_id:invoice_id>/issue/",
        api.InvoiceIssueView.as_view(),
        name="billing-invoice-issue",
    ),
    path(
        "invoices/<invoice_id:invoice_id>/credit-note/",
        api.CreditNoteView.as_view(),
        name="billing-invoice-credit-note",
    ),
    path(
        "invoices/<invoice_id:invoice_id>/pdf/",
        api.InvoicePdfView.as_view(),
        name="billing-invoice-pdf",
    ),
    path(
        "invoices/<invoice_id:invoice_id>/xlsx/",
        api.InvoiceXlsxView.as_view(),
        name="billing-invoice-xlsx",
    ),
    path(
        "invoices/<invoice_id:invoice_id>/ubl/",
        api.InvoiceUblView.as_view(),
        name="billing-invoice-ubl",
    ),
    path("reconciliations/", api.ReconciliationListView.as_view(), name="billing-reconciliations"),
    path(
        "reconciliations/preview/",
        api.ReconciliationPreviewView.as_view(),
        name="billing-reconciliation-preview",
    ),
    path(
        "reconciliations/<id:reconciliation_id>/",
        api.ReconciliationDetailView.as_view(),
        name="billing-reconciliation",
    ),
    path(
        "reconciliations/<id:reconciliation_id>/lines/<id:line_id>/",
        api.ReconciliationLineView.as_view(),
        name="billing-reconciliation-line",
    ),
]

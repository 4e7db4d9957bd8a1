"""Finance pages, mounted at /finance/ by config.urls."""

from django.urls import path

from billing import pages

urlpatterns = [
    path("", pages.finance_home, name="finance-home"),
    path("invoices/", pages.finance_invoices, name="finance-invoices"),
    path("reconciliation/", pages.finance_reconciliation, name="finance-reconciliation"),
    path("exports/", pages.finance_exports, name="finance-exports"),
    path("exports/<id:export_id>/", pages.finance_export, name="finance-export"),
    path(
        "exports/<id:export_id>/progress/",
        pages.finance_export_progress,
        name="finance-export-progress",
    ),
    path(
        "exports/<id:export_id>/download/",
        pages.finance_export_download,
        name="finance-export-download",
    ),
]

"""Finance pages, mounted at /finance/ by config.urls."""

from django.urls import path

from billing import pages

urlpatterns = [
    path("", pages.finance_home, name="finance-home"),
    path("invoices/", pages.finance_invoices, name="finance-invoices"),
    path("reconciliation/", pages.finance_reconciliation, name="finance-reconciliation"),
]

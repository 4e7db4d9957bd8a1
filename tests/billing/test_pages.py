"""Finance pages: finance and admin members of the tenant only; the data is the tenant's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import Invoice
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.billing.factories import freight, rate_card, record, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

PAGES = ("finance-home", "finance-invoices", "finance-reconciliation")


@pytest.fixture
def billed(acme):
    rate_card(acme.tenant, freight("100"))
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    record(acme.tenant, ship, "delivered", datetime(2026, 3, 10, 9, tzinfo=UTC))
    return acme


@covers_url(*PAGES)
def test_pages_are_for_finance_only(billed):
    for name in PAGES:
        for role in ("finance", "admin"):
            assert billed.client(role).get(reverse(name)).status_code == 200, (name, role)
        for role in ("ops", "sales", "customer", "driver"):
            assert billed.client(role).get(reverse(name)).status_code == 403, (name, role)
        anonymous = billed.client("anonymous").get(reverse(name))
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@covers_url("finance-home", "finance-invoices")
def test_accruals_and_invoices_pages_show_only_this_tenants_data(billed):
    home = billed.client("finance").get(reverse("finance-home"), {"period": "2026-03"})
    assert billed.customer_account.name in home.content.decode()
    assert "<td>100.00</td>" in home.content.decode()
    outsider = billed.client("outsider").get(reverse("finance-home"), {"period": "2026-03"})
    assert outsider.status_code == 200
    assert billed.customer_account.name not in outsider.content.decode()
    # Draft and issue from the page.
    finance = billed.client("finance")
    drafted = finance.post(
        reverse("finance-invoices"),
        {"action": "draft", "customer": billed.customer_account.pk, "period": "2026-03"},
    )
    assert drafted.status_code == 302
    with tenant_context(billed.tenant.pk):
        invoice = Invoice.objects.get()
    # Someone of the other tenant cannot issue it (not found there).
    refused = billed.client("outsider").post(
        reverse("finance-invoices"), {"action": "issue", "invoice": invoice.public_id}
    )
    assert refused.status_code == 400
    issued = finance.post(
        reverse("finance-invoices"), {"action": "issue", "invoice": invoice.public_id}
    )
    assert issued.status_code == 302
    page = finance.get(reverse("finance-invoices")).content.decode()
    assert "INV-000001" in page and reverse("billing-invoice-ubl", args=[invoice.public_id]) in page
    assert (
        "INV-000001"
        not in billed.client("outsider").get(reverse("finance-invoices")).content.decode()
    )


@covers_url("finance-reconciliation")
def test_reconciliation_page_imports_and_shows_variances(billed):
    finance = billed.client("finance")
    upload = SimpleUploadedFile(
        "carrier.csv", b"reference,charge,amount,currency\nNOPE123,freight,10.00,EUR\n"
    )
    posted = finance.post(reverse("finance-reconciliation"), {"file": upload, "carrier": "X"})
    assert posted.status_code == 302
    page = finance.get(posted["Location"]).content.decode()
    assert "NOPE123" in page and "Unexpected" in page
    other = billed.client("outsider").get(posted["Location"]).content.decode()
    assert "NOPE123" not in other
    ops = billed.client("ops").post(reverse("finance-reconciliation"), {"file": upload})
    assert ops.status_code == 403

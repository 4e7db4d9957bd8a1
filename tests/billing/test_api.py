"""The billing API: finance (and admin) only, partner keys need the finance scope and only
read, other tenants' invoices answer 404; exports parse back with the right totals and no
cell of any export starts with a formula character."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from billing import services
from billing.exports import FORMULA_STARTS
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.billing.factories import freight, rate_card, record, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

EVIL = '=HYPERLINK("http://x.test","click")'
OTHER_ROLES = ("ops", "sales", "customer", "driver")


@pytest.fixture
def billed(acme):
    """Two delivered shipments of customer 1 in March 2026, one with an evil description."""
    rate_card(
        acme.tenant,
        freight("100.00"),
        services.LineSpec(code="handling", description=EVIL, amount="12.345", currency="EUR"),
    )
    for n in range(2):
        ship = shipment(acme.tenant, customer_account=acme.customer_account, reference=f"@REF-{n}")
        record(acme.tenant, ship, "delivered", datetime(2026, 3, 10 + n, 9, tzinfo=UTC))
    return acme


def _draft_and_issue(acme, issue: bool = True):
    finance = acme.client("finance")
    created = finance.post(
        reverse("billing-invoices"),
        {
            "customer": acme.customer_account.pk,
            "period_start": "2026-03-01",
            "period_end": "2026-03-31",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    invoice_id = created.json()["id"]
    if issue:
        issued = finance.post(reverse("billing-invoice-issue", args=[invoice_id]))
        assert issued.status_code == 200, issued.json()
    return invoice_id


def _no_formula(values) -> None:
    for value in values:
        if isinstance(value, str):
            assert not value.startswith(FORMULA_STARTS), value


def _key(tenant, scopes):
    with tenant_context(tenant.pk):
        return api_key_issue(name="partner", scopes=scopes).raw_key


@covers_url("billing-invoices", "billing-invoice", "billing-invoice-issue")
def test_invoice_flow(billed):
    invoice_id = _draft_and_issue(billed)
    assert invoice_id.startswith("inv_") and len(invoice_id) == 20
    finance = billed.client("finance")
    detail = finance.get(reverse("billing-invoice", args=[invoice_id])).json()
    # 2 x 100.00 + 2 x 12.35 (12.345 rounded half up), 19% tax on freight only.
    assert detail["number"] == "INV-000001" and detail["status"] == "issued"
    assert (detail["net_total"], detail["tax_total"], detail["total"]) == (
        "224.70",
        "38.00",
        "262.70",
    )
    assert len(detail["lines"]) == 4
    listed = finance.get(reverse("billing-invoices")).json()["results"]
    assert [i["id"] for i in listed] == [invoice_id]
    again = finance.post(reverse("billing-invoice-issue", args=[invoice_id]))
    assert again.status_code == 409
    issued = finance.get(reverse("billing-invoices"), {"status": "issued"}).json()["results"]
    assert [i["id"] for i in issued] == [invoice_id]
    assert finance.get(reverse("billing-invoices"), {"status": "draft"}).json()["results"] == []
    # "?status=" names no status: refused rather than read as "any".
    empty = finance.get(reverse("billing-invoices"), {"status": ""})
    assert empty.status_code == 400 and "status" in empty.json()["error"]["fields"]


@covers_url("billing-invoice-pdf", "billing-invoice-xlsx", "billing-invoice-ubl")
def test_invoice_documents_show_the_totals(billed):
    invoice_id = _draft_and_issue(billed)
    finance = billed.client("finance")
    pdf = finance.get(reverse("billing-invoice-pdf", args=[invoice_id]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "INV-000001" in text and "262.70" in text and "38.00" in text
    assert billed.tenant.name in text
    xlsx = finance.get(reverse("billing-invoice-xlsx", args=[invoice_id]))
    book = load_workbook(io.BytesIO(xlsx.content))
    summary = dict(book["Invoice"].iter_rows(min_row=2, values_only=True))
    assert Decimal(str(summary["total"])) == Decimal("262.70")
    lines = list(book["Lines"].iter_rows(min_row=2, values_only=True))
    assert sum(Decimal(str(row[9])) for row in lines) == Decimal("262.70")
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            _no_formula(row)
    ubl = finance.get(reverse("billing-invoice-ubl", args=[invoice_id]))
    root = ET.fromstring(ubl.content)
    ns = {
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }
    assert root.tag.endswith("}Invoice")
    assert root.findtext("cbc:CustomizationID", namespaces=ns).endswith("billing:3.0")
    assert root.findtext("cbc:ID", namespaces=ns) == "INV-000001"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns) == "262.70"
    assert root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=ns) == "38.00"
    assert len(root.findall("cac:InvoiceLine", ns)) == 4


@covers_url("billing-invoice-ubl", "billing-invoice-credit-note")
def test_only_issued_invoices_have_ubl_and_credit_notes(billed):
    draft = _draft_and_issue(billed, issue=False)
    finance = billed.client("finance")
    assert finance.get(reverse("billing-invoice-ubl", args=[draft])).status_code == 409
    assert finance.post(reverse("billing-invoice-credit-note", args=[draft])).status_code == 409
    finance.post(reverse("billing-invoice-issue", args=[draft]))
    note = finance.post(reverse("billing-invoice-credit-note", args=[draft]))
    assert note.status_code == 201 and Decimal(note.json()["total"]) == Decimal("-262.70")
    issued = finance.post(reverse("billing-invoice-issue", args=[note.json()["id"]])).json()
    ubl = finance.get(reverse("billing-invoice-ubl", args=[issued["id"]]))
    root = ET.fromstring(ubl.content)
    assert root.tag.endswith("}CreditNote")
    assert b'<cbc:PayableAmount currencyID="EUR">262.70<' in ubl.content


@covers_url("billing-charges-export")
def test_charge_export_csv_and_xlsx(billed):
    finance = billed.client("finance")
    url = reverse("billing-charges-export")
    response = finance.get(url, {"format": "csv", "period": "2026-03"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 4
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("224.70")
    assert {r["description"] for r in rows} == {"Freight", "'" + EVIL}
    for row in csv.reader(io.StringIO(response.content.decode())):
        _no_formula(row)
    book = load_workbook(io.BytesIO(finance.get(url, {"format": "xlsx"}).content))
    sheet = book["Charges"]
    header = [c.value for c in sheet[1]]
    amounts = [row[header.index("amount")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sum(Decimal(str(a)) for a in amounts) == Decimal("224.70")
    for row in sheet.iter_rows(values_only=True):
        _no_formula(row)
    # Filters: another customer, a status, a period without charges.
    assert (
        finance.get(url, {"customer": billed.other_customer_account.pk}).content.count(b"\n") == 1
    )
    assert len(finance.get(url, {"status": "invoiced"}).content.splitlines()) == 1
    assert len(finance.get(url, {"period": "2026-04"}).content.splitlines()) == 1
    assert finance.get(url, {"format": "pdf"}).status_code == 400


@covers_url("billing-journal-export")
def test_journal_balances(billed):
    finance = billed.client("finance")
    response = finance.get(reverse("billing-journal-export"), {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == [
        "date",
        "account",
        "debit",
        "credit",
        "reference",
        "customer",
        "currency",
    ]
    debit = sum(Decimal(r["debit"] or 0) for r in rows)
    credit = sum(Decimal(r["credit"] or 0) for r in rows)
    assert debit == credit == Decimal("224.70")
    for row in csv.reader(io.StringIO(response.content.decode())):
        _no_formula(row)
    book = load_workbook(
        io.BytesIO(finance.get(reverse("billing-journal-export"), {"format": "xlsx"}).content)
    )
    for row in book.active.iter_rows(values_only=True):
        _no_formula(row)


@covers_url("billing-accruals")
def test_accruals(billed):
    finance = billed.client("finance")
    data = finance.get(reverse("billing-accruals"), {"period": "2026-03"}).json()
    [row] = data["results"]
    assert (Decimal(row["accrued"]), Decimal(row["not_invoiced"])) == (
        Decimal("224.70"),
        Decimal("224.70"),
    )
    current = finance.get(reverse("billing-accruals")).json()  # the current month
    assert current["results"] == [] and current["period_start"].endswith("-01")
    assert finance.get(reverse("billing-accruals"), {"period": "2026-13"}).status_code == 400


GETS = (
    ("billing-charges-export", False),
    ("billing-journal-export", False),
    ("billing-invoices", False),
    ("billing-invoice", True),
    ("billing-invoice-pdf", True),
    ("billing-invoice-xlsx", True),
    ("billing-invoice-ubl", True),
    ("billing-reconciliations", False),
)


@covers_url(*(name for name, _ in GETS), "billing-accruals")
def test_every_read_is_for_finance_of_this_tenant_only(billed):
    invoice_id = _draft_and_issue(billed)

    def url(name, with_id):
        return reverse(name, args=[invoice_id]) if with_id else reverse(name)

    for name, with_id in GETS:
        assert billed.client("finance").get(url(name, with_id)).status_code == 200, name
        assert billed.client("admin").get(url(name, with_id)).status_code == 200, name
        for role in OTHER_ROLES:
            assert billed.client(role).get(url(name, with_id)).status_code == 403, (name, role)
        assert billed.client("anonymous").get(url(name, with_id)).status_code in (401, 403)
        outsider = billed.client("outsider").get(url(name, with_id))
        # The other tenant's admin: its own (empty) lists; someone else's invoice is 404.
        assert outsider.status_code == (404 if with_id else 200), name
        if not with_id and name.endswith("export"):
            assert len(outsider.content.splitlines()) <= 1
        if name in ("billing-invoices", "billing-reconciliations"):
            assert outsider.json()["results"] == []
    accruals = billed.client("outsider").get(reverse("billing-accruals"), {"period": "2026-03"})
    assert accruals.json()["results"] == []
    assert billed.client("ops").get(reverse("billing-accruals")).status_code == 403


@covers_url(*(name for name, _ in GETS), "billing-invoices", "billing-invoice-issue")
def test_partner_keys_need_the_finance_scope_and_only_read(billed):
    invoice_id = _draft_and_issue(billed, issue=False)
    reader = {"HTTP_AUTHORIZATION": f"Bearer {_key(billed.tenant, ['read', 'write'])}"}
    finance = {"HTTP_AUTHORIZATION": f"Bearer {_key(billed.tenant, ['finance'])}"}
    other = {"HTTP_AUTHORIZATION": f"Bearer {_key(billed.other_tenant, ['finance'])}"}
    client = billed.client("anonymous")
    for name, with_id in GETS:
        target = reverse(name, args=[invoice_id]) if with_id else reverse(name)
        expected = 409 if name == "billing-invoice-ubl" else 200  # a draft has no UBL yet
        assert client.get(target, **reader).status_code == 403, name
        assert client.get(target, **finance).status_code == expected, name
        assert client.get(target, **other).status_code == (404 if with_id else 200), name
    body = {
        "customer": billed.customer_account.pk,
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
    }
    posted = client.post(
        reverse("billing-invoices"), body, content_type="application/json", **finance
    )
    assert posted.status_code == 403
    assert (
        client.post(reverse("billing-invoice-issue", args=[invoice_id]), **finance).status_code
        == 403
    )


@covers_url("billing-invoices", "billing-invoice-issue", "billing-invoice-credit-note")
def test_writes_are_for_finance_and_other_tenants_get_404(billed):
    invoice_id = _draft_and_issue(billed, issue=False)
    body = {
        "customer": billed.customer_account.pk,
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
    }
    for role in OTHER_ROLES:
        client = billed.client(role)
        assert (
            client.post(
                reverse("billing-invoices"), body, content_type="application/json"
            ).status_code
            == 403
        )
        assert client.post(reverse("billing-invoice-issue", args=[invoice_id])).status_code == 403
    outsider = billed.client("outsider")
    # Another tenant's customer account and invoice do not exist for the outsider.
    assert (
        outsider.post(
            reverse("billing-invoices"), body, content_type="application/json"
        ).status_code
        == 404
    )
    assert outsider.post(reverse("billing-invoice-issue", args=[invoice_id])).status_code == 404
    assert (
        outsider.post(reverse("billing-invoice-credit-note", args=[invoice_id])).status_code == 404
    )
    # Nothing was issued by any of them.
    finance = billed.client("finance")
    assert finance.get(reverse("billing-invoice", args=[invoice_id])).json()["status"] == "draft"

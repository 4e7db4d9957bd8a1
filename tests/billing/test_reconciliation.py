"""Carrier-invoice reconciliation: mapping and preview, matching with typos in references,
matched / over / under / unexpected with the variance, accept or dispute with evidence."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from billing import reconciliation
from billing.models import CarrierInvoiceLine, Direction
from billing.services import LineSpec
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.billing.factories import freight, rate_card, record, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

COST = LineSpec(
    code="freight",
    description="Linehaul",
    amount="80.00",
    currency="EUR",
    direction=Direction.COST,
)


@pytest.fixture
def costs(acme):
    """Three delivered shipments with an expected carrier cost of 80.00 EUR each."""
    rate_card(acme.tenant, freight("100"), COST)
    for reference in ("MAEU12345678", "MAEU87654321", "HLCU55500011"):
        ship = shipment(
            acme.tenant,
            customer_account=acme.customer_account,
            carrier="Maersk",
            reference=reference,
        )
        record(acme.tenant, ship, "delivered", datetime(2026, 3, 8, 10, tzinfo=UTC))
    return acme


CARRIER_CSV = (
    b"Shipment Ref;Charge Type;Net;Cur;Text\n"
    b"MAEU12345678;freight;80.00;EUR;exact\n"
    b"MAEU1234S678;FREIGHT;80.00;EUR;typo in the reference (5 read as S)\n"  # same shipment
    b"maeu-8765-4321;freight;95.50;EUR;formatting differs, billed more\n"
    b"HLCU5550011;freight;70,00;EUR;a digit missing, billed less\n"
    b"ZZZZ99999999;freight;40.00;EUR;not ours\n"
    b"MAEU87654321;storage;12.00;EUR;no storage expected\n"
)
MAPPING = {
    "reference": "Shipment Ref",
    "charge_code": "Charge Type",
    "amount": "Net",
    "currency": "Cur",
    "description": "Text",
}


def test_matching_with_typos(costs):
    with tenant_context(costs.tenant.pk):
        imported = reconciliation.carrier_invoice_import(
            data=CARRIER_CSV, file_name="maersk.csv", mapping=MAPPING, carrier="Maersk"
        )
        lines = list(CarrierInvoiceLine.objects.filter(carrier_invoice=imported))
    found = [(line.result, line.variance, line.matched_reference) for line in lines]
    assert found == [
        ("matched", Decimal("0.000"), "MAEU12345678"),
        ("matched", Decimal("0.000"), "MAEU12345678"),
        ("over", Decimal("15.500"), "MAEU87654321"),
        ("under", Decimal("-10.000"), "HLCU55500011"),
        ("unexpected", Decimal("40.000"), ""),
        ("unexpected", Decimal("12.000"), "MAEU87654321"),
    ]
    assert lines[1].match_score < 100 and lines[0].match_score == 100
    assert lines[2].expected_amount == Decimal("80.00")


def test_preview_guesses_or_takes_a_mapping_and_reads_xlsx(costs):
    book = Workbook()
    sheet = book.active
    sheet.append(["Reference", "Charge", "Amount", "Currency"])
    sheet.append(["MAEU12345678", "freight", 80, "EUR"])
    sheet.append(["MAEU87654321", "freight", "81.5", "EUR"])
    out = io.BytesIO()
    book.save(out)
    with tenant_context(costs.tenant.pk):
        shown = reconciliation.preview(out.getvalue(), "inv.xlsx", None)
        assert shown["mapping"] == {
            "reference": "Reference",
            "charge_code": "Charge",
            "amount": "Amount",
            "currency": "Currency",
        }
        assert [row["amount"] for row in shown["preview"]] == ["80.00", "81.50"]
        wrong = reconciliation.preview(out.getvalue(), "inv.xlsx", {"reference": "Nope"})
        assert wrong["error"]["code"] == "invalid_mapping" and wrong["preview"] == []


def _upload(content: bytes = CARRIER_CSV, name: str = "maersk.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@covers_url(
    "billing-reconciliation-preview",
    "billing-reconciliations",
    "billing-reconciliation",
    "billing-reconciliation-line",
)
def test_reconciliation_api_import_and_decide(costs):
    import json

    finance = costs.client("finance")
    preview = finance.post(
        reverse("billing-reconciliation-preview"),
        {"file": _upload(), "mapping": json.dumps(MAPPING)},
    )
    assert preview.status_code == 200, preview.json()
    assert preview.json()["rows"] == 6 and len(preview.json()["preview"]) == 6
    created = finance.post(
        reverse("billing-reconciliations"),
        {
            "file": _upload(),
            "mapping": json.dumps(MAPPING),
            "carrier": "Maersk",
            "reference": "MSK-1",
        },
    )
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["summary"] == {"matched": 2, "over": 1, "under": 1, "unexpected": 2}
    over = next(line for line in data["lines"] if line["result"] == "over")
    assert (over["amount"], over["expected_amount"], over["variance"]) == (
        "95.50",
        "80.00",
        "15.50",
    )
    detail = finance.get(reverse("billing-reconciliation", args=[data["id"]])).json()
    assert len(detail["lines"]) == 6
    line_url = reverse("billing-reconciliation-line", args=[data["id"], over["id"]])
    no_note = finance.post(line_url, {"decision": "disputed"}, content_type="application/json")
    assert no_note.status_code == 400
    disputed = finance.post(
        line_url,
        {"decision": "disputed", "note": "Rate agreed at 80.00"},
        content_type="application/json",
    ).json()
    evidence = disputed["dispute_evidence"]
    assert disputed["decision"] == "disputed" and evidence["variance"] == "15.500"
    [expected] = evidence["expected_charges"]
    assert expected["evidence"]["events"][0]["milestone"] == "delivered"
    matched = next(line for line in data["lines"] if line["result"] == "matched")
    accepted = finance.post(
        reverse("billing-reconciliation-line", args=[data["id"], matched["id"]]),
        {"decision": "accepted"},
        content_type="application/json",
    )
    assert accepted.json()["decision"] == "accepted"
    listed = finance.get(reverse("billing-reconciliations")).json()["results"]
    assert [r["id"] for r in listed] == [data["id"]]
    # Someone else's reconciliation and lines are 404; other roles 403; keys need finance
    # and never write.
    outsider = costs.client("outsider")
    assert outsider.get(reverse("billing-reconciliation", args=[data["id"]])).status_code == 404
    assert (
        outsider.post(
            line_url, {"decision": "accepted"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert outsider.get(reverse("billing-reconciliations")).json()["results"] == []
    for role in ("ops", "sales", "customer", "driver"):
        client = costs.client(role)
        assert client.get(reverse("billing-reconciliation", args=[data["id"]])).status_code == 403
        assert (
            client.post(reverse("billing-reconciliations"), {"file": _upload()}).status_code == 403
        )
        assert (
            client.post(reverse("billing-reconciliation-preview"), {"file": _upload()}).status_code
            == 403
        )
        assert (
            client.post(
                line_url, {"decision": "accepted"}, content_type="application/json"
            ).status_code
            == 403
        )
    with tenant_context(costs.tenant.pk):
        key = api_key_issue(name="k", scopes=["finance"]).raw_key
        read_key = api_key_issue(name="r", scopes=["read"]).raw_key
    anonymous = costs.client("anonymous")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert (
        anonymous.get(reverse("billing-reconciliation", args=[data["id"]]), **auth).status_code
        == 200
    )
    assert (
        anonymous.get(
            reverse("billing-reconciliation", args=[data["id"]]),
            HTTP_AUTHORIZATION=f"Bearer {read_key}",
        ).status_code
        == 403
    )
    assert (
        anonymous.post(reverse("billing-reconciliations"), {"file": _upload()}, **auth).status_code
        == 403
    )
    assert (
        anonymous.post(
            line_url, {"decision": "accepted"}, content_type="application/json", **auth
        ).status_code
        == 403
    )

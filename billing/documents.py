"""Invoice documents: PDF with the tenant's branding (WeasyPrint, HTML to PDF) and UBL 2.1
XML in the Peppol BIS Billing 3.0 profile (an Invoice, or a CreditNote for credit notes)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.etree import ElementTree as ET

from django.template.loader import render_to_string

from billing.models import Invoice, InvoiceKind, InvoiceLine
from billing.money import format_money, round_money
from tenancy.models import Tenant

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


def invoice_pdf(invoice: Invoice, lines: Sequence[InvoiceLine], tenant: Tenant) -> bytes:
    from weasyprint import HTML  # imported on use: loading pango costs ~0.3 s

    html = render_to_string(
        "finance/invoice_pdf.html",
        {
            "invoice": invoice,
            "lines": [_shown(line, invoice.currency) for line in lines],
            "tenant": tenant,
            "net_total": format_money(invoice.net_total, invoice.currency),
            "tax_total": format_money(invoice.tax_total, invoice.currency),
            "total": format_money(invoice.total, invoice.currency),
        },
    )
    # No base_url: the document loads nothing from outside (no file or network access).
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf()


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"external resources are not loaded ({url[:40]})")


def _shown(line: InvoiceLine, currency: str) -> dict:
    return {
        "position": line.position,
        "shipment": line.shipment_reference,
        "description": line.description,
        "quantity": f"{line.quantity.normalize():f}",
        "unit": format_money(line.unit_amount, currency),
        "net": format_money(line.net_amount, currency),
        "tax_rate": f"{line.tax_rate.normalize():f}",
        "tax": format_money(line.tax_amount, currency),
        "total": format_money(line.total, currency),
    }


def _el(parent: ET.Element, ns: str, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, role: str, name: str, country: str = "") -> None:
    party = _el(_el(parent, CAC, role), CAC, "Party")
    _el(_el(party, CAC, "PartyName"), CBC, "Name", name)
    address = _el(party, CAC, "PostalAddress")
    _el(_el(address, CAC, "Country"), CBC, "IdentificationCode", country or "DE")
    _el(_el(party, CAC, "PartyLegalEntity"), CBC, "RegistrationName", name)


def _category(rate: Decimal) -> str:
    return "S" if rate > 0 else "Z"


def invoice_ubl(invoice: Invoice, lines: Sequence[InvoiceLine], tenant: Tenant) -> bytes:
    """UBL 2.1 per Peppol BIS Billing 3.0 (the elements BIS requires, in schema order).
    A credit note's amounts are positive, as UBL wants; the document type says credit."""
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    root_ns = UBL_CREDIT_NOTE if credit else UBL_INVOICE
    ET.register_namespace("", root_ns)
    ET.register_namespace("cac", CAC)
    ET.register_namespace("cbc", CBC)
    root = ET.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}")
    currency = invoice.currency
    sign = Decimal(-1) if credit and invoice.total < 0 else Decimal(1)

    def money(parent: ET.Element, tag: str, value: Decimal) -> None:
        _el(parent, CBC, tag, format_money(value * sign, currency), currencyID=currency)

    _el(root, CBC, "CustomizationID", CUSTOMIZATION)
    _el(root, CBC, "ProfileID", PROFILE)
    _el(root, CBC, "ID", invoice.number)
    _el(root, CBC, "IssueDate", invoice.issue_date.isoformat() if invoice.issue_date else "")
    if not credit and invoice.due_date:
        _el(root, CBC, "DueDate", invoice.due_date.isoformat())
    _el(
        root, CBC, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380"
    )
    _el(root, CBC, "DocumentCurrencyCode", currency)
    _el(root, CBC, "BuyerReference", invoice.customer_account.code)
    if invoice.period_start and invoice.period_end:
        period = _el(root, CAC, "InvoicePeriod")
        _el(period, CBC, "StartDate", invoice.period_start.isoformat())
        _el(period, CBC, "EndDate", invoice.period_end.isoformat())
    if credit and invoice.credits_id and invoice.credits:
        reference = _el(root, CAC, "BillingReference")
        _el(_el(reference, CAC, "InvoiceDocumentReference"), CBC, "ID", invoice.credits.number)
    _party(root, "AccountingSupplierParty", tenant.name)
    _party(root, "AccountingCustomerParty", invoice.customer_account.name)
    tax_total = _el(root, CAC, "TaxTotal")
    money(tax_total, "TaxAmount", invoice.tax_total)
    by_rate: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        taxable = by_rate.setdefault(line.tax_rate, [Decimal(0), Decimal(0)])
        taxable[0] += line.net_amount
        taxable[1] += line.tax_amount
    for rate, (taxable_amount, tax_amount) in sorted(by_rate.items()):
        subtotal = _el(tax_total, CAC, "TaxSubtotal")
        money(subtotal, "TaxableAmount", taxable_amount)
        money(subtotal, "TaxAmount", tax_amount)
        category = _el(subtotal, CAC, "TaxCategory")
        _el(category, CBC, "ID", _category(rate))
        _el(category, CBC, "Percent", f"{rate.normalize():f}")
        _el(_el(category, CAC, "TaxScheme"), CBC, "ID", "VAT")
    totals = _el(root, CAC, "LegalMonetaryTotal")
    money(totals, "LineExtensionAmount", invoice.net_total)
    money(totals, "TaxExclusiveAmount", invoice.net_total)
    money(totals, "TaxInclusiveAmount", invoice.total)
    money(totals, "PayableAmount", invoice.total)
    for line in lines:
        element = _el(root, CAC, "CreditNoteLine" if credit else "InvoiceLine")
        _el(element, CBC, "ID", str(line.position))
        _el(
            element,
            CBC,
            "CreditedQuantity" if credit else "InvoicedQuantity",
            f"{(line.quantity * sign).normalize():f}",
            unitCode="C62",
        )
        money(element, "LineExtensionAmount", line.net_amount)
        item = _el(element, CAC, "Item")
        _el(item, CBC, "Description", line.shipment_reference)
        _el(item, CBC, "Name", line.description[:100])
        tax = _el(item, CAC, "ClassifiedTaxCategory")
        _el(tax, CBC, "ID", _category(line.tax_rate))
        _el(tax, CBC, "Percent", f"{line.tax_rate.normalize():f}")
        _el(_el(tax, CAC, "TaxScheme"), CBC, "ID", "VAT")
        price = _el(element, CAC, "Price")
        _el(
            price,
            CBC,
            "PriceAmount",
            f"{round_money(line.unit_amount, currency) if line.unit_amount else 0:f}",
            currencyID=currency,
        )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

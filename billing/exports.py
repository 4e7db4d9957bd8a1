"""Tabular exports (charges, journal, invoices) as CSV or XLSX.

Spreadsheet formula injection is neutralised in every text cell: a value starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe (OWASP's
advice), so no spreadsheet evaluates it. Amounts are written as numbers in XLSX (a number is
never a formula) and, in CSV, as non-negative text: the sign lives in the ``entry`` column
(charge / credit) or in the debit/credit columns of the journal, so no CSV cell starts with
``-`` either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook

from billing.models import Charge, ChargeKind, Direction, Invoice, InvoiceLine
from billing.money import format_money

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Cell = str | Decimal | int | date | datetime | None


def neutralise(value: str) -> str:
    """A text cell no spreadsheet will evaluate."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: list[list[Cell]]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([neutralise(_text(cell)) for cell in row])
    return out.getvalue().encode("utf-8")


def to_xlsx(tables: Iterable[Table]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(title=table.title[:31])
        sheet.append([neutralise(h) for h in table.headers])
        for row in table.rows:
            sheet.append([_xlsx_cell(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: Cell) -> object:
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value
    return neutralise(_text(value))


def _amount(value: Decimal, currency: str, *, signed: bool) -> Cell:
    """A number for XLSX (signed), a non-negative text for CSV."""
    return value if signed else format_money(abs(value), currency)


CHARGE_HEADERS = (
    "date",
    "shipment",
    "customer",
    "carrier",
    "direction",
    "entry",
    "code",
    "description",
    "period",
    "quantity",
    "unit_amount",
    "amount",
    "currency",
    "tax_rate",
    "status",
    "invoice",
    "idempotency_key",
)


def charges_table(charges: Iterable[Charge], *, signed: bool) -> Table:
    rows: list[list[Cell]] = []
    for c in charges:
        rows.append(
            [
                c.accrued_on,
                c.shipment.public_id,
                c.customer_account.name if c.customer_account else "",
                c.carrier,
                c.direction,
                c.kind,
                c.code,
                c.description,
                c.period,
                c.quantity if signed else abs(c.quantity),
                c.unit_amount,
                _amount(c.amount, c.currency, signed=signed),
                c.currency,
                c.tax_rate,
                c.status,
                c.invoice.public_id if c.invoice_id and c.invoice else "",
                c.idempotency_key,
            ]
        )
    return Table("Charges", CHARGE_HEADERS, rows)


# A generic chart of accounts; the journal is balanced per charge (debit = credit).
ACCOUNTS = {
    Direction.REVENUE: ("1200 Receivables (unbilled)", "4000 Freight revenue"),
    Direction.COST: ("5000 Cost of transport", "2100 Accrued carrier costs"),
}
JOURNAL_HEADERS = ("date", "account", "debit", "credit", "reference", "customer", "currency")


def journal_table(charges: Iterable[Charge], *, signed: bool) -> Table:
    rows: list[list[Cell]] = []
    for c in charges:
        debit_account, credit_account = ACCOUNTS[Direction(c.direction)]
        if c.kind == ChargeKind.CREDIT:  # a credit line reverses the entry
            debit_account, credit_account = credit_account, debit_account
        amount = abs(c.amount)
        value: Cell = amount if signed else format_money(amount, c.currency)
        reference = f"{c.shipment.public_id} {c.code} {c.idempotency_key}"
        customer = c.customer_account.name if c.customer_account else ""
        rows.append([c.accrued_on, debit_account, value, "", reference, customer, c.currency])
        rows.append([c.accrued_on, credit_account, "", value, reference, customer, c.currency])
    return Table("Journal", JOURNAL_HEADERS, rows)


LINE_HEADERS = (
    "position",
    "shipment",
    "code",
    "description",
    "quantity",
    "unit_amount",
    "net_amount",
    "tax_rate",
    "tax_amount",
    "total",
)


def invoice_tables(invoice: Invoice, lines: Sequence[InvoiceLine]) -> list[Table]:
    summary = Table(
        "Invoice",
        ("field", "value"),
        [
            ["number", invoice.number or "(draft)"],
            ["kind", invoice.kind],
            ["customer", invoice.customer_account.name],
            ["currency", invoice.currency],
            ["issue_date", invoice.issue_date],
            ["due_date", invoice.due_date],
            ["net_total", invoice.net_total],
            ["tax_total", invoice.tax_total],
            ["total", invoice.total],
        ],
    )
    rows: list[list[Cell]] = [
        [
            line.position,
            line.shipment_reference,
            line.code,
            line.description,
            line.quantity,
            line.unit_amount,
            line.net_amount,
            line.tax_rate,
            line.tax_amount,
            line.total,
        ]
        for line in lines
    ]
    return [summary, Table("Lines", LINE_HEADERS, rows)]

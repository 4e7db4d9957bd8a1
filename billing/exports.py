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
from typing import IO, Protocol

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


def charge_row(c: Charge, *, signed: bool) -> list[Cell]:
    """One charge as a row of CHARGE_HEADERS (needs shipment, customer_account, invoice)."""
    return [
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


def charges_table(charges: Iterable[Charge], *, signed: bool) -> Table:
    return Table("Charges", CHARGE_HEADERS, [charge_row(c, signed=signed) for c in charges])


# A generic chart of accounts; the journal is balanced per charge (debit = credit).
ACCOUNTS = {
    Direction.REVENUE: ("1200 Receivables (unbilled)", "4000 Freight revenue"),
    Direction.COST: ("5000 Cost of transport", "2100 Accrued carrier costs"),
}
JOURNAL_HEADERS = ("date", "account", "debit", "credit", "reference", "customer", "currency")


def journal_rows(c: Charge, *, signed: bool) -> list[list[Cell]]:
    """The two balanced journal rows (debit, credit) of one charge."""
    debit_account, credit_account = ACCOUNTS[Direction(c.direction)]
    if c.kind == ChargeKind.CREDIT:  # a credit line reverses the entry
        debit_account, credit_account = credit_account, debit_account
    amount = abs(c.amount)
    value: Cell = amount if signed else format_money(amount, c.currency)
    reference = f"{c.shipment.public_id} {c.code} {c.idempotency_key}"
    customer = c.customer_account.name if c.customer_account else ""
    return [
        [c.accrued_on, debit_account, value, "", reference, customer, c.currency],
        [c.accrued_on, credit_account, "", value, reference, customer, c.currency],
    ]


def journal_table(charges: Iterable[Charge], *, signed: bool) -> Table:
    rows = [row for c in charges for row in journal_rows(c, signed=signed)]
    return Table("Journal", JOURNAL_HEADERS, rows)


# --- chunked writing (exports of any size: the export jobs and the API) -----------------------

LAYOUTS = {
    "charges": ("Charges", CHARGE_HEADERS),
    "journal": ("Journal", JOURNAL_HEADERS),
}
CONTENT_TYPES = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}


def rows_of(kind: str, charge: Charge, *, signed: bool) -> list[list[Cell]]:
    if kind == "journal":
        return journal_rows(charge, signed=signed)
    return [charge_row(charge, signed=signed)]


class Sink(Protocol):
    signed: bool

    def write(self, row: Sequence[Cell]) -> None: ...

    def close(self) -> None: ...


class CsvSink:
    """Rows straight to a binary file, UTF-8, CRLF (as to_csv)."""

    signed = False

    def __init__(self, out: IO[bytes]) -> None:
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text, lineterminator="\r\n")

    def write(self, row: Sequence[Cell]) -> None:
        self._writer.writerow([neutralise(_text(cell)) for cell in row])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller owns the file


class XlsxSink:
    """openpyxl's write-only workbook: rows are streamed to a temporary file as they come,
    so memory stays flat whatever the number of rows (as to_xlsx otherwise)."""

    signed = True

    def __init__(self, out: IO[bytes], title: str) -> None:
        self._out = out
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title=title[:31])

    def write(self, row: Sequence[Cell]) -> None:
        self._sheet.append([_xlsx_cell(cell) for cell in row])

    def close(self) -> None:
        self._book.save(self._out)


def open_sink(kind: str, file_format: str, out: IO[bytes]) -> Sink:
    """A sink for ``kind`` (charges, journal) in ``file_format`` with its header row written."""
    title, headers = LAYOUTS[kind]
    sink: Sink = XlsxSink(out, title) if file_format == "xlsx" else CsvSink(out)
    sink.write([neutralise(h) for h in headers])
    return sink


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

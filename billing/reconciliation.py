"""Carrier-invoice reconciliation: read a carrier's invoice (CSV or XLSX) through a column
mapping (previewed first), match each line to the expected costs by shipment reference and
charge type, and let finance accept or dispute each line.

Matching: the reference is normalised (case, spaces, dashes, dots, slashes); an exact hit
on any reference of a shipment with expected costs wins, else the closest one by
Levenshtein ratio (rapidfuzz) if it scores at least FUZZY_CUTOFF (a typo or two in a
10-character reference). The expected amount is the sum of that shipment's live expected
costs of the line's charge type, in the line's currency. Then: equal = matched, more =
over, less = under; no shipment or no expected cost = unexpected.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from rapidfuzz import fuzz, process

from billing.models import (
    CarrierInvoice,
    CarrierInvoiceLine,
    Charge,
    ChargeKind,
    Decision,
    Direction,
    MatchResult,
)
from billing.money import ZERO, round_money, to_decimal, valid_currency
from shipments.models import ReferenceKind, Shipment, ShipmentReference
from tenancy.errors import DomainError, NotFound
from tenancy.models import User

FIELDS = ("reference", "charge_code", "amount", "currency", "description")
REQUIRED = ("reference", "amount")
FUZZY_CUTOFF = 85.0
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 20
GUESSES = {
    "reference": ("reference", "shipment", "shipment reference", "ref", "awb", "bl", "hawb"),
    "charge_code": ("charge", "charge code", "charge type", "code", "type"),
    "amount": ("amount", "total", "net", "value"),
    "currency": ("currency", "cur", "ccy"),
    "description": ("description", "text", "details"),
}


def read_table(data: bytes, file_name: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (as text) of a CSV or XLSX file."""
    if len(data) > MAX_BYTES:
        raise DomainError("The file is larger than 5 MB.", code="file_too_large", field="file")
    if file_name.lower().endswith(".xlsx") or data[:2] == b"PK":
        rows = _xlsx_rows(data)
    else:
        try:
            rows = _csv_rows(data)
        except csv.Error as error:
            raise DomainError(
                f"Not a readable CSV file ({error}).", code="invalid_file", field="file"
            ) from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise DomainError("The file has no rows.", code="empty_file", field="file")
    if len(rows) > MAX_ROWS + 1:
        raise DomainError(f"At most {MAX_ROWS} lines per file.", code="too_many_rows")
    return [h.strip() for h in rows[0]], rows[1:]


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise DomainError("Not a readable XLSX file.", code="invalid_file", field="file") from None
    sheet = book.worksheets[0]
    rows = []
    for row in sheet.iter_rows(values_only=True):
        rows.append(
            ["" if v is None else (f"{v}" if not isinstance(v, float) else repr(v)) for v in row]
        )
        if len(rows) > MAX_ROWS + 1:
            break
    book.close()
    return rows


def guess_mapping(headers: Sequence[str]) -> dict[str, str]:
    lowered = {h.lower().strip(): h for h in headers}
    mapping = {}
    for field, names in GUESSES.items():
        for name in names:
            if name in lowered:
                mapping[field] = lowered[name]
                break
    return mapping


def _check_mapping(mapping: Mapping[str, str], headers: Sequence[str]) -> dict[str, str]:
    clean = {k: v for k, v in mapping.items() if k in FIELDS and v}
    for field in REQUIRED:
        if field not in clean:
            raise DomainError(f"Map a column to {field}.", code="invalid_mapping", field=field)
    for field, column in clean.items():
        if column not in headers:
            raise DomainError(
                f"No column {column!r} in the file.", code="invalid_mapping", field=field
            )
    return clean


@dataclass(frozen=True)
class ParsedLine:
    row: int
    reference: str
    charge_code: str
    amount: Decimal
    currency: str
    description: str


def parse(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    mapping: Mapping[str, str],
    default_currency: str,
) -> list[ParsedLine]:
    mapping = _check_mapping(mapping, headers)
    index = {field: headers.index(column) for field, column in mapping.items()}

    def cell(row: Sequence[str], field: str) -> str:
        position = index.get(field)
        return row[position].strip() if position is not None and position < len(row) else ""

    parsed = []
    for number, row in enumerate(rows, start=2):
        currency = valid_currency(cell(row, "currency") or default_currency)
        try:
            amount = round_money(to_decimal(amount_text(cell(row, "amount"))), currency)
        except DomainError:
            raise DomainError(
                f"Row {number}: {cell(row, 'amount')!r} is not an amount.",
                code="invalid_amount",
                field="amount",
            ) from None
        parsed.append(
            ParsedLine(
                row=number,
                reference=cell(row, "reference")[:120],
                charge_code=cell(row, "charge_code")[:40],
                amount=amount,
                currency=currency,
                description=cell(row, "description")[:200],
            )
        )
    return parsed


def amount_text(value: str) -> str:
    """A carrier's amount as a plain decimal: ``1.234,50`` and ``1,234.50`` are 1234.50,
    ``70,00`` is 70.00: a comma after the last dot is the decimal separator (so ``1,234``
    reads as 1.234, as in most European invoices)."""
    text = re.sub(r"[\s'\u00a0]", "", value)
    last_comma, last_dot = text.rfind(","), text.rfind(".")
    if last_comma > last_dot:  # comma decimals
        return text.replace(".", "").replace(",", ".")
    return text.replace(",", "")


def preview(
    data: bytes, file_name: str, mapping: Mapping[str, str] | None, currency: str = "EUR"
) -> dict[str, Any]:
    try:
        headers, rows = read_table(data, file_name)
    except DomainError as error:  # a preview reports what it could not read
        return {
            "headers": [],
            "mapping": dict(mapping or {}),
            "rows": 0,
            "preview": [],
            "error": {"code": error.code, "message": error.message, "field": error.field},
        }
    mapping = dict(mapping or guess_mapping(headers))
    result: dict[str, Any] = {"headers": headers, "mapping": mapping, "rows": len(rows)}
    try:
        lines = parse(headers, rows[:PREVIEW_ROWS], mapping, currency)
    except DomainError as error:
        result["error"] = {"code": error.code, "message": error.message, "field": error.field}
        lines = []
    result["preview"] = [
        {
            "row": line.row,
            "reference": line.reference,
            "charge_code": line.charge_code,
            "amount": str(line.amount),
            "currency": line.currency,
            "description": line.description,
        }
        for line in lines
    ]
    return result


def normalise(reference: str) -> str:
    return re.sub(r"[\s\-./_]+", "", reference).upper()


CostKey = tuple[int, str, str]  # shipment, charge code (lower case), currency


def _expected_costs(
    carrier: str,
) -> tuple[dict[str, int], dict[tuple[int, str, str], list[Charge]]]:
    costs = Charge.objects.filter(
        direction=Direction.COST, kind=ChargeKind.CHARGE, is_reversed=False
    )
    if carrier:
        costs = costs.filter(carrier__iexact=carrier) | costs.filter(carrier="")
    by_key: dict[CostKey, list[Charge]] = defaultdict(list)
    for charge in costs.order_by("id"):
        by_key[(charge.shipment_id, charge.code.lower(), charge.currency)].append(charge)
    shipment_ids = {key[0] for key in by_key}
    references: dict[str, int] = {}
    for shipment_id, value in (
        ShipmentReference.objects.filter(shipment_id__in=shipment_ids)
        .exclude(kind=ReferenceKind.MILEPOST)
        .values_list("shipment_id", "value")
    ):
        references[normalise(value)] = shipment_id
    for shipment_id, public_id in Shipment.objects.filter(pk__in=shipment_ids).values_list(
        "pk", "public_id"
    ):
        references[normalise(public_id)] = shipment_id
    return references, by_key


def match_lines(lines: Sequence[ParsedLine], carrier: str) -> list[dict[str, Any]]:
    """What each line matches (fields of CarrierInvoiceLine)."""
    references, costs = _expected_costs(carrier)
    choices = list(references)
    matched = []
    for line in lines:
        key = normalise(line.reference)
        shipment_id, score, found_reference = None, None, ""
        if key in references:
            shipment_id, score, found_reference = references[key], 100.0, key
        elif key and choices:
            best = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if best is not None:
                found_reference, score = best[0], float(best[1])
                shipment_id = references[found_reference]
        expected: list[Charge] = []
        if shipment_id is not None:
            code = line.charge_code.lower()
            expected = costs.get((shipment_id, code, line.currency), [])
            if not code:  # no charge type on the line: the shipment's only cost type
                kinds = [
                    v for k, v in costs.items() if k[0] == shipment_id and k[2] == line.currency
                ]
                expected = kinds[0] if len(kinds) == 1 else []
        if not expected:
            result, expected_amount, variance = MatchResult.UNEXPECTED, None, line.amount
        else:
            expected_amount = sum((c.amount for c in expected), ZERO)
            variance = line.amount - expected_amount
            result = (
                MatchResult.MATCHED
                if variance == 0
                else MatchResult.OVER
                if variance > 0
                else MatchResult.UNDER
            )
        matched.append(
            {
                "shipment_id": shipment_id,
                "matched_reference": found_reference,
                "match_score": None if score is None else Decimal(str(round(score, 1))),
                "expected_charge": expected[0] if expected else None,
                "expected_amount": expected_amount,
                "variance": variance,
                "result": result,
            }
        )
    return matched


@transaction.atomic
def carrier_invoice_import(
    *,
    data: bytes,
    file_name: str,
    mapping: Mapping[str, str] | None,
    carrier: str = "",
    reference: str = "",
    currency: str = "EUR",
    actor: User | None = None,
) -> CarrierInvoice:
    headers, rows = read_table(data, file_name)
    mapping = dict(mapping or guess_mapping(headers))
    lines = parse(headers, rows, mapping, currency)
    invoice = CarrierInvoice.objects.create(
        carrier=carrier[:120],
        reference=reference[:80],
        file_name=file_name[:200],
        mapping=mapping,
        imported_by=actor,
    )
    matches = match_lines(lines, carrier)
    CarrierInvoiceLine.objects.bulk_create(
        [
            CarrierInvoiceLine(
                tenant_id=invoice.tenant_id,
                carrier_invoice=invoice,
                row=line.row,
                shipment_reference=line.reference,
                charge_code=line.charge_code,
                description=line.description,
                amount=line.amount,
                currency=line.currency,
                **match,
            )
            for line, match in zip(lines, matches, strict=True)
        ]
    )
    return invoice


@transaction.atomic
def line_decide(
    *, line_id: int, carrier_invoice: CarrierInvoice, decision: str, note: str, actor: User | None
) -> CarrierInvoiceLine:
    """Accept a line, or dispute it: the dispute carries the evidence (what was expected and
    why: the expected charges with their milestone evidence, the variance, the note)."""
    line = (
        CarrierInvoiceLine.objects.select_for_update()
        .filter(pk=line_id, carrier_invoice=carrier_invoice)
        .first()
    )
    if line is None:
        raise NotFound()
    if decision not in (Decision.ACCEPTED, Decision.DISPUTED):
        raise DomainError("Accept or dispute.", code="invalid", field="decision")
    if decision == Decision.DISPUTED:
        if not note.strip():
            raise DomainError("A dispute needs a note.", code="invalid", field="note")
        expected = []
        if line.shipment_id is not None:
            expected = [
                {
                    "charge": c.idempotency_key,
                    "code": c.code,
                    "amount": str(c.amount),
                    "currency": c.currency,
                    "evidence": c.evidence,
                }
                for c in Charge.objects.filter(
                    shipment_id=line.shipment_id,
                    direction=Direction.COST,
                    kind=ChargeKind.CHARGE,
                    is_reversed=False,
                    currency=line.currency,
                ).order_by("id")
            ]
        line.dispute_evidence = {
            "note": note,
            "invoiced": str(line.amount),
            "expected": None if line.expected_amount is None else str(line.expected_amount),
            "variance": str(line.variance),
            "result": line.result,
            "matched_reference": line.matched_reference,
            "expected_charges": expected,
        }
    line.decision = decision
    line.decided_by = actor
    line.decided_at = timezone.now()
    line.save()
    return line

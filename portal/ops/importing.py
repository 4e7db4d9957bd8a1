"""Bulk import of shipments from CSV/XLSX: reading the file, guessing the column mapping, and
turning one row into the partner API's create payload (validated by the API's own
``ShipmentIn``) so that a row is accepted or rejected by the same rules as a POST to
/api/v1/shipments/. The write is ``shipments.services.shipment_create`` (portal/ops/services).

Re-runs are idempotent by reference: a row whose (reference kind, reference) already
identifies a shipment of the tenant is *skipped* (reported, not rejected, not duplicated).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from shipments.api.serializers import ShipmentIn
from shipments.models import ReferenceKind
from shipments.zones import zone_named
from tenancy.errors import DomainError

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
DEFAULT_KIND = ReferenceKind.CUSTOMER_REFERENCE

# field -> (label, required, header words that guess it)
FIELDS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "reference": ("Reference", True, ("reference", "ref", "order", "shipment", "number")),
    "reference_kind": ("Reference kind", False, ("kind", "reference type", "ref type")),
    "mode": ("Mode", True, ("mode", "transport")),
    "booked_at": ("Booked at", True, ("booked", "booking date", "date")),
    "carrier": ("Carrier", False, ("carrier",)),
    "service": ("Service", False, ("service",)),
    "customer": ("Customer account code", False, ("customer", "account")),
    "shipper_name": ("Shipper", False, ("shipper", "sender")),
    "consignee_name": ("Consignee", False, ("consignee", "receiver", "recipient")),
    "origin": ("Origin UN/LOCODE", False, ("origin", "from", "pol")),
    "destination": ("Destination UN/LOCODE", False, ("destination", "to", "pod", "dest")),
    "promised_at": ("Promised at", False, ("promised", "due", "eta")),
}
REQUIRED = [name for name, (_, required, _) in FIELDS.items() if required]


@dataclass
class Sheet:
    headers: list[str]
    rows: list[list[str]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_file(name: str, data: bytes) -> Sheet:
    """The header row and the data rows (blank rows dropped) of a .csv or .xlsx file."""
    if len(data) > MAX_BYTES:
        raise DomainError(
            f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.", code="too_big"
        )
    lower = name.lower()
    if lower.endswith(".xlsx"):
        raw = _read_xlsx(data)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        raw = _read_csv(data)
    else:
        raise DomainError("Upload a .csv or .xlsx file.", code="file_type", field="file")
    raw = [[_cell(c) for c in row] for row in raw]
    raw = [row for row in raw if any(row)]
    if not raw:
        raise DomainError("The file has no header row.", code="empty", field="file")
    headers, rows = raw[0], raw[1:]
    if len(rows) > MAX_ROWS:
        raise DomainError(f"At most {MAX_ROWS} rows per file.", code="too_many", field="file")
    width = len(headers)
    return Sheet(headers=headers, rows=[(row + [""] * width)[:width] for row in rows])


def _read_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text), dialect))


def _read_xlsx(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # a damaged or non-xlsx file: openpyxl raises many types
        raise DomainError("The file is not a readable .xlsx.", code="file_type") from error
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def guess_mapping(headers: Sequence[str]) -> dict[str, int]:
    """field -> column index: an exact field name or label first, then a header word."""
    normed = [_norm(h) for h in headers]
    mapping: dict[str, int] = {}
    taken: set[int] = set()
    for name, (label, _, _) in FIELDS.items():
        for i, header in enumerate(normed):
            if i not in taken and header in (_norm(name), _norm(label)):
                mapping[name] = i
                taken.add(i)
                break
    for name, (_, _, words) in FIELDS.items():
        if name in mapping:
            continue
        for word in words:
            found = next(
                (i for i, h in enumerate(normed) if i not in taken and _matches(word, h)), None
            )
            if found is not None:
                mapping[name] = found
                taken.add(found)
                break
    return mapping


def _matches(word: str, header: str) -> bool:
    return word in header if " " in word else word in header.split(" ")


def check_mapping(mapping: dict[str, int], width: int) -> None:
    missing = [FIELDS[name][0] for name in REQUIRED if name not in mapping]
    if missing:
        raise DomainError(
            "Map a column to: " + ", ".join(missing) + ".", code="mapping", field="mapping"
        )
    used = [i for i in mapping.values()]
    if any(i < 0 or i >= width for i in used):
        raise DomainError("A mapped column is not in the file.", code="mapping", field="mapping")
    if len(set(used)) != len(used):
        raise DomainError("A column is mapped twice.", code="mapping", field="mapping")


@dataclass
class Prepared:
    """A row ready for shipment_create, or the reasons it is rejected."""

    number: int  # in the file, header = 1
    reference: str
    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def _when(text: str, zone_name: str) -> str:
    """An ISO time with offset: a time without one (spreadsheets rarely have offsets) is the
    tenant's local time; a bare date is local midnight."""
    if not text:
        return ""
    parsed = parse_datetime(text.replace("/", "-")) if "T" in text or ":" in text else None
    if parsed is None:
        day = parse_date(text.replace("/", "-"))
        if day is None:
            return text  # left for the serializer to reject with its message
        parsed = datetime.combine(day, time())
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, zone_named(zone_name))
    return parsed.isoformat()


def _messages(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            name = key if key != "non_field_errors" else ""
            out += _messages(value, f"{prefix}{name}: " if name and not prefix else prefix)
        return out
    if isinstance(errors, list):
        out = []
        for value in errors:
            out += _messages(value, prefix)
        return out
    return [f"{prefix}{errors}"]


def prepare(number: int, row: Sequence[str], mapping: dict[str, int], zone: str) -> Prepared:
    """Row → the partner API's ShipmentIn payload, validated by ShipmentIn."""
    get = {name: (row[i].strip() if i < len(row) else "") for name, i in mapping.items()}
    kind = (get.get("reference_kind") or DEFAULT_KIND).strip().lower().replace(" ", "_")
    prepared = Prepared(number=number, reference=get.get("reference", ""), kind=kind)
    payload: dict[str, Any] = {
        "references": [{"kind": kind, "value": prepared.reference}],
        "mode": get.get("mode", "").lower().replace(" ", "_").replace("-", "_"),
        "booked_at": _when(get.get("booked_at", ""), zone),
    }
    for name in ("carrier", "service", "shipper_name", "consignee_name"):
        if get.get(name):
            payload[name] = get[name]
    if get.get("customer"):
        payload["customer"] = get["customer"]
    for end in ("origin", "destination"):
        if get.get(end):
            payload[end] = {"locode": get[end].upper().replace(" ", "")}
    if get.get("promised_at"):
        payload["promised_at"] = _when(get["promised_at"], zone)
    data = ShipmentIn(data=payload)
    if not data.is_valid():
        errors = dict(data.errors)
        if "references" in errors:
            errors["reference"] = errors.pop("references")
        prepared.reasons = _messages(errors)
    else:
        prepared.values = dict(data.validated_data)
    return prepared

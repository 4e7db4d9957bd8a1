"""GS1 EPCIS 2.0 JSON / JSON-LD parser (EPCISDocument and EPCISQueryDocument)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .base import Format, NormalizedEvent, ParseError, ParseResult, unique_references
from .jsonutil import (
    as_dict,
    as_list,
    canonical_json,
    load_json,
    parse_iso_datetime,
    parse_offset,
    sha256_of,
    text_or_none,
)

EPCIS_BIZSTEP_MILESTONES: dict[str, str] = {
    "shipping": "picked_up",
    "departing": "departed",
    "arriving": "arrived",
    "receiving": "delivered",
    "accepting": "delivered",
    "void_shipping": "exception",
}
EPCIS_EXCEPTION_DISPOSITIONS = frozenset({"damaged", "stolen", "destroyed"})

EPC_FIELDS = ("epcList", "parentID", "childEPCs", "inputEPCList", "outputEPCList")
SSCC_URN = re.compile(r"^urn:epc:id:sscc:(\d+)\.(\d+)$", re.IGNORECASE)
SSCC_DIGITAL_LINK = re.compile(r"^https?://[^/]+(?:/.*)?/00/(\d{18})(?:[/?#].*)?$")
VOCABULARY_PREFIXES = (
    re.compile(r"^https?://ref\.gs1\.org/cbv/(?:BizStep|Disp)-", re.IGNORECASE),
    re.compile(r"^urn:epcglobal:cbv:(?:bizstep|disp):", re.IGNORECASE),
)
BIZ_TRANSACTION_KINDS = {
    "po": "purchase_order",
    "bol": "bill_of_lading",
    "desadv": "customer_reference",
    "inv": "customer_reference",
    "recadv": "customer_reference",
}
EVENT_TYPES = {
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "AssociationEvent",
    "TransactionEvent",
}


def parse_epcis(data: bytes, document: Any = None) -> ParseResult:
    body = load_json(data) if document is None else document
    result = ParseResult(format="epcis")
    events, list_path = _event_list(body)
    for index, event in enumerate(events):
        path = f"{list_path}[{index}]"
        try:
            result.events.append(_parse_event(event, path))
        except ParseError as error:
            result.errors.append(error.with_context(path, path))
    return result


def _event_list(body: Any) -> tuple[list, str]:
    if not isinstance(body, dict):
        raise ParseError("EPCIS document must be a JSON object")
    document_type = body.get("type")
    if document_type == "EPCISQueryDocument" or "queryResults" in body:
        results = as_dict(
            as_dict(as_dict(body.get("epcisBody")).get("queryResults")).get("resultsBody")
        )
        path = "$.epcisBody.queryResults.resultsBody.eventList"
        if not results:
            results = as_dict(as_dict(body.get("queryResults")).get("resultsBody"))
            path = "$.queryResults.resultsBody.eventList"
    else:
        results = as_dict(body.get("epcisBody"))
        path = "$.epcisBody.eventList"
    events = results.get("eventList")
    if not isinstance(events, list):
        raise ParseError("EPCIS document has no eventList array", path)
    return events, path


def vocabulary_word(value: Any) -> str | None:
    text = text_or_none(value)
    if text is None:
        return None
    for prefix in VOCABULARY_PREFIXES:
        text = prefix.sub("", text)
    return text


def sscc_from_epc(epc: Any) -> str | None:
    """18-digit SSCC from an EPC URN or a GS1 Digital Link URI, else None."""
    text = text_or_none(epc)
    if text is None:
        return None
    link = SSCC_DIGITAL_LINK.match(text)
    if link:
        return link.group(1)
    urn = SSCC_URN.match(text)
    if not urn:
        return None
    company_prefix, serial_reference = urn.groups()
    if len(company_prefix) + len(serial_reference) != 17 or not serial_reference:
        return None
    body = serial_reference[0] + company_prefix + serial_reference[1:]
    return body + gs1_check_digit(body)


def gs1_check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _epcs(event: dict) -> list[str]:
    found: list[str] = []
    for field in EPC_FIELDS:
        value = event.get(field)
        for epc in value if isinstance(value, list) else [value]:
            if text_or_none(epc):
                found.append(text_or_none(epc))
    return found


def _references(event: dict, path: str) -> tuple[tuple[str, str], ...]:
    epcs = _epcs(event)
    ssccs = [("sscc", sscc) for epc in epcs if (sscc := sscc_from_epc(epc))]
    transactions = []
    for entry in as_list(event.get("bizTransactionList")):
        entry = as_dict(entry)
        kind = BIZ_TRANSACTION_KINDS.get(str(vocabulary_word(entry.get("type")) or "").lower())
        value = text_or_none(entry.get("bizTransaction"))
        if kind and value:
            transactions.append((kind, value))
    objects = [("tracking_number", epc) for epc in epcs if not sscc_from_epc(epc)]
    classes = [
        ("tracking_number", text_or_none(as_dict(q).get("epcClass")))
        for field in (
            "quantityList",
            "childQuantityList",
            "inputQuantityList",
            "outputQuantityList",
        )
        for q in as_list(event.get(field))
    ]
    candidates = ssccs + objects + transactions + [c for c in classes if c[1]]
    if not candidates:
        raise ParseError("event identifies no object (no EPC, SSCC, quantity or transaction)", path)
    return unique_references(candidates[0], candidates[1:])


def _occurred_at(event: dict, path: str) -> tuple[datetime, dict]:
    if "eventTime" not in event:
        raise ParseError("missing eventTime", f"{path}.eventTime")
    moment = parse_iso_datetime(event["eventTime"], f"{path}.eventTime")
    if moment.tzinfo is None:
        raise ParseError("eventTime has no UTC offset", f"{path}.eventTime")
    extra: dict = {}
    offset_text = text_or_none(event.get("eventTimeZoneOffset"))
    if offset_text is None:
        extra["event_time_zone_offset_missing"] = True
        return moment, extra
    local_zone = parse_offset(offset_text, f"{path}.eventTimeZoneOffset")
    extra["tz_offset"] = offset_text
    return moment.astimezone(local_zone), extra


def _sensor_alarms(event: dict) -> list[dict]:
    alarms = []
    for element in as_list(event.get("sensorElementList")):
        for report in as_list(as_dict(element).get("sensorReport")):
            report = as_dict(report)
            if report.get("exception"):
                alarms.append(
                    {
                        "type": report.get("type"),
                        "exception": report.get("exception"),
                        "value": report.get("value"),
                        "uom": report.get("uom"),
                    }
                )
    return alarms


def _error_declaration(event: dict) -> dict | None:
    declaration = event.get("errorDeclaration")
    if not isinstance(declaration, dict):
        return None
    return {
        "declarationTime": declaration.get("declarationTime"),
        "reason": vocabulary_word(declaration.get("reason")),
        "correctiveEventIDs": [
            text for text in as_list(declaration.get("correctiveEventIDs")) if text_or_none(text)
        ],
    }


def _parse_event(event: Any, path: str) -> NormalizedEvent:
    if not isinstance(event, dict):
        raise ParseError("event must be a JSON object", path)
    event_type = text_or_none(event.get("type"))
    if event_type not in EVENT_TYPES:
        raise ParseError(f"unknown EPCIS event type {event.get('type')!r}", f"{path}.type")
    references = _references(event, path)
    occurred_at, extra = _occurred_at(event, path)
    biz_step = vocabulary_word(event.get("bizStep"))
    disposition = vocabulary_word(event.get("disposition"))
    alarms = _sensor_alarms(event)
    declaration = _error_declaration(event)
    code = biz_step or event_type
    milestone = map_code(
        code,
        {
            "disposition": disposition,
            "sensor_exception": bool(alarms),
            "error_declaration": declaration is not None,
        },
    )
    extra.update(
        {
            key: value
            for key, value in {
                "event_type": event_type,
                "action": event.get("action"),
                "disposition": disposition,
                "read_point": as_dict(event.get("readPoint")).get("id"),
                "biz_location": as_dict(event.get("bizLocation")).get("id"),
                "sensor_alarms": alarms,
                "error_declaration": declaration,
                "biz_step_missing": True if biz_step is None else None,
            }.items()
            if value not in (None, "", [])
        }
    )
    event_id = text_or_none(event.get("eventID"))
    reference_kind, reference = references[0]
    # Where it happened, as sent: the business location, else the read point (SGLN URNs or
    # GS1 Digital Link URIs; the pipeline resolves them to the tenant's registered places).
    location = text_or_none(extra.get("biz_location")) or text_or_none(extra.get("read_point"))
    return NormalizedEvent(
        standard="epcis",
        reference=reference,
        reference_kind=reference_kind,
        references=references,
        code=code,
        milestone=milestone,
        occurred_at=occurred_at,
        tz_unknown=False,
        location=location,
        classifier="ACT",
        dedupe_key=event_id or sha256_of(event),
        raw=canonical_json(event),
        extra=extra,
        issued_at=_record_time(event, path),
    )


def _record_time(event: dict, path: str) -> datetime | None:
    """recordTime: when the capturing system recorded the event (its issue time), in UTC;
    None when absent or without an offset (it is informational: never a reason to fail)."""
    value = event.get("recordTime")
    if not isinstance(value, str):
        return None
    try:
        moment = parse_iso_datetime(value, f"{path}.recordTime")
    except ParseError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


# --- registration (integrations.formats) ---------------------------------------------------


def map_code(biz_step: str, context: Mapping[str, Any] | None = None) -> str:
    """context: disposition, sensor_exception, error_declaration."""
    context = context or {}
    if context.get("disposition") in EPCIS_EXCEPTION_DISPOSITIONS:
        return "exception"
    if context.get("sensor_exception") or context.get("error_declaration"):
        return "exception"
    return EPCIS_BIZSTEP_MILESTONES.get(biz_step, "other")


def looks_like_epcis(document: Any) -> bool:
    return isinstance(document, dict) and (
        document.get("type") in ("EPCISDocument", "EPCISQueryDocument") or "epcisBody" in document
    )


FORMAT = Format(
    name="epcis",
    label="GS1 EPCIS",
    parse=lambda data, _context: parse_epcis(data),
    map_code=map_code,
    default_mapping=EPCIS_BIZSTEP_MILESTONES,
    sniff_json=looks_like_epcis,
)

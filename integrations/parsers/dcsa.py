"""DCSA Track & Trace parser: 2.2 flat events, 3.0-beta metadata/payload, 2026 drafts."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shipments.zones import LocalTimeError, localize, zone_for_coordinates, zone_for_locode

from .base import (
    Format,
    NormalizedEvent,
    ParseError,
    ParseResult,
    UnplacedEvent,
    unique_references,
)
from .jsonutil import (
    as_dict,
    as_list,
    canonical_json,
    load_json,
    parse_iso_datetime,
    text_or_none,
)

# DCSA codes are normalized to their 4-letter form before lookup (see DCSA_CODE_ALIASES).
DCSA_MILESTONES: dict[str, str] = {
    # transport
    "DEPA": "departed", "ARRI": "arrived", "APPR": "other",
    # equipment (GTIN/GTOT laden/empty rule applied by map_code with context)
    "PICK": "picked_up", "GTIN": "picked_up", "GTOT": "out_for_delivery", "DISC": "arrived",
    "DROP": "delivered", "CUSS": "customs_hold", "CUSI": "customs_hold",
    "CUSR": "customs_cleared", "LOAD": "other", "STUF": "other", "STRP": "other",
    "INSP": "other", "RSEA": "other", "RMVD": "other", "AVPU": "other", "AVDO": "other",
    "CROS": "other",
    # shipment (CONF/RECE count as order_created only for bookings)
    "CONF": "order_created", "RECE": "order_created", "HOLD": "exception",
    "REJE": "exception", "CANC": "exception", "VOID": "exception", "DRFT": "other",
    "PENA": "other", "PENU": "other", "PENC": "other", "ISSU": "other", "SURR": "other",
    "SUBM": "other", "REQS": "other", "CMPL": "other", "RELS": "other",
    # reefer / IoT (3.0)
    "ADJU": "other", "MEAS": "other", "DETC": "other",
}  # fmt: skip
DCSA_CODE_ALIASES: dict[str, str] = {
    "DEPARTED": "DEPA", "ARRIVED": "ARRI", "APPROACHING": "APPR",
    "PICKED_UP": "PICK", "GATED_IN": "GTIN", "GATE_IN": "GTIN", "GATED_OUT": "GTOT",
    "GATE_OUT": "GTOT", "DISCHARGED": "DISC", "DROPPED_OFF": "DROP",
    "CUSTOMS_SELECTED_FOR_SCAN": "CUSS", "CUSTOMS_SELECTED_FOR_INSPECTION": "CUSI",
    "CUSTOMS_RELEASED": "CUSR", "LOADED": "LOAD", "STUFFED": "STUF", "STRIPPED": "STRP",
    "INSPECTED": "INSP", "RESEALED": "RSEA", "REMOVED": "RMVD",
    "AVAILABLE_FOR_PICKUP": "AVPU", "AVAILABLE_FOR_PICK_UP": "AVPU",
    "AVAILABLE_FOR_DROPOFF": "AVDO", "AVAILABLE_FOR_DROP_OFF": "AVDO", "CROSSED": "CROS",
    "CONFIRMED": "CONF", "RECEIVED": "RECE", "ON_HOLD": "HOLD", "REJECTED": "REJE",
    "CANCELLED": "CANC", "CANCELED": "CANC", "VOIDED": "VOID", "DRAFTED": "DRFT",
    "PENDING_APPROVAL": "PENA", "PENDING_UPDATE": "PENU", "PENDING_CONFIRMATION": "PENC",
    "APPROVED": "APPR", "ISSUED": "ISSU", "SURRENDERED": "SURR", "SUBMITTED": "SUBM",
    "REQUESTED": "REQS", "COMPLETED": "CMPL", "RELEASED": "RELS", "ADJUSTED": "ADJU",
    "MEASURED": "MEAS", "DETECTED": "DETC",
}  # fmt: skip


def canonical_dcsa_code(code: str) -> str:
    return DCSA_CODE_ALIASES.get(code, code)


CLASSIFIERS = {
    "ACT": "ACT", "ACTUAL": "ACT",
    "EST": "EST", "ESTIMATED": "EST",
    "PLN": "PLN", "PLANNED": "PLN",
}  # fmt: skip
# Field names without their "Code" suffix: DCSA drafts spell them both ways (see spelled()).
EVENT_CODE_FIELDS = {
    "TRANSPORT": "transportEventType",
    "EQUIPMENT": "equipmentEventType",
    "SHIPMENT": "shipmentEventType",
    "IOT": "iotEventType",
    "REEFER": "reeferEventType",
}
EVENT_TYPES = frozenset(EVENT_CODE_FIELDS)
ALLOWED_CODES = {
    "TRANSPORT": {"ARRI", "DEPA", "APPR"},
    "EQUIPMENT": set(
        [
            "LOAD",
            "DISC",
            "GTIN",
            "GTOT",
            "STUF",
            "STRP",
            "PICK",
            "DROP",
            "INSP",
            "RSEA",
            "RMVD",
            "AVPU",
            "AVDO",
            "CUSS",
            "CUSI",
            "CUSR",
            "CROS",
        ]
    ),
    "SHIPMENT": set(
        [
            "RECE",
            "DRFT",
            "PENA",
            "PENU",
            "REJE",
            "APPR",
            "ISSU",
            "SURR",
            "SUBM",
            "VOID",
            "CONF",
            "REQS",
            "CMPL",
            "HOLD",
            "RELS",
            "PENC",
            "CANC",
        ]
    ),
    "IOT": {"DETC"},
    "REEFER": {"ADJU", "MEAS"},
}
DOCUMENT_KINDS = {"BKG": "booking", "CBR": "booking", "TRD": "transport_document"}
# Some 3.0 drafts spell document types out (documentReference.type).
DOCUMENT_TYPE_ALIASES = {
    "BOOKING": "BKG",
    "CARRIER_BOOKING_REQUEST": "CBR",
    "TRANSPORT_DOCUMENT": "TRD",
}
REFERENCE_KINDS = {
    "FF": "customer_reference",
    "SI": "customer_reference",
    "CR": "customer_reference",
    "AAO": "customer_reference",
    "PO": "purchase_order",
    "EQ": "container",
}
EQUIPMENT_CENTRED = ("EQUIPMENT", "IOT", "REEFER")
CLOCK_TOLERANCE = timedelta(minutes=5)
FUTURE_TOLERANCE = timedelta(days=1)


def spelled(mapping: dict, name: str) -> Any:
    """A field by its DCSA name with the "Code" suffix or, as some 3.0 drafts spell it,
    without (``eventTypeCode`` / ``eventType``): the shape decides, not one draft's names."""
    if not mapping:  # most lookups are in absent (empty) objects: no key work at all
        return None
    value = mapping.get(name + "Code")
    return mapping.get(name) if value is None else value


def _spelled_path(mapping: dict, name: str) -> str:
    return name if f"{name}Code" not in mapping and name in mapping else f"{name}Code"


def document_type(value: Any) -> str | None:
    text = text_or_none(value)
    if text is None:
        return None
    upper = text.upper()
    return DOCUMENT_TYPE_ALIASES.get(upper, upper)


def parse_dcsa(data: bytes, document: Any = None) -> ParseResult:
    body = load_json(data) if document is None else document
    result = ParseResult(format="dcsa")
    for path, item in _event_items(body):
        try:
            event = _parse_item(item, path, result)
        except ParseError as error:
            result.errors.append(error.with_context(path, path))
            continue
        if isinstance(event, UnplacedEvent):
            result.unplaced.append(event)
        elif event is not None:
            result.events.append(event)
    return result


def _event_items(body: Any) -> list[tuple[str, Any]]:
    if isinstance(body, list):
        return [(f"$[{index}]", item) for index, item in enumerate(body)]
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return [(f"$.events[{index}]", item) for index, item in enumerate(body["events"])]
    if isinstance(body, dict) and ("metadata" in body or _looks_like_event(body)):
        return [("$", body)]
    raise ParseError("unrecognized DCSA body: expected an event array, {events: [...]} or an event")


def _looks_like_event(body: dict) -> bool:
    return "eventType" in body or "eventClassification" in body


def _parse_item(
    item: Any, path: str, result: ParseResult
) -> NormalizedEvent | UnplacedEvent | None:
    if not isinstance(item, dict):
        raise ParseError("event must be a JSON object", path)
    if "metadata" in item:
        metadata = as_dict(item["metadata"])
        retracted = text_or_none(metadata.get("retractedEventID"))
        if retracted:
            result.retracted_ids.append(retracted)
            return None
        payload = item.get("payload")
        if not isinstance(payload, dict):
            raise ParseError("metadata without a payload object", f"{path}.payload")
        return _parse_event(payload, f"{path}.payload", metadata, item)
    if item.get("isRetracted") is True:
        retracted = text_or_none(item.get("eventID"))
        if retracted:
            result.retracted_ids.append(retracted)
            return None
        raise ParseError("retracted event without an eventID", f"{path}.eventID")
    return _parse_event(item, path, {}, item)


def _parse_event(
    event: dict, path: str, metadata: dict, whole: dict
) -> NormalizedEvent | UnplacedEvent:
    classification = as_dict(event.get("eventClassification"))
    is_v22 = not metadata and not classification
    field_path = f"{path}.eventClassification" if classification else path
    fields = classification or event
    event_type = _enum(
        spelled(classification, "eventType")
        or spelled(event, "eventType")
        or spelled(metadata, "eventType"),
        EVENT_TYPES,
        f"{field_path}.{_spelled_path(fields, 'eventType') if classification else 'eventType'}",
        "event type",
    )
    raw_classifier = spelled(classification, "eventClassifier")
    if raw_classifier is None:
        raw_classifier = spelled(event, "eventClassifier")
    classifier = CLASSIFIERS.get(str(raw_classifier or "").strip().upper())
    if classifier is None:
        name = _spelled_path(fields, "eventClassifier")
        raise ParseError(f"unknown or missing {name} {raw_classifier!r}", f"{field_path}.{name}")
    code_field = EVENT_CODE_FIELDS[event_type]
    raw_code = spelled(classification, code_field)
    if raw_code is None:
        raw_code = spelled(event, code_field)
    code_name = _spelled_path(fields, code_field)
    code = _enum(raw_code, ALLOWED_CODES[event_type], f"{field_path}.{code_name}", code_name)
    # Looked up once here, used by both _location and _extra.
    event_location = as_dict(event.get("eventLocation"))
    call = _transport_call(event)
    location = _location(event_location, call)
    moment, zone = _event_time(event, path, location, event_location)
    created = _created_time(event, metadata, path, required=is_v22)
    references, doc_type = _references(event, event_type, path)
    empty_indicator = _empty_indicator(event)
    milestone = map_code(
        code,
        {
            "classifier": classifier,
            "empty_indicator": empty_indicator,
            "document_type": doc_type,
        },
    )
    event_id = text_or_none(metadata.get("eventID")) or text_or_none(event.get("eventID"))
    extra = _extra(
        event,
        metadata,
        call,
        event_location,
        event_type=event_type,
        document_type=doc_type,
        empty_indicator=empty_indicator,
    )
    reference_kind, reference = references[0]
    raw = canonical_json(whole)
    issued_at = created.astimezone(UTC) if created is not None and created.tzinfo else None

    def build(occurred_at: datetime) -> NormalizedEvent:
        _check_plausibility(occurred_at, created, classifier, path, metadata)
        offset = occurred_at.utcoffset()
        if offset is not None:  # extra is this event's own dict
            extra["tz_offset"] = _offset_text(occurred_at, offset)
        return NormalizedEvent(
            standard="dcsa",
            reference=reference,
            reference_kind=reference_kind,
            references=references,
            code=str(raw_code).strip(),
            milestone=milestone,
            occurred_at=occurred_at,
            tz_unknown=False,
            location=location,
            classifier=classifier,
            dedupe_key=event_id or hashlib.sha256(raw.encode("utf-8")).hexdigest(),
            raw=raw,
            extra=extra,
            issued_at=issued_at,
        )

    if moment.tzinfo is not None:
        return build(moment)
    if zone is not None:
        try:
            return build(localize(moment, zone))
        except LocalTimeError as error:
            raise ParseError(error.message, f"{path}.eventDateTime") from None
    if location is None:
        raise ParseError(
            "eventDateTime has no UTC offset and the event has no location to place it",
            f"{path}.eventDateTime",
        )
    return UnplacedEvent(location, moment, f"{path}.eventDateTime", path, build, reference)


def _enum(value: Any, allowed: set[str], path: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"missing {what}", path)
    canonical = canonical_dcsa_code(value.strip().upper())
    if canonical not in allowed:
        raise ParseError(f"unknown {what} {value!r} (not in the DCSA enumeration)", path)
    return canonical


def _event_time(
    event: dict, path: str, location: str | None, event_location: dict
) -> tuple[datetime, ZoneInfo | None]:
    """eventDateTime, and for one sent without an offset the zone of its place: the
    UN/LOCODE's, else the coordinates' (None when neither tells)."""
    if "eventDateTime" not in event:
        raise ParseError("missing eventDateTime", f"{path}.eventDateTime")
    moment = parse_iso_datetime(event["eventDateTime"], f"{path}.eventDateTime")
    if moment.tzinfo is not None:
        return moment, None
    zone = zone_for_locode(location)
    if zone is None:
        geo = as_dict(event_location.get("geoCoordinate")) or event_location
        latitude, longitude = geo.get("latitude"), geo.get("longitude")
        if _is_coordinate(latitude) and _is_coordinate(longitude):
            zone = zone_for_coordinates(float(latitude), float(longitude))  # type: ignore[arg-type]
    return moment, zone


def _is_coordinate(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, int | float) and math.isfinite(value)


def _created_time(event: dict, metadata: dict, path: str, *, required: bool) -> datetime | None:
    if "eventCreatedDateTime" in metadata:
        return parse_iso_datetime(
            metadata["eventCreatedDateTime"],
            f"{path.removesuffix('.payload')}.metadata.eventCreatedDateTime",
        )
    if "eventCreatedDateTime" in event:
        return parse_iso_datetime(event["eventCreatedDateTime"], f"{path}.eventCreatedDateTime")
    if required:
        raise ParseError("missing eventCreatedDateTime", f"{path}.eventCreatedDateTime")
    return None


def _check_plausibility(
    occurred_at: datetime, created: datetime | None, classifier: str, path: str, metadata: dict
) -> None:
    if created is None or created.tzinfo is None:
        return
    if created > datetime.now(UTC) + FUTURE_TOLERANCE:
        created_path = (
            f"{path.removesuffix('.payload')}.metadata.eventCreatedDateTime"
            if "eventCreatedDateTime" in metadata
            else f"{path}.eventCreatedDateTime"
        )
        raise ParseError(
            f"eventCreatedDateTime {created.isoformat()} is in the future", created_path
        )
    if (
        classifier == "ACT"
        and occurred_at.tzinfo is not None
        and occurred_at > created + CLOCK_TOLERANCE
    ):
        raise ParseError(
            f"actual eventDateTime {occurred_at.isoformat()} is later than eventCreatedDateTime "
            f"{created.isoformat()}",
            f"{path}.eventDateTime",
        )


def _document_references(event: dict) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for entry in as_list(event.get("documentReferences")):
        entry = as_dict(entry)
        found.append((entry.get("documentReferenceType"), entry.get("documentReferenceValue")))
    for entry in as_list(event.get("relatedDocumentReferences")):
        entry = as_dict(entry)
        found.append((entry.get("type"), entry.get("value")))
    details = as_dict(event.get("shipmentDetails"))
    if details:  # without it the entries below would all be (None, None), dropped anyway
        for entry in [
            details.get("documentReference"),
            *as_list(details.get("additionalDocumentReferences")),
        ]:
            entry = as_dict(entry)
            found.append((entry.get("typeCode") or entry.get("type"), entry.get("reference")))
    references: list[tuple[str, str]] = []
    for raw_kind, raw_value in found:
        value = text_or_none(raw_value)
        kind = document_type(raw_kind)
        if kind and value:
            references.append((kind, value))
    return references


def _other_references(event: dict) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for entry in as_list(event.get("references")):
        entry = as_dict(entry)
        kind = REFERENCE_KINDS.get(
            str(entry.get("referenceType") or entry.get("type") or "").upper()
        )
        value = text_or_none(entry.get("referenceValue") or entry.get("value"))
        if kind and value:
            found.append((kind, value))
    return found


def _equipment_reference(event: dict) -> str | None:
    return text_or_none(event.get("equipmentReference")) or text_or_none(
        as_dict(event.get("equipmentDetails")).get("equipmentReference")
    )


def _shipment_document(event: dict) -> tuple[str | None, str | None]:
    doc_type = document_type(spelled(event, "documentType"))
    value = text_or_none(event.get("documentID"))
    if value is None and isinstance(event.get("documentReference"), str):
        value = text_or_none(event.get("documentReference"))
    if value is None:
        reference = as_dict(as_dict(event.get("shipmentDetails")).get("documentReference"))
        doc_type = doc_type or document_type(reference.get("typeCode") or reference.get("type"))
        value = text_or_none(reference.get("reference"))
    return doc_type, value


def _references(
    event: dict, event_type: str, path: str
) -> tuple[tuple[tuple[str, str], ...], str | None]:
    documents = [
        (DOCUMENT_KINDS.get(t, "customer_reference"), v) for t, v in _document_references(event)
    ]
    others = _other_references(event)
    equipment = _equipment_reference(event)
    equipment_refs = [("container", equipment)] if equipment else []
    doc_type = None
    primary: tuple[str, str] | None = None
    if event_type == "SHIPMENT":
        doc_type, value = _shipment_document(event)
        if value:
            primary = (DOCUMENT_KINDS.get(doc_type or "", "customer_reference"), value)
    elif event_type in EQUIPMENT_CENTRED and equipment:
        primary = ("container", equipment)
    else:
        candidates = sorted(documents, key=_not_booking) + equipment_refs
        primary = candidates[0] if candidates else None
    if primary is None:
        candidates = documents + equipment_refs + others
        if not candidates:
            raise ParseError(f"{event_type.lower()} event carries no usable reference", path)
        primary = candidates[0]
    return unique_references(primary, documents + equipment_refs + others), doc_type


def _not_booking(reference: tuple[str, str]) -> bool:
    return reference[0] != "booking"


def _transport_call(event: dict) -> dict:
    return as_dict(event.get("transportCall")) or as_dict(
        as_dict(event.get("transportDetails")).get("transportCall")
    )


def _location(event_location: dict, call: dict) -> str | None:
    call_location = as_dict(call.get("location"))
    for candidate in (
        spelled(event_location, "UNLocation"),
        spelled(call, "UNLocation"),
        spelled(call_location, "UNLocation"),
        as_dict(event_location.get("address")).get("city"),
        as_dict(call_location.get("address")).get("city"),
    ):
        text = text_or_none(candidate)
        if text:
            return text
    return None


def _empty_indicator(event: dict) -> str | None:
    value = spelled(event, "emptyIndicator") or spelled(
        as_dict(event.get("equipmentDetails")), "emptyIndicator"
    )
    return str(value).upper() if value else None


def _extra(
    event: dict,
    metadata: dict,
    call: dict,
    event_location: dict,
    *,
    event_type: str,
    document_type: str | None,
    empty_indicator: str | None,
) -> dict:
    vessel = as_dict(call.get("vessel")) or as_dict(call.get("vesselTransport"))
    geo = as_dict(event_location.get("geoCoordinate")) or event_location
    details = {
        "event_type": event_type,
        "eventCreatedDateTime": metadata.get("eventCreatedDateTime")
        or event.get("eventCreatedDateTime"),
        "eventUpdatedDateTime": event.get("eventUpdatedDateTime"),
        "document_type_code": document_type,
        "reason": event.get("reason"),
        "delay_reason_code": spelled(event, "delayReason"),
        "change_remark": event.get("changeRemark"),
        "empty_indicator": empty_indicator,
        "iso_equipment_code": event.get("ISOEquipmentCode")
        or as_dict(event.get("equipmentDetails")).get("ISOEquipmentCode"),
        "mode_of_transport": call.get("modeOfTransport"),
        "vessel_imo": vessel.get("vesselIMONumber"),
        "vessel_name": vessel.get("vesselName") or vessel.get("name"),
        "facility_type_code": spelled(event_location, "facilityType")
        or spelled(call, "facilityType"),
        "latitude": geo.get("latitude"),
        "longitude": geo.get("longitude"),
        "location_name": event_location.get("locationName"),
        "publisher": as_dict(metadata.get("publisher")).get("carrierCode"),
        "seals": as_list(event.get("seals")) or None,
    }
    return {key: value for key, value in details.items() if value not in (None, "", [])}


# strftime("%z") depends on the UTC offset alone, and a message repeats the same few offsets.
OFFSET_TEXTS: dict[timedelta, str] = {}


def _offset_text(moment: datetime, offset: timedelta) -> str:
    text = OFFSET_TEXTS.get(offset)
    if text is None:
        text = moment.strftime("%z")
        if len(OFFSET_TEXTS) < 4096:  # bounded, though real offsets are few
            OFFSET_TEXTS[offset] = text
    return text


# --- registration (integrations.formats) ---------------------------------------------------


def map_code(code: str, context: Mapping[str, Any] | None = None) -> str:
    """context: classifier (ACT/EST/PLN), empty_indicator (EMPTY/LADEN), document_type."""
    context = context or {}
    if context.get("classifier", "ACT") in ("EST", "PLN"):
        return "estimated"
    code = canonical_dcsa_code(code)
    milestone = DCSA_MILESTONES.get(code, "other")
    if code in ("GTIN", "GTOT") and context.get("empty_indicator") == "EMPTY":
        return "other"
    if code in ("CONF", "RECE") and context.get("document_type") not in (None, "BKG"):
        return "other"
    return milestone


def looks_like_dcsa(document: Any) -> bool:
    if isinstance(document, list):
        return True
    return isinstance(document, dict) and any(
        key in document for key in ("events", "metadata", "eventType", "eventClassification")
    )


FORMAT = Format(
    name="dcsa",
    label="DCSA Track & Trace",
    parse=lambda data, _context: parse_dcsa(data),
    map_code=map_code,
    default_mapping=DCSA_MILESTONES,
    estimate_targets={
        "DEPA": "departed",
        "DEPARTED": "departed",
        "ARRI": "arrived",
        "ARRIVED": "arrived",
        "PICK": "picked_up",
        "DISC": "arrived",
        "DROP": "delivered",
        "GTOT": "out_for_delivery",
    },
    sniff_json=looks_like_dcsa,
)

"""UN/EDIFACT IFTSTA (international multimodal status report) parser with envelope checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from shipments.zones import LOCODE_PATTERN, LocalTimeError, localize, zone_for_locode

from .base import (
    Format,
    NormalizedEvent,
    ParseError,
    ParseResult,
    UnplacedEvent,
    decode_text,
    edi_dedupe_key,
    leading_bytes,
    unique_references,
)

Parsed = NormalizedEvent | UnplacedEvent

# STS status codes (digest section 2.3).
EDIFACT_STS_MILESTONES: dict[str, str] = {
    "1": "arrived", "2": "other", "5": "other", "14": "other", "6": "order_created",
    "7": "exception", "8": "customs_cleared", "9": "customs_cleared", "10": "other",
    "11": "other", "12": "customs_cleared", "13": "picked_up", "15": "other", "16": "other",
    "17": "customs_hold", "18": "exception", "20": "exception", "21": "delivered",
    "22": "delivered", "23": "exception", "24": "departed", "25": "exception",
    "27": "picked_up", "29": "arrived", "31": "other",
}  # fmt: skip

DEFAULT_SEPARATORS = (":", "+", ".", "?", " ", "'")
EIGHT_BIT_CHARSETS = re.compile(rb"UNB[^A-Za-z0-9]{1,3}UNO[C-K]")
DTM_CLASSIFIERS = {
    "334": "ACT", "178": "ACT", "186": "ACT", "35": "ACT",
    "132": "EST", "133": "EST", "17": "EST",
    "189": "PLN", "232": "PLN",
}  # fmt: skip
CLASSIFIER_PRIORITY = ("ACT", "EST", "PLN")
LOC_PRIORITY = ("175", "5", "9", "11", "7", "8", "88")
RFF_REFERENCE_KINDS = {
    "BM": "bill_of_lading",
    "BN": "booking",
    "CU": "customer_reference",
    "ON": "purchase_order",
    "AWB": "air_waybill",
    "CN": "tracking_number",
}
UTC_ZONE_INDICATORS = {"UTC", "GMT", "Z", "UT", "ZZZ"}
DTM_LENGTHS = {"102": 8, "203": 12, "204": 14}


@dataclass
class EdiSegment:
    index: int
    elements: list[list[str]]
    text: str

    @property
    def tag(self) -> str:
        return self.elements[0][0].strip().upper()

    def value(self, element: int, component: int = 0) -> str:
        if element >= len(self.elements) or component >= len(self.elements[element]):
            return ""
        return self.elements[element][component].strip()

    def at(self, element: int = 0) -> str:
        where = f"segment {self.index} ({self.tag})"
        return f"{where}, element {element}" if element else where


@dataclass
class Separators:
    component: str
    element: str
    release: str | None
    terminator: str


def read_separators(text: str) -> tuple[Separators, str]:
    if not text.startswith("UNA"):
        component, element, _, release, _, terminator = DEFAULT_SEPARATORS
        return Separators(component, element, release, terminator), text
    if len(text) < 9:
        raise ParseError("UNA service string advice truncated", position="segment 1 (UNA)")
    component, element, _, release, _, terminator = text[3:9]
    if len({component, element, terminator}) != 3 or any(
        ch.isalnum() for ch in (component, element, terminator)
    ):
        raise ParseError("UNA declares clashing or alphanumeric separators", "segment 1 (UNA)")
    separators = Separators(component, element, None if release == " " else release, terminator)
    return separators, text[9:]


def tokenize(text: str) -> tuple[list[EdiSegment], Separators]:
    separators, body = read_separators(text.lstrip(" \t\r\n"))
    segments: list[EdiSegment] = []
    elements: list[list[str]] = [[""]]
    current: list[str] = []
    raw_start = 0
    position = 0
    length = len(body)
    while position < length:
        char = body[position]
        if char == separators.release:
            if position + 1 >= length:
                raise ParseError("release character at end of input (truncated)")
            current.append(body[position + 1])
            position += 2
            continue
        if char == separators.terminator:
            elements[-1][-1] = "".join(current)
            segments.append(EdiSegment(len(segments) + 1, elements, body[raw_start:position]))
            elements, current = [[""]], []
            position += 1
            while position < length and body[position] in "\r\n":
                position += 1
            raw_start = position
            continue
        if char == separators.element:
            elements[-1][-1] = "".join(current)
            elements.append([""])
            current = []
        elif char == separators.component:
            elements[-1][-1] = "".join(current)
            elements[-1].append("")
            current = []
        elif not (char in "\r\n" and position == raw_start):
            current.append(char)
        else:
            raw_start = position + 1
        position += 1
    elements[-1][-1] = "".join(current)
    if body[raw_start:].strip():
        segments.append(EdiSegment(len(segments) + 1, elements, body[raw_start:]))
    return segments, separators


def parse_edifact(data: bytes) -> ParseResult:
    allow_latin1 = EIGHT_BIT_CHARSETS.search(bytes(data[:200])) is not None
    segments, separators = tokenize(decode_text(data, fallback_latin1=allow_latin1))
    if not segments or segments[0].tag != "UNB":
        raise ParseError("input does not start with a UNB interchange header", "segment 1")
    return _EnvelopeWalker(separators).walk(segments)


@dataclass
class Message:
    header: EdiSegment
    unit: str
    body: list[EdiSegment] = field(default_factory=list)


@dataclass
class Interchange:
    header: EdiSegment
    unit: str
    message_count: int = 0
    group_count: int = 0
    events: list[Parsed] = field(default_factory=list)


class _EnvelopeWalker:
    def __init__(self, separators: Separators):
        self.separators = separators
        self.result = ParseResult(format="edifact")
        self.interchange: Interchange | None = None
        self.message: Message | None = None
        self.stray_reported = False

    def walk(self, segments: list[EdiSegment]) -> ParseResult:
        handlers = {
            "UNB": self._open_interchange,
            "UNG": self._open_group,
            "UNE": lambda segment: None,
            "UNH": self._open_message,
            "UNT": self._close_message,
            "UNZ": self._close_interchange,
        }
        for segment in segments:
            handler = handlers.get(segment.tag)
            if handler:
                handler(segment)
            elif self.message is not None:
                self.message.body.append(segment)
            else:
                self._report_stray(segment)
        self._abandon_message("end of input")
        self._abandon_interchange("end of input")
        return self.result

    def _error(self, reason: str, position: str | None, unit: str | None) -> None:
        self.result.errors.append(ParseError(reason, position, unit))

    def _report_stray(self, segment: EdiSegment) -> None:
        if not self.stray_reported:
            self.stray_reported = True
            unit = self.interchange.unit if self.interchange else None
            self._error(f"segment {segment.tag} outside a message", segment.at(), unit)

    def _open_interchange(self, segment: EdiSegment) -> None:
        self._abandon_message(f"new UNB at segment {segment.index}")
        self._abandon_interchange(f"new UNB at segment {segment.index}")
        self.interchange = Interchange(segment, f"UNB {segment.value(5)}")

    def _open_group(self, segment: EdiSegment) -> None:
        if self.interchange is not None:
            self.interchange.group_count += 1

    def _open_message(self, segment: EdiSegment) -> None:
        self._abandon_message(f"new UNH at segment {segment.index}")
        if self.interchange is None:
            self._error("UNH outside an interchange (no UNB)", segment.at(), None)
            return
        self.interchange.message_count += 1
        self.message = Message(segment, f"{self.interchange.unit} / UNH {segment.value(1)}")

    def _close_message(self, trailer: EdiSegment) -> None:
        message, self.message = self.message, None
        if message is None:
            unit = self.interchange.unit if self.interchange else None
            self._error("UNT without a matching UNH", trailer.at(), unit)
            return
        problem = _message_control_problem(message, trailer)
        if problem:
            self._error(problem[0], problem[1], message.unit)
            return
        events, errors = parse_message(
            message, self.separators.terminator, _interchange_issued(self.interchange)
        )
        self.result.errors.extend(errors)
        if self.interchange is not None:
            self.interchange.events.extend(events)

    def _close_interchange(self, trailer: EdiSegment) -> None:
        self._abandon_message(f"UNZ at segment {trailer.index}")
        interchange, self.interchange = self.interchange, None
        if interchange is None:
            self._error("UNZ without a matching UNB", trailer.at(), None)
            return
        expected = interchange.group_count or interchange.message_count
        declared, control = trailer.value(1), trailer.value(2)
        if not (declared.isdigit() and int(declared) == expected):
            what = "groups" if interchange.group_count else "messages"
            reason = f"UNZ01 says {declared or 'nothing'} {what}, interchange has {expected}"
            self._reject(reason, trailer.at(1), interchange)
        elif control != interchange.header.value(5):
            reason = f"UNZ02 {control!r} does not match UNB05 {interchange.header.value(5)!r}"
            self._reject(reason, trailer.at(2), interchange)
        else:
            for event in interchange.events:
                if isinstance(event, UnplacedEvent):
                    self.result.unplaced.append(event)
                else:
                    self.result.events.append(event)

    def _reject(self, reason: str, position: str, interchange: Interchange) -> None:
        discarded = len(interchange.events)
        self._error(
            f"{reason}; unit rejected ({discarded} events discarded)", position, interchange.unit
        )

    def _abandon_message(self, why: str) -> None:
        if self.message is not None:
            reason = f"truncated message: UNH has no UNT before {why}"
            self._error(reason, self.message.header.at(), self.message.unit)
            self.message = None

    def _abandon_interchange(self, why: str) -> None:
        if self.interchange is not None:
            reason = f"truncated interchange: UNB has no UNZ before {why}"
            self._reject(reason, self.interchange.header.at(), self.interchange)
            self.interchange = None


def _message_control_problem(message: Message, trailer: EdiSegment) -> tuple[str, str] | None:
    actual = len(message.body) + 2
    declared = trailer.value(1)
    if not (declared.isdigit() and int(declared) == actual):
        return (
            f"UNT01 segment count {declared or 'missing'} does not match actual count {actual}",
            trailer.at(1),
        )
    if trailer.value(2) != message.header.value(1):
        return (
            f"UNT02 {trailer.value(2)!r} does not match UNH01 {message.header.value(1)!r}",
            trailer.at(2),
        )
    if message.header.value(2).upper() != "IFTSTA":
        return (f"message type {message.header.value(2)!r} is not IFTSTA", message.header.at(2))
    return None


@dataclass
class Parent:
    kind: str  # "cni" | "eqd"
    header: EdiSegment
    segments: list[EdiSegment] = field(default_factory=list)


@dataclass
class StatusGroup:
    sts: EdiSegment
    parent: Parent | None
    segments: list[EdiSegment] = field(default_factory=list)


def _group_statuses(body: list[EdiSegment]) -> tuple[list[EdiSegment], list[StatusGroup]]:
    """Assign segments to message level, CNI/EQD parents and STS groups."""
    message_level: list[EdiSegment] = []
    statuses: list[StatusGroup] = []
    parent: Parent | None = None
    status: StatusGroup | None = None
    seen_consignment = False
    for segment in body:
        tag = segment.tag
        if tag == "CNI":
            seen_consignment = True
            parent, status = Parent("cni", segment), None
        elif tag == "EQD" and not seen_consignment:
            parent, status = Parent("eqd", segment), None
        elif tag == "STS":
            status = StatusGroup(segment, parent)
            statuses.append(status)
        elif status is not None:
            status.segments.append(segment)
        elif parent is not None:
            parent.segments.append(segment)
        else:
            message_level.append(segment)
    return message_level, statuses


def _interchange_issued(interchange: Interchange | None) -> str | None:
    """UNB S004, the interchange's preparation date and time (YYMMDD or CCYYMMDD, HHMM), as
    sent: the sender's local time, without a zone."""
    if interchange is None:
        return None
    date_text, time_text = interchange.header.value(4, 0), interchange.header.value(4, 1)
    if len(date_text) == 6 and date_text.isdigit():
        date_text = "20" + date_text
    if len(date_text) != 8 or not date_text.isdigit():
        return None
    if len(time_text) != 4 or not time_text.isdigit():
        return None
    try:
        return _digits_to_datetime(date_text + time_text, "203", date_text).isoformat()
    except ParseError:
        return None


def _message_issued(
    message_level: list[EdiSegment], interchange_issued: str | None
) -> tuple[datetime | None, dict]:
    """The message's own issue time: DTM 137 (document date/time) at message level, aware
    where it says its zone (205, or 303/304 in UTC); else what was sent, kept unplaced."""
    extra: dict = {}
    dtm = next((s for s in message_level if s.tag == "DTM" and s.value(1) == "137"), None)
    if dtm is not None:
        try:
            naive, zone, _ = parse_dtm_value(dtm.value(1, 1), dtm.value(1, 2))
        except ParseError:
            naive, zone = None, None
        if naive is not None and zone is not None:
            return naive.replace(tzinfo=zone).astimezone(UTC), extra
        if naive is not None:
            extra["issued_local"] = naive.isoformat()
            return None, extra
    if interchange_issued:
        extra["issued_local"] = interchange_issued
    return None, extra


def parse_message(
    message: Message, terminator: str, interchange_issued: str | None = None
) -> tuple[list[Parsed], list[ParseError]]:
    message_level, statuses = _group_statuses(message.body)
    consignments = [s.value(2) for s in message.body if s.tag == "CNI" and s.value(2)]
    issued = _message_issued(message_level, interchange_issued)
    events: list[Parsed] = []
    errors: list[ParseError] = []
    for status in statuses:
        try:
            events.append(
                _build_event(status, message_level, consignments, terminator, message.unit, issued)
            )
        except ParseError as error:
            errors.append(error.with_context(status.sts.at(), message.unit))
    if not statuses:
        errors.append(
            ParseError("message has no STS status segment", message.header.at(), message.unit)
        )
    return events, errors


def _references_in(segments: list[EdiSegment]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for segment in segments:
        if segment.tag == "RFF":
            kind = RFF_REFERENCE_KINDS.get(segment.value(1, 0).upper())
            if kind and segment.value(1, 1):
                found.append((kind, segment.value(1, 1)))
        elif segment.tag == "EQD" and segment.value(1).upper() == "CN" and segment.value(2):
            found.append(("container", segment.value(2)))
    return found


def _primary_reference(
    status: StatusGroup, consignments: list[str], candidates: list[tuple[str, str]]
) -> tuple[str, str]:
    parent = status.parent
    if parent is not None and parent.kind == "cni" and parent.header.value(2):
        return ("consignment", parent.header.value(2))
    if len(consignments) == 1:
        return ("consignment", consignments[0])
    if parent is not None and parent.kind == "eqd" and parent.header.value(2):
        return ("container", parent.header.value(2))
    if candidates:
        return candidates[0]
    raise ParseError("status has no consignment (CNI), equipment (EQD) or RFF reference")


def _build_event(
    status: StatusGroup,
    message_level: list[EdiSegment],
    consignments: list[str],
    terminator: str,
    unit: str,
    issued: tuple[datetime | None, dict],
) -> Parsed:
    parent_segments = [status.parent.header, *status.parent.segments] if status.parent else []
    candidates = (
        _references_in(status.segments)
        + _references_in(parent_segments)
        + _references_in(message_level)
    )
    primary = _primary_reference(status, consignments, candidates)
    references = unique_references(primary, candidates)
    code = status.sts.value(2)
    if not code:
        raise ParseError("STS carries no status code (C555)", status.sts.at(2))
    location_segment = _pick_location(status.segments, parent_segments, message_level)
    locode, location = _location_of(location_segment)
    dtm, classifier = _pick_date(status)
    naive, zone, zone_label = _local_time(dtm, locode)
    extra = _status_extra(status, dtm, location_segment)
    if zone_label:
        extra["zone_indicator"] = zone_label
    issued_at, issued_extra = issued
    extra.update(issued_extra)
    if code not in EDIFACT_STS_MILESTONES:
        extra["unknown_code"] = True
    milestone = map_code(code, {"classifier": classifier})
    reference_kind, reference = references[0]
    raw = "".join(s.text + terminator for s in [status.sts, *status.segments])

    def build(occurred_at: datetime) -> NormalizedEvent:
        # extra is this event's own dict (built above for it alone)
        extra["tz_offset"] = _format_offset(occurred_at.utcoffset() or timedelta(0))
        return NormalizedEvent(
            standard="edifact",
            reference=reference,
            reference_kind=reference_kind,
            references=references,
            code=code,
            milestone=milestone,
            occurred_at=occurred_at,
            tz_unknown=False,
            location=location,
            classifier=classifier,
            dedupe_key=edi_dedupe_key(
                "edifact", reference, code, occurred_at, location, classifier
            ),
            raw=raw,
            extra=extra,
            issued_at=issued_at,
        )

    if zone is not None:
        try:
            return build(localize(naive, zone))
        except LocalTimeError as error:
            raise ParseError(error.message, dtm.at(1)) from None
    if location is None:
        raise ParseError(
            "DTM time has no UTC offset and the status has no location (LOC) to place it",
            dtm.at(1),
        )
    return UnplacedEvent(location, naive, dtm.at(1), unit, build, reference)


def _pick_date(status: StatusGroup) -> tuple[EdiSegment, str]:
    dated = [
        (CLASSIFIER_PRIORITY.index(DTM_CLASSIFIERS[s.value(1)]), index, s)
        for index, s in enumerate(status.segments)
        if s.tag == "DTM" and s.value(1) in DTM_CLASSIFIERS
    ]
    if not dated:
        raise ParseError(
            "status group has no event date/time (DTM 334/178/186/35/132/133/17/189/232)",
            status.sts.at(),
        )
    _, _, segment = min(dated, key=lambda item: item[:2])
    return segment, DTM_CLASSIFIERS[segment.value(1)]


def _pick_location(*segment_lists: list[EdiSegment]) -> EdiSegment | None:
    for segments in segment_lists:
        locations = [s for s in segments if s.tag == "LOC" and (s.value(2) or s.value(2, 3))]
        if locations:
            ranked = sorted(
                locations,
                key=lambda s: LOC_PRIORITY.index(s.value(1)) if s.value(1) in LOC_PRIORITY else 99,
            )
            return ranked[0]
    return None


def _location_of(segment: EdiSegment | None) -> tuple[str | None, str | None]:
    if segment is None:
        return None, None
    code, name = segment.value(2).upper().replace(" ", ""), segment.value(2, 3)
    if LOCODE_PATTERN.match(code):
        return code, code
    return None, name or segment.value(2) or None


def _local_time(
    dtm: EdiSegment, locode: str | None
) -> tuple[datetime, ZoneInfo | timezone | None, str]:
    """The DTM date/time, its zone (stated, else the UN/LOCODE's) and the zone indicator."""
    value, format_code = dtm.value(1, 1), dtm.value(1, 2)
    try:
        naive, zone, zone_label = parse_dtm_value(value, format_code)
    except ParseError as error:
        raise error.with_context(dtm.at(1)) from None
    return naive, zone if zone is not None else zone_for_locode(locode), zone_label


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_dtm_value(value: str, format_code: str) -> tuple[datetime, timezone | None, str]:
    """Naive datetime, explicit zone (205 / UTC 303-304) and the raw zone indicator."""
    format_code = format_code or {8: "102", 12: "203", 14: "204"}.get(len(value), "")
    zone: timezone | None = None
    zone_label = ""
    digits = value
    if format_code == "205":
        match = re.fullmatch(r"(\d{12})([+-])(\d{2})(\d{2})", value)
        if not match:
            raise ParseError(f"DTM value {value!r} is not CCYYMMDDHHMM±HHMM (format 205)")
        digits = match.group(1)
        sign = 1 if match.group(2) == "+" else -1
        hours, minutes = int(match.group(3)), int(match.group(4))
        if hours > 14 or minutes > 59:
            raise ParseError(f"impossible UTC offset in DTM value {value!r}")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    elif format_code in ("303", "304"):
        width = 12 if format_code == "303" else 14
        digits, zone_label = value[:width], value[width:].strip().upper()
        if zone_label in UTC_ZONE_INDICATORS:
            zone = UTC
    elif format_code not in DTM_LENGTHS:
        raise ParseError(f"unsupported DTM format code {format_code!r} for value {value!r}")
    return _digits_to_datetime(digits, format_code, value), zone, zone_label


def _digits_to_datetime(digits: str, format_code: str, value: str) -> datetime:
    expected = {"102": 8, "203": 12, "205": 12, "303": 12, "204": 14, "304": 14}[format_code]
    if len(digits) != expected or not digits.isdigit():
        raise ParseError(f"DTM value {value!r} does not match format {format_code}")
    padded = digits.ljust(14, "0")
    try:
        return datetime(
            int(padded[:4]),
            int(padded[4:6]),
            int(padded[6:8]),
            int(padded[8:10]),
            int(padded[10:12]),
            int(padded[12:14]),
        )
    except ValueError as exc:
        raise ParseError(f"impossible date/time {value!r}: {exc}") from None


def _status_extra(
    status: StatusGroup, dtm: EdiSegment, location_segment: EdiSegment | None
) -> dict:
    sts = status.sts
    extra: dict = {"dtm_qualifier": dtm.value(1), "status_category": sts.value(1)}
    reasons = [sts.value(index) for index in range(3, len(sts.elements)) if sts.value(index)]
    if reasons:
        extra["reason_codes"] = reasons
    if location_segment is not None:
        extra["location_qualifier"] = location_segment.value(1)
    equipment = [s.value(2) for s in status.segments if s.tag == "EQD" and s.value(2)]
    if status.parent and status.parent.kind == "eqd":
        equipment.insert(0, status.parent.header.value(2))
    if equipment:
        extra["equipment"] = equipment
    transport = next((s for s in status.segments if s.tag == "TDT"), None)
    if transport is not None:
        details = {
            "stage": transport.value(1),
            "voyage": transport.value(2),
            "carrier": transport.value(5),
            "vessel_id": transport.value(8),
            "vessel_name": transport.value(8, 3),
        }
        extra["transport"] = {key: value for key, value in details.items() if value}
    free_text = [s.value(4) for s in status.segments if s.tag == "FTX" and s.value(4)]
    if free_text:
        extra["free_text"] = free_text
    return extra


# --- registration (integrations.formats) ---------------------------------------------------


def map_code(code: str, context: Mapping[str, Any] | None = None) -> str:
    if (context or {}).get("classifier", "ACT") in ("EST", "PLN"):
        return "estimated"
    return EDIFACT_STS_MILESTONES.get(code, "other")


FORMAT = Format(
    name="edifact",
    label="EDIFACT IFTSTA",
    parse=lambda data, _context: parse_edifact(data),
    map_code=map_code,
    default_mapping=EDIFACT_STS_MILESTONES,
    estimate_targets={"24": "departed", "1": "arrived", "29": "arrived", "21": "delivered"},
    sniff=lambda data: leading_bytes(data).startswith((b"UNA", b"UNB")),
)

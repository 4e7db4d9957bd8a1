"""ANSI X12 214 (Transportation Carrier Shipment Status) parser with envelope checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from shipments.zones import LocalTimeError, localize, x12_time_code_zone, zone_for_place

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

# AT7-01 status codes (digest section 1.3).
X12_AT7_MILESTONES: dict[str, str] = {
    "XB": "order_created",
    "X3": "other", "X8": "other", "AM": "other", "R1": "other", "J1": "other",
    "K1": "other", "AV": "other", "CD": "other", "OO": "other", "AN": "other",
    "BC": "other", "CL": "other",
    "CP": "picked_up", "AF": "picked_up", "BA": "picked_up",
    "X4": "arrived", "AR": "arrived", "X1": "arrived", "X5": "arrived", "S1": "arrived",
    "P1": "departed", "RL": "departed",
    "C1": "estimated", "B6": "estimated", "AG": "estimated", "X2": "estimated",
    "PR": "customs_hold",
    "CT": "customs_cleared",
    "X6": "out_for_delivery", "AJ": "out_for_delivery",
    "D1": "delivered", "CB": "delivered",
    "SD": "exception", "A9": "exception", "AH": "exception", "AP": "exception",
    "A7": "exception", "A3": "exception", "AI": "exception", "CA": "exception",
    "PA": "exception",
}  # fmt: skip
# Estimate status codes and the milestone each one estimates (one table for both uses).
X12_ESTIMATE_TARGETS: dict[str, str] = {
    "AG": "delivered",
    "X2": "delivered",
    "C1": "departed",
    "B6": "arrived",
}

ISA_LENGTH = 106
L11_REFERENCE_KINDS = {
    "BM": "bill_of_lading",
    "PO": "purchase_order",
    "SI": "customer_reference",
    "CR": "customer_reference",
    "CN": "tracking_number",
    "BN": "booking",
    "AW": "air_waybill",
}
LINE_BREAKS = "\r\n"


@dataclass(slots=True)
class Segment:
    index: int
    elements: list[str]
    text: str
    # Read for every segment, often several times: computed once.
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        self.tag = self.elements[0].strip().upper()

    def element(self, number: int) -> str:
        return self.elements[number].strip() if number < len(self.elements) else ""

    def at(self, number: int = 0) -> str:
        where = f"segment {self.index} ({self.tag})"
        return f"{where}, element {number}" if number else where


@dataclass
class TransactionSet:
    header: Segment
    unit: str
    body: list[Segment] = field(default_factory=list)


@dataclass
class Group:
    header: Segment
    unit: str
    set_count: int = 0
    events: list[Parsed] = field(default_factory=list)
    issued_local: str | None = None  # GS04/GS05, read once per group


@dataclass
class Interchange:
    header: Segment
    unit: str
    group_count: int = 0
    events: list[Parsed] = field(default_factory=list)


@dataclass
class StatusBlock:
    at7: Segment
    ms1: Segment | None = None
    ms2: Segment | None = None
    extra_segments: list[Segment] = field(default_factory=list)


@dataclass
class LoopBlock:
    lx: Segment | None
    statuses: list[StatusBlock] = field(default_factory=list)
    references: list[Segment] = field(default_factory=list)


def tokenize(text: str) -> tuple[list[Segment], str]:
    """Split an X12 text into segments using the separators declared by the first ISA."""
    text = text.lstrip(" \t\r\n")
    if not text.startswith("ISA"):
        raise ParseError("input does not start with an ISA segment", position="segment 1")
    if len(text) < ISA_LENGTH:
        raise ParseError(
            f"ISA segment truncated ({len(text)} of {ISA_LENGTH} characters)",
            position="segment 1 (ISA)",
        )
    element_sep, terminator = text[3], text[105]
    if element_sep.isalnum() or element_sep == terminator or element_sep.isspace():
        raise ParseError(f"invalid element separator {element_sep!r} in ISA", "segment 1 (ISA)")
    if len(text[:105].split(element_sep)) != 17:
        raise ParseError(
            "ISA is not the fixed-width 16-element header (separator count mismatch)",
            position="segment 1 (ISA)",
        )
    pieces = [
        cleaned for piece in text.split(terminator) if (cleaned := piece.strip(LINE_BREAKS)).strip()
    ]
    segments = [
        Segment(index, cleaned.split(element_sep), cleaned)
        for index, cleaned in enumerate(pieces, 1)
    ]
    return segments, terminator


def parse_x12(data: bytes) -> ParseResult:
    segments, terminator = tokenize(decode_text(data))
    return _EnvelopeWalker(terminator).walk(segments)


class _EnvelopeWalker:
    """Walks ISA/GS/ST envelopes; a unit's events are kept only when all its controls pass."""

    def __init__(self, terminator: str):
        self.terminator = terminator
        self.result = ParseResult(format="x12")
        self.interchange: Interchange | None = None
        self.group: Group | None = None
        self.transaction: TransactionSet | None = None
        self.stray_reported = False

    def walk(self, segments: list[Segment]) -> ParseResult:
        handlers = {
            "ISA": self._open_interchange,
            "GS": self._open_group,
            "ST": self._open_set,
            "SE": self._close_set,
            "GE": self._close_group,
            "IEA": self._close_interchange,
        }
        for segment in segments:
            handler = handlers.get(segment.tag)
            if handler:
                handler(segment)
            elif self.transaction is not None:
                self.transaction.body.append(segment)
            else:
                self._report_stray(segment)
        self._abandon_set("end of input")
        self._abandon_group("end of input")
        self._abandon_interchange("end of input")
        return self.result

    def _accept(self, events: list[Parsed]) -> None:
        for event in events:
            if isinstance(event, UnplacedEvent):
                self.result.unplaced.append(event)
            else:
                self.result.events.append(event)

    def _error(self, reason: str, position: str | None, unit: str | None) -> None:
        self.result.errors.append(ParseError(reason, position, unit))

    def _report_stray(self, segment: Segment) -> None:
        if self.stray_reported:
            return
        self.stray_reported = True
        unit = (
            self.group.unit if self.group else self.interchange.unit if self.interchange else None
        )
        self._error(f"segment {segment.tag} outside a transaction set", segment.at(0), unit)

    def _open_interchange(self, segment: Segment) -> None:
        self._abandon_set(f"new ISA at segment {segment.index}")
        self._abandon_group(f"new ISA at segment {segment.index}")
        self._abandon_interchange(f"new ISA at segment {segment.index}")
        self.interchange = Interchange(segment, f"ISA {segment.element(13)}")

    def _open_group(self, segment: Segment) -> None:
        self._abandon_set(f"new GS at segment {segment.index}")
        self._abandon_group(f"new GS at segment {segment.index}")
        if self.interchange is None:
            self._error("GS outside an interchange (no ISA)", segment.at(0), None)
            return
        self.interchange.group_count += 1
        self.group = Group(segment, f"{self.interchange.unit} / GS {segment.element(6)}")
        self.group.issued_local = _group_issued(segment)

    def _open_set(self, segment: Segment) -> None:
        self._abandon_set(f"new ST at segment {segment.index}")
        if self.group is None:
            self._error("ST outside a functional group (no GS)", segment.at(0), None)
            return
        self.group.set_count += 1
        self.transaction = TransactionSet(segment, f"{self.group.unit} / ST {segment.element(2)}")

    def _close_set(self, trailer: Segment) -> None:
        transaction, self.transaction = self.transaction, None
        if transaction is None:
            unit = self.group.unit if self.group else None
            self._error("SE without a matching ST", trailer.at(0), unit)
            return
        problem = _set_control_problem(transaction, trailer)
        if problem:
            self._error(problem[0], problem[1], transaction.unit)
            return
        issued = self.group.issued_local if self.group else None
        events, errors = parse_transaction(transaction, self.terminator, issued)
        self.result.errors.extend(errors)
        if self.group is not None:
            self.group.events.extend(events)

    def _close_group(self, trailer: Segment) -> None:
        self._abandon_set(f"GE at segment {trailer.index}")
        group, self.group = self.group, None
        if group is None:
            self._error("GE without a matching GS", trailer.at(0), self._interchange_unit())
            return
        count, control = trailer.element(1), trailer.element(2)
        if not _same_number(count, group.set_count):
            reason = f"GE01 says {count or 'nothing'} transaction sets, group has {group.set_count}"
            self._reject_unit(reason, trailer.at(1), group.unit, len(group.events))
        elif control != group.header.element(6):
            reason = f"GE02 {control!r} does not match GS06 {group.header.element(6)!r}"
            self._reject_unit(reason, trailer.at(2), group.unit, len(group.events))
        elif self.interchange is not None:
            self.interchange.events.extend(group.events)

    def _close_interchange(self, trailer: Segment) -> None:
        self._abandon_set(f"IEA at segment {trailer.index}")
        self._abandon_group(f"IEA at segment {trailer.index}")
        interchange, self.interchange = self.interchange, None
        if interchange is None:
            self._error("IEA without a matching ISA", trailer.at(0), None)
            return
        count, control = trailer.element(1), trailer.element(2)
        expected_control = interchange.header.element(13)
        if not _same_number(count, interchange.group_count):
            reason = (
                f"IEA01 says {count or 'nothing'} groups, interchange has {interchange.group_count}"
            )
            self._reject_unit(reason, trailer.at(1), interchange.unit, len(interchange.events))
        elif control != expected_control:
            reason = f"IEA02 {control!r} does not match ISA13 {expected_control!r}"
            self._reject_unit(reason, trailer.at(2), interchange.unit, len(interchange.events))
        else:
            self._accept(interchange.events)

    def _reject_unit(self, reason: str, position: str, unit: str, discarded: int) -> None:
        self._error(f"{reason}; unit rejected ({discarded} events discarded)", position, unit)

    def _interchange_unit(self) -> str | None:
        return self.interchange.unit if self.interchange else None

    def _abandon_set(self, why: str) -> None:
        if self.transaction is not None:
            header = self.transaction.header
            self._error(
                f"truncated transaction set: ST has no SE before {why}",
                header.at(0),
                self.transaction.unit,
            )
            self.transaction = None

    def _abandon_group(self, why: str) -> None:
        if self.group is not None:
            self._reject_unit(
                f"truncated functional group: GS has no GE before {why}",
                self.group.header.at(0),
                self.group.unit,
                len(self.group.events),
            )
            self.group = None

    def _abandon_interchange(self, why: str) -> None:
        if self.interchange is not None:
            self._reject_unit(
                f"truncated interchange: ISA has no IEA before {why}",
                self.interchange.header.at(0),
                self.interchange.unit,
                len(self.interchange.events),
            )
            self.interchange = None


def _group_issued(header: Segment) -> str | None:
    """GS04/GS05, the functional group's date and time, as sent: the sender's clock, with no
    zone (so never an ``issued_at``; see README, "Issue times")."""
    date_text, time_text = header.element(4), header.element(5)
    if len(date_text) != 8 or not date_text.isdigit():
        return None
    if len(time_text) not in (4, 6, 7, 8) or not time_text.isdigit():
        return None
    padded = time_text.ljust(6, "0")
    try:
        moment = datetime(
            int(date_text[:4]),
            int(date_text[4:6]),
            int(date_text[6:]),
            int(padded[:2]),
            int(padded[2:4]),
            int(padded[4:6]),
        )
    except ValueError:
        return None
    return moment.isoformat()


def _same_number(text: str, expected: int) -> bool:
    return text.isdigit() and int(text) == expected


def _set_control_problem(transaction: TransactionSet, trailer: Segment) -> tuple[str, str] | None:
    actual = len(transaction.body) + 2
    declared = trailer.element(1)
    if not _same_number(declared, actual):
        return (
            f"SE01 segment count {declared or 'missing'} does not match actual count {actual}",
            trailer.at(1),
        )
    if trailer.element(2) != transaction.header.element(2):
        return (
            f"SE02 {trailer.element(2)!r} does not match ST02 {transaction.header.element(2)!r}",
            trailer.at(2),
        )
    if transaction.header.element(1) != "214":
        return (
            f"transaction set {transaction.header.element(1)!r} is not a 214",
            transaction.header.at(1),
        )
    return None


def parse_transaction(
    transaction: TransactionSet, terminator: str, issued_local: str | None = None
) -> tuple[list[Parsed], list[ParseError]]:
    """One 214 transaction set → events (one per AT7) and per-AT7 errors."""
    b10 = next((s for s in transaction.body if s.tag == "B10"), None)
    if b10 is None:
        return [], [
            ParseError("214 has no B10 segment", transaction.header.at(0), transaction.unit)
        ]
    primary = _primary_reference(b10)
    if primary is None:
        error = ParseError("B10 carries no shipment identification", b10.at(2), transaction.unit)
        return [], [error]
    header_refs, loops = _split_loops(transaction.body)
    events: list[Parsed] = []
    errors: list[ParseError] = []
    base_refs = _b10_references(b10) + [r for s in header_refs if (r := _l11_reference(s))]
    carrier = _carrier_extra(b10)
    if issued_local:
        carrier["issued_local"] = issued_local
    set_references = unique_references(primary, base_refs)  # for loops without their own L11
    for loop in loops:
        loop_refs = [r for s in loop.references if (r := _l11_reference(s))]
        references = (
            unique_references(primary, base_refs + loop_refs) if loop_refs else set_references
        )
        for status in loop.statuses:
            try:
                events.append(
                    _build_event(status, loop, carrier, references, terminator, transaction.unit)
                )
            except ParseError as error:
                errors.append(error.with_context(status.at7.at(0), transaction.unit))
    return events, errors


def _primary_reference(b10: Segment) -> tuple[str, str] | None:
    if b10.element(2):
        return ("shipment_id", b10.element(2))
    if b10.element(1):
        return ("tracking_number", b10.element(1))
    return None


def _b10_references(b10: Segment) -> list[tuple[str, str]]:
    return [("tracking_number", b10.element(1))] if b10.element(1) else []


def _l11_reference(segment: Segment) -> tuple[str, str] | None:
    kind = L11_REFERENCE_KINDS.get(segment.element(2).upper())
    if kind and segment.element(1):
        return (kind, segment.element(1))
    return None


def _split_loops(body: list[Segment]) -> tuple[list[Segment], list[LoopBlock]]:
    header_refs: list[Segment] = []
    loops: list[LoopBlock] = []
    current: LoopBlock | None = None
    for segment in body:
        tag = segment.tag
        if tag == "LX":
            current = LoopBlock(segment)
            loops.append(current)
        elif tag == "AT7":
            if current is None:
                current = LoopBlock(None)
                loops.append(current)
            current.statuses.append(StatusBlock(segment))
        elif tag == "L11":
            (current.references if current else header_refs).append(segment)
        elif current is not None and current.statuses:
            _attach_to_status(current.statuses[-1], segment)
    return header_refs, loops


def _attach_to_status(status: StatusBlock, segment: Segment) -> None:
    if segment.tag == "MS1" and status.ms1 is None:
        status.ms1 = segment
    elif segment.tag == "MS2" and status.ms2 is None:
        status.ms2 = segment
    else:
        status.extra_segments.append(segment)


def _carrier_extra(b10: Segment) -> dict:
    """The B10 part of every event's extra, computed once per transaction set."""
    fields = {"scac": b10.element(3), "carrier_reference": b10.element(1)}
    return {key: value for key, value in fields.items() if value}


def _build_event(
    status: StatusBlock,
    loop: LoopBlock,
    carrier: dict,
    references: tuple[tuple[str, str], ...],
    terminator: str,
    unit: str,
) -> Parsed:
    at7, ms1, ms2 = status.at7, status.ms1, status.ms2
    code, classifier, milestone, extra = _status_semantics(at7)
    naive, zone = _local_time(at7, ms1)
    location = ms1_location(ms1)
    # The dedupe key keeps MS101 alone, as before MS1 was kept whole: a message stored
    # earlier and replayed now still records each of its events once.
    key_location = (ms1.element(1) or None) if ms1 else None
    if ms1 is not None:
        extra.update(_location_extra(ms1))
    if ms2 is not None:
        extra.update(_equipment_extra(ms2))
    extra.update(carrier)
    if loop.lx is not None:
        extra["lx"] = loop.lx.element(1)
    extra["time_code"] = at7.element(7) or None
    reference_kind, reference = references[0]
    raw = _raw_text(status, terminator)

    def build(occurred_at: datetime) -> NormalizedEvent:
        return NormalizedEvent(
            standard="x12",
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
                "x12", reference, code, occurred_at, key_location, classifier
            ),
            raw=raw,
            extra=extra,
        )

    if zone is not None:
        try:
            return build(localize(naive, zone))
        except LocalTimeError as error:
            raise ParseError(error.message, at7.at(6)) from None
    if location is None:
        raise ParseError(
            "AT7 time has no time code (AT7-07) and no location (MS1) to place it", at7.at(7)
        )
    return UnplacedEvent(location, naive, at7.at(0), unit, build, reference)


def ms1_location(ms1: Segment | None) -> str | None:
    """The whole MS1 place as sent: "CITY, ST, CC" (empty parts dropped); the postal code
    (MS108) stands in for the city where there is none ("98101, US")."""
    if ms1 is None:
        return None
    city = ms1.element(1)
    state = ms1.element(2)
    parts = [city or ("" if state else ms1.element(8)), state, ms1.element(3)]
    return ", ".join(part for part in parts if part) or None


def _raw_text(status: StatusBlock, terminator: str) -> str:
    """The event's own segments (AT7, MS1, MS2, then the rest), each with its terminator."""
    segments = [status.at7]
    if status.ms1:
        segments.append(status.ms1)
    if status.ms2:
        segments.append(status.ms2)
    segments += status.extra_segments
    return terminator.join([segment.text for segment in segments]) + terminator


def _status_semantics(at7: Segment) -> tuple[str, str, str, dict]:
    status_code, appointment_code = at7.element(1).upper(), at7.element(3).upper()
    reason_code, appointment_reason_code = at7.element(2), at7.element(4)
    extra: dict = {}
    if reason_code:
        extra["reason_code"] = reason_code
    if appointment_reason_code:
        extra["appointment_reason_code"] = appointment_reason_code
    if status_code:
        classifier = "EST" if status_code in X12_ESTIMATE_TARGETS else "ACT"
        if status_code not in X12_AT7_MILESTONES:
            extra["unknown_code"] = True
        return status_code, classifier, map_code(status_code), extra
    if appointment_code:
        extra["appointment_code"] = appointment_code
        return appointment_code, "PLN", "other", extra
    raise ParseError(
        "AT7 has neither a status code (AT7-01) nor an appointment code (AT7-03)", at7.at(1)
    )


def _local_time(at7: Segment, ms1: Segment | None) -> tuple[datetime, ZoneInfo | timezone | None]:
    """The AT7 date/time and its zone: the time code (AT7-07), else MS1's place."""
    naive = _naive_datetime(at7)
    try:
        zone = x12_time_code_zone(at7.element(7))
    except LocalTimeError as error:
        raise ParseError(error.message, at7.at(7)) from None
    if zone is None and ms1 is not None:
        zone = zone_for_place(ms1.element(1), ms1.element(2), ms1.element(3))
    return naive, zone


def _naive_datetime(at7: Segment) -> datetime:
    date_text, time_text = at7.element(5), at7.element(6)
    if len(date_text) != 8 or not date_text.isdigit():
        raise ParseError(f"AT7-05 date {date_text!r} is not CCYYMMDD", at7.at(5))
    if time_text and (len(time_text) not in (4, 6, 7, 8) or not time_text.isdigit()):
        raise ParseError(f"AT7-06 time {time_text!r} is not HHMM[SS[D[D]]]", at7.at(6))
    padded = (time_text or "0000").ljust(8, "0")
    try:
        # Same value, several times faster; it refuses what datetime() below refuses (and
        # non-ASCII digits), so the error is worded by the general path.
        return datetime.fromisoformat(f"{date_text}T{padded[:6]}.{padded[6:]}")
    except ValueError:
        pass
    try:
        return datetime(
            int(date_text[:4]),
            int(date_text[4:6]),
            int(date_text[6:8]),
            int(padded[:2]),
            int(padded[2:4]),
            int(padded[4:6]),
            int(padded[6:8]) * 10000,
        )
    except ValueError as exc:
        raise ParseError(
            f"impossible date/time {date_text} {time_text}: {exc}", at7.at(5)
        ) from None


def _location_extra(ms1: Segment | None) -> dict:
    if ms1 is None:
        return {}
    fields = {
        "city": ms1.element(1),
        "state": ms1.element(2),
        "country": ms1.element(3),
        "postal_code": ms1.element(8),
        "longitude": ms1.element(9) or ms1.element(4),
        "latitude": ms1.element(10) or ms1.element(5),
    }
    return {key: value for key, value in fields.items() if value}


def _equipment_extra(ms2: Segment | None) -> dict:
    if ms2 is None or not ms2.element(2):
        return {}
    equipment = {
        "owner_scac": ms2.element(1),
        "number": ms2.element(2),
        "type": ms2.element(3),
        "check_digit": ms2.element(4),
    }
    return {"equipment": {key: value for key, value in equipment.items() if value}}


# --- registration (integrations.formats) ---------------------------------------------------


def map_code(code: str, context: Mapping[str, Any] | None = None) -> str:
    return X12_AT7_MILESTONES.get(code, "other")


FORMAT = Format(
    name="x12",
    label="ANSI X12 214",
    parse=lambda data, _context: parse_x12(data),
    map_code=map_code,
    default_mapping=X12_AT7_MILESTONES,
    estimate_targets=X12_ESTIMATE_TARGETS,
    sniff=lambda data: leading_bytes(data).startswith(b"ISA"),
)

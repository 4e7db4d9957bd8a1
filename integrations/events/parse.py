"""The "api_events" format: events a partner pushed through the API, as stored.

The stored body is canonical JSON written by integrations.events.services (already checked
at the door)::

    {"shipment": "shp_…"?, "events": [{"reference"?, "reference_kind"?, "milestone",
     "occurred_at", "classifier", "location"?, "code"?, "dedupe_key"?, "issued_at"?}, …]}

An event names its shipment by ``reference`` (any reference, as every other source does), or
the document names it (``shipment``: its public id, which is one of its references of kind
"milepost"). The dedupe key is the partner's ``dedupe_key`` when given, else a hash of the
event: the same event sent twice is recorded once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from integrations.parsers.base import Format, NormalizedEvent, ParseContext, ParseError, ParseResult
from integrations.parsers.jsonutil import canonical_json, load_json, parse_iso_datetime

FORMAT_NAME = "api_events"
CLASSIFIERS = frozenset({"ACT", "EST", "PLN"})


def _event(document: dict[str, Any], event: Any, index: int) -> NormalizedEvent:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise ParseError("an event must be a JSON object", where)
    shipment = document.get("shipment")
    reference = event.get("reference") or shipment
    kind = event.get("reference_kind") or ("any" if event.get("reference") else "milepost")
    milestone = event.get("milestone")
    if not isinstance(reference, str) or not reference.strip():
        raise ParseError("reference is missing", f"{where}.reference")
    if not isinstance(milestone, str) or not milestone.strip():
        raise ParseError("milestone is missing", f"{where}.milestone")
    classifier = event.get("classifier", "ACT")
    if classifier not in CLASSIFIERS:
        raise ParseError(f"unknown classifier {classifier!r}", f"{where}.classifier")
    occurred_at = parse_iso_datetime(event.get("occurred_at"), f"{where}.occurred_at")
    if occurred_at.tzinfo is None:
        raise ParseError("occurred_at needs a UTC offset", f"{where}.occurred_at")
    issued = event.get("issued_at")
    issued_at = parse_iso_datetime(issued, f"{where}.issued_at") if issued else None
    given_key = event.get("dedupe_key")
    if isinstance(given_key, str) and given_key:
        # The partner's own key, per shipment (two shipments may use the same key).
        dedupe_key = "ev:" + given_key
    else:
        basis = canonical_json({"shipment": shipment, "event": event})
        dedupe_key = "ev:h:" + hashlib.sha256(basis.encode()).hexdigest()
    reference = reference.strip()
    return NormalizedEvent(
        standard=FORMAT_NAME,
        reference=reference,
        reference_kind=kind,
        references=((kind, reference),),
        code=str(event.get("code") or milestone).strip(),
        milestone=milestone.strip(),
        occurred_at=occurred_at,
        tz_unknown=False,
        location=(event.get("location") or None),
        classifier=classifier,
        dedupe_key=dedupe_key,
        raw=canonical_json(event),
        extra={"issued_at": issued_at.isoformat() if issued_at else None},
    )


def parse_api_events(data: bytes, context: ParseContext) -> ParseResult:
    """Registry entry point; a bad event is reported and the others still count."""
    document = load_json(bytes(data))
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise ParseError('expected {"events": [...]}')
    result = ParseResult(format=FORMAT_NAME)
    for index, event in enumerate(document["events"]):
        try:
            result.events.append(_event(document, event, index))
        except ParseError as error:
            result.errors.append(error.with_context(unit=f"event {index + 1}"))
    return result


FORMAT = Format(
    name=FORMAT_NAME,
    label="Events pushed through the API",
    parse=parse_api_events,
    standalone=False,
)

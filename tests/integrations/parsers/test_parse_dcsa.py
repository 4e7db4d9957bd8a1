import json
from datetime import UTC, datetime

import pytest

from integrations.formats import detect_format, parse
from integrations.parsers import ParseError

from .helpers import contracts, example_bytes


def test_v22_events_response():
    result = parse(example_bytes("dcsa/tnt-v2.2-events-response.json"))
    assert result.format == "dcsa"
    assert result.errors == []
    assert len(result.events) == 7
    first, draft_si, load_est = result.events[0], result.events[1], result.events[2]
    assert first.to_contract() == {
        "reference": "ABC123123123",
        "reference_kind": "booking",
        "code": "ARRI",
        "milestone": "arrived",
        "occurred_at": "2021-01-09T14:12:56+01:00",
        "location": "FRPAR",
        "classifier": "ACT",
    }
    assert first.dedupe_key == "3cecb101-7a1a-43a4-9d62-e88a131651e2"
    assert ("transport_document", "reserved-HHL123") in first.references
    assert ("container", "APZU4812090") in first.references
    assert first.extra["delay_reason_code"] == "WEA"
    assert first.extra["vessel_name"] == "King of the Seas"
    assert draft_si.milestone == "other"
    assert load_est.reference_kind == "container"
    assert load_est.milestone == "estimated"
    assert load_est.classifier == "EST"
    assert result.events[4].reference_kind == "booking"  # SHIPMENT on BKG document
    assert result.events[6].reference_kind == "transport_document"  # SHIPMENT on TRD
    assert json.loads(first.raw)["eventID"] == first.dedupe_key


def test_v22_invalid_date_times_rejected_per_event():
    result = parse(example_bytes("dcsa/tnt-v2.2-invalid-date-times.json"))
    assert len(result.events) == 1  # the reference event without TEST_CASE is valid
    errors = [(e.position, e.reason.split(" ")[0]) for e in result.errors]
    assert errors == [
        ("$[1].eventCreatedDateTime", "missing"),
        ("$[2].eventDateTime", "missing"),
        ("$[3].eventCreatedDateTime", "invalid"),
        ("$[4].eventDateTime", "invalid"),
        ("$[5].eventDateTime", "actual"),
        ("$[6].eventCreatedDateTime", "eventCreatedDateTime"),
    ]
    assert [e.unit for e in result.errors] == [f"$[{i}]" for i in range(1, 7)]


def test_v3_draft_2026_shapes():
    result = parse(example_bytes("dcsa/tnt-v3.0-draft-2026-01-get-events-response.json"))
    got = [
        (c["reference"], c["reference_kind"], c["code"], c["milestone"]) for c in contracts(result)
    ]
    assert got == [
        ("ABC709951", "booking", "CONF", "order_created"),
        ("ABC709951", "booking", "DEPA", "departed"),
        ("APZU4812090", "container", "GTIN", "other"),  # GTIN of an EMPTY container
        ("APZU4812090", "container", "DETC", "other"),
        ("APZU4812090", "container", "MEAS", "other"),
    ]
    assert result.events[1].location == "GBSOU"
    assert result.events[2].extra["eventUpdatedDateTime"] == "2025-01-27T01:23:45Z"


def test_v3_draft_post_events():
    transport = parse(example_bytes("dcsa/tnt-v3.0-draft-2026-01-post-transport-event.json"))
    assert contracts(transport)[0]["occurred_at"] == "2026-01-20T12:30:00+00:00"
    assert contracts(transport)[0]["location"] == "DEHAM"
    equipment = parse(example_bytes("dcsa/tnt-v3.0-draft-2026-01-post-equipment-event.json"))
    assert contracts(equipment)[0]["reference"] == "APZU4812090"
    assert equipment.events[0].dedupe_key == "evt-equip-001-2026-01-20T14:15:00Z"


def test_beta1_metadata_payload_and_retraction():
    result = parse(example_bytes("dcsa/tnt-v3.0.0-beta1-transport-events.json"))
    assert result.retracted_ids == ["957e4966-dad0-4111-9f8f-fb7216c43907"]
    assert contracts(result) == [
        {
            "reference": "ABC123059",
            "reference_kind": "booking",
            "code": "ARRI",
            "milestone": "estimated",
            "occurred_at": "2022-11-12T07:41:00+08:30",
            "location": "NLRAM",
            "classifier": "EST",
        }
    ]
    assert result.events[0].dedupe_key == "c0ea5971-bd21-4749-a7ce-8f8d1dc562e2"


def test_beta1_booking_events():
    result = parse(example_bytes("dcsa/tnt-v3.0.0-beta1-events-for-booking.json"))
    issued, loaded = result.events
    assert (issued.reference_kind, issued.code, issued.milestone) == (
        "transport_document",
        "ISSU",
        "other",
    )
    assert ("booking", "ABC123059") in issued.references
    assert (loaded.reference, loaded.milestone, loaded.classifier) == (
        "APZU4812090",
        "estimated",
        "EST",
    )


def test_retraction_only():
    result = parse(example_bytes("dcsa/tnt-v3.0.0-beta1-retracted-event.json"))
    assert result.events == []
    assert result.retracted_ids == ["957e4966-dad0-4111-9f8f-fb7216c43907"]


def _event(**changes):
    event = {
        "eventID": "e-1",
        "eventCreatedDateTime": "2026-03-01T10:00:00Z",
        "eventType": "EQUIPMENT",
        "eventClassifierCode": "ACT",
        "eventDateTime": "2026-03-01 09:00:00+01:00",
        "equipmentEventTypeCode": "GTIN",
        "equipmentReference": "MSKU7654321",
        "emptyIndicatorCode": "LADEN",
        "eventLocation": {"UNLocationCode": "DEHAM"},
    }
    event.update(changes)
    return event


def _parse(body):
    return parse(json.dumps(body).encode(), "dcsa")


def test_space_separator_and_laden_gate_in():
    event = _parse([_event()]).events[0]
    assert event.milestone == "picked_up"
    assert event.occurred_at.isoformat() == "2026-03-01T09:00:00+01:00"


def test_full_word_enums_and_planned():
    body = {
        "events": [
            _event(
                eventClassifierCode="PLANNED",
                equipmentEventTypeCode="GATED_OUT",
                eventDateTime="2026-04-01T09:00:00Z",
            ),
            _event(
                eventID="e-2", eventClassifierCode="ACTUAL", equipmentEventTypeCode="DISCHARGED"
            ),
        ]
    }
    first, second = _parse(body).events
    assert (first.code, first.milestone, first.classifier) == ("GATED_OUT", "estimated", "PLN")
    assert (second.milestone, second.classifier) == ("arrived", "ACT")


def test_unknown_enum_rejected_sibling_kept():
    result = _parse([_event(equipmentEventTypeCode="XXXX"), _event(eventID="e-2")])
    assert [e.dedupe_key for e in result.events] == ["e-2"]
    assert result.errors[0].position == "$[0].equipmentEventTypeCode"
    assert "not in the DCSA enumeration" in result.errors[0].reason
    result = _parse([_event(eventClassifierCode="GUESS")])
    assert result.errors[0].position == "$[0].eventClassifierCode"


def test_naive_datetime_resolved_from_locode_coordinates_or_held_back():
    created = "2026-07-02T00:00:00Z"
    result = _parse([_event(eventDateTime="2026-07-01T09:00:00", eventCreatedDateTime=created)])
    assert result.events[0].occurred_at.isoformat() == "2026-07-01T09:00:00+02:00"
    assert result.events[0].issued_at.isoformat() == "2026-07-02T00:00:00+00:00"
    # No UN/LOCODE: the coordinates tell the zone (Savannah, GA).
    at_coordinates = {"latitude": 32.08, "longitude": -81.09}
    result = _parse(
        [
            _event(
                eventDateTime="2026-07-01T09:00:00",
                eventCreatedDateTime=created,
                eventLocation=at_coordinates,
            )
        ]
    )
    assert result.events[0].occurred_at.isoformat() == "2026-07-01T09:00:00-04:00"
    result = _parse(
        [
            _event(
                eventDateTime="2026-07-01T09:00:00", eventCreatedDateTime=created, eventLocation={}
            )
        ]
    )
    assert result.events == []
    assert result.errors[0].reason == (
        "eventDateTime has no UTC offset and the event has no location to place it"
    )
    result = _parse(
        [
            _event(
                eventDateTime="2026-07-01T09:00:00",
                eventCreatedDateTime=created,
                eventLocation={"UNLocationCode": "ZZABC"},
            )
        ]
    )
    [unplaced] = result.unplaced
    assert unplaced.reason == "time zone of ZZABC unknown"
    placed = unplaced.build(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    assert placed.location == "ZZABC" and placed.issued_at is not None


def test_missing_id_uses_hash_and_is_stable():
    body = [_event(eventID=None)]
    del body[0]["eventID"]
    first = _parse(body).events[0].dedupe_key
    assert len(first) == 64
    assert _parse(body).events[0].dedupe_key == first


def test_is_retracted_draft_flag():
    result = _parse({"events": [{"eventID": "gone-1", "isRetracted": True}]})
    assert result.retracted_ids == ["gone-1"]
    assert result.events == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty body"),
        (b"[{", "invalid JSON"),
        (b'{"foo": 1}', "unrecognized DCSA body"),
        (b'"text"', "unrecognized DCSA body"),
        (b'[{"a": "\xff"}]', "input is not valid UTF-8"),
        # Half a surrogate pair (no event id, so it would be hashed) and a 5,000-digit number:
        # both once escaped the parser as UnicodeEncodeError / ValueError.
        (b'[{"eventType": "TRANSPORT", "x": "\\ud800"}]', "invalid JSON: a \\u escape"),
        (b"[" + b"7" * 5000 + b"]", "invalid JSON: a number has more than 4,300 digits"),
    ],
)
def test_whole_input_errors(data, reason):
    with pytest.raises(ParseError) as caught:
        parse(data, "dcsa")
    assert caught.value.reason.startswith(reason)


def test_detection():
    assert detect_format(example_bytes("dcsa/tnt-v2.2-events-response.json")) == "dcsa"
    assert detect_format(example_bytes("dcsa/tnt-v3.0.0-beta1-retracted-event.json")) == "dcsa"
    with pytest.raises(ParseError):
        detect_format(b'{"hello": "world"}')


def test_drafts_without_the_code_suffix_are_read_by_shape():
    """Some DCSA 3.0 drafts drop the ``…Code`` suffix and spell document types out."""
    body = {
        "events": [
            {
                "eventID": "draft-1",
                "eventDateTime": "2026-01-16T11:30:00Z",
                "eventCreatedDateTime": "2026-01-16T11:35:00Z",
                "eventClassification": {
                    "eventType": "TRANSPORT",
                    "eventClassifier": "ACT",
                    "transportEventType": "DEPA",
                },
                "eventLocation": {"UNLocation": "GBSOU", "facilityType": "POTE"},
                "shipmentDetails": {
                    "documentReference": {"type": "BOOKING", "reference": "ABC709951"},
                    "additionalDocumentReferences": [
                        {"type": "TRANSPORT_DOCUMENT", "reference": "HHL71800000"}
                    ],
                },
            },
            {
                "eventID": "draft-2",
                "eventDateTime": "2026-01-15T09:00:00Z",
                "eventCreatedDateTime": "2026-01-15T09:01:00Z",
                "eventClassification": {
                    "eventType": "SHIPMENT",
                    "eventClassifier": "ACT",
                    "shipmentEventType": "CONF",
                },
                "shipmentDetails": {
                    "documentReference": {"type": "BOOKING", "reference": "ABC709951"}
                },
            },
        ]
    }
    result = _parse(body)
    assert result.errors == []
    departed, confirmed = result.events
    assert (departed.code, departed.milestone, departed.classifier) == ("DEPA", "departed", "ACT")
    assert departed.location == "GBSOU"
    assert departed.extra["facility_type_code"] == "POTE"
    assert departed.references == (
        ("booking", "ABC709951"),
        ("transport_document", "HHL71800000"),
    )
    assert departed.issued_at.isoformat() == "2026-01-16T11:35:00+00:00"
    assert (confirmed.reference_kind, confirmed.milestone) == ("booking", "order_created")
    # The same event with the suffixes parses to the same thing.
    suffixed = json.loads(json.dumps(body))
    suffixed["events"][0]["eventClassification"] = {
        "eventTypeCode": "TRANSPORT",
        "eventClassifierCode": "ACT",
        "transportEventTypeCode": "DEPA",
    }
    suffixed["events"][0]["eventLocation"] = {"UNLocationCode": "GBSOU", "facilityTypeCode": "POTE"}
    again = _parse(suffixed).events[0]
    assert (again.code, again.location, again.references) == (
        departed.code,
        departed.location,
        departed.references,
    )
    bad = json.loads(json.dumps(body))
    bad["events"][0]["eventClassification"]["eventClassifier"] = "MAYBE"
    [error] = _parse(bad).errors
    assert error.position == "$.events[0].eventClassification.eventClassifier"

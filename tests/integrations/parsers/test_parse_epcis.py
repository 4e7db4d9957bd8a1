import json

import pytest

from integrations.formats import detect_format, parse
from integrations.parsers import ParseError
from integrations.parsers.epcis import sscc_from_epc

from .helpers import contracts, example_bytes, require


def test_all_examples_detected_and_parsed():
    paths = sorted((require() / "gs1-epcis").glob("*.jsonld"))
    assert paths
    for path in paths:
        data = path.read_bytes()
        assert detect_format(data) == "epcis", path.name
        result = parse(data)
        assert result.events and not result.errors, path.name


def test_object_event_example():
    result = parse(example_bytes("gs1-epcis/Example_9.6.1-ObjectEvent.jsonld"))
    shipping, receiving = result.events
    assert shipping.to_contract() == {
        "reference": "urn:epc:id:sgtin:0614141.107346.2017",
        "reference_kind": "tracking_number",
        "code": "shipping",
        "milestone": "picked_up",
        "occurred_at": "2005-04-03T20:33:31.116000-06:00",
        # the read point (this event has no bizLocation), as sent
        "location": "urn:epc:id:sgln:0614141.07346.1234",
        "classifier": "ACT",
    }
    assert ("purchase_order", "http://transaction.acme.com/po/12345678") in shipping.references
    assert receiving.milestone == "delivered"
    assert receiving.extra["biz_location"] == "urn:epc:id:sgln:0012345.11111.0"
    assert receiving.location == "urn:epc:id:sgln:0012345.11111.0"  # bizLocation first
    assert shipping.dedupe_key.startswith("ni:///sha-256;df7bb3c3")


def test_aggregation_event_sscc_and_offset_rendering():
    event = parse(example_bytes("gs1-epcis/Example_9.6.3-AggregationEvent.jsonld")).events[0]
    assert (event.reference, event.reference_kind) == ("106141412345678908", "sscc")
    # instant 14:58:56.591Z rendered in the eventTimeZoneOffset (+02:00)
    assert event.to_contract()["occurred_at"] == "2013-06-08T16:58:56.591000+02:00"
    assert event.milestone == "delivered"


def test_error_declaration_and_corrective_event():
    declared, corrective = parse(
        example_bytes("gs1-epcis/ErrorDeclarationAndCorrectiveEvent.jsonld")
    ).events
    assert declared.extra["error_declaration"]["correctiveEventIDs"] == [
        "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"
    ]
    assert declared.classifier == "ACT"
    assert declared.milestone == "exception"
    assert corrective.milestone == "other"
    assert "error_declaration" not in corrective.extra


def test_other_examples():
    sensor = parse(example_bytes("gs1-epcis/SensorDataExample1.jsonld")).events[0]
    assert (sensor.code, sensor.milestone) == ("inspecting", "other")
    association = parse(example_bytes("gs1-epcis/AssociationEvent-a.jsonld")).events[0]
    assert association.reference == "urn:epc:id:grai:4012345.55555.987"
    full = parse(example_bytes("gs1-epcis/object_event_all_possible_fields.jsonld")).events[0]
    assert full.to_contract()["occurred_at"] == "2005-04-04T20:33:31.116000-06:00"
    transformation = parse(example_bytes("gs1-epcis/Example_9.6.4-TransformationEvent.jsonld"))
    assert contracts(transformation)[0]["code"] == "commissioning"
    digital = parse(example_bytes("gs1-epcis/Example_9.6.1-ObjectEventWithDigitalLink.jsonld"))
    assert digital.events[0].reference == "https://id.gs1.org/01/70614141123451/21/2017"


def _document(*events, query=False):
    if query:
        return {
            "type": "EPCISQueryDocument",
            "epcisBody": {"queryResults": {"resultsBody": {"eventList": list(events)}}},
        }
    return {"type": "EPCISDocument", "epcisBody": {"eventList": list(events)}}


def _event(**changes):
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-03-29T01:30:00Z",
        "eventTimeZoneOffset": "+02:00",
        "action": "OBSERVE",
        "bizStep": "https://ref.gs1.org/cbv/BizStep-departing",
        "epcList": ["https://id.gs1.org/00/106141412345678908"],
        "bizTransactionList": [{"type": "bol", "bizTransaction": "BOL-1"}],
    }
    event.update(changes)
    return event


def _parse(document):
    return parse(json.dumps(document).encode())


def test_query_document_bizstep_forms_and_sscc_digital_link():
    result = _parse(
        _document(_event(), _event(bizStep="urn:epcglobal:cbv:bizstep:arriving"), query=True)
    )
    first, second = result.events
    assert first.reference == "106141412345678908"
    assert first.references[1] == ("bill_of_lading", "BOL-1")
    assert (first.code, first.milestone) == ("departing", "departed")
    assert first.occurred_at.isoformat() == "2026-03-29T03:30:00+02:00"
    assert (second.code, second.milestone) == ("arriving", "arrived")
    assert len(first.dedupe_key) == 64  # no eventID: hash of the canonical event


def test_damaged_disposition_and_sensor_alarm_are_exceptions():
    damaged = _event(disposition="https://ref.gs1.org/cbv/Disp-damaged")
    alarm = _event(
        sensorElementList=[
            {"sensorReport": [{"type": "Temperature", "value": 12, "exception": "ALARM_CONDITION"}]}
        ]
    )
    first, second = _parse(_document(damaged, alarm)).events
    assert first.milestone == "exception"
    assert second.milestone == "exception"
    assert second.extra["sensor_alarms"][0]["exception"] == "ALARM_CONDITION"


def test_bad_events_rejected_siblings_kept():
    result = _parse(
        _document(
            _event(eventTime="2026-02-30T10:00:00Z"), _event(), _event(eventTime="2026-01-01")
        )
    )
    assert len(result.events) == 1
    assert result.errors[0].position == "$.epcisBody.eventList[0].eventTime"
    assert result.errors[0].reason.startswith("impossible date-time")
    assert result.errors[1].position == "$.epcisBody.eventList[2].eventTime"


def test_sscc_urn_normalization():
    assert sscc_from_epc("urn:epc:id:sscc:0614141.1234567890") == "106141412345678908"
    assert sscc_from_epc("urn:epc:id:sgtin:0614141.107346.2017") is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"type": "EPCISDocument"}, "EPCIS document has no eventList array"),
        ([], "EPCIS document must be a JSON object"),
    ],
)
def test_whole_document_errors(document, reason):
    with pytest.raises(ParseError) as caught:
        parse(json.dumps(document).encode(), "epcis")
    assert caught.value.reason == reason

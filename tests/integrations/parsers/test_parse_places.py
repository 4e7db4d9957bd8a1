"""No parser lets a time out without an offset: local times at UN/LOCODEs and cities on every
continent and at DST edges get the place's zone; a skipped or repeated local time is an error;
a place no data can place is held back (UnplacedEvent), never guessed."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from integrations.feeds.parse import mapping_validate, parse_with_mapping
from integrations.formats import parse
from integrations.parsers import ParseError

# (UN/LOCODE, city, subdivision, country, local time, expected UTC offset)
PLACES = [
    ("NLRTM", "Rotterdam", "", "NL", "2026-03-29T01:30", "+01:00"),  # just before EU DST
    ("NLRTM", "Rotterdam", "", "NL", "2026-03-29T03:30", "+02:00"),  # just after
    ("DEHAM", "Hamburg", "", "DE", "2026-10-25T03:30", "+01:00"),  # after the EU fold
    ("USELP", "El Paso", "TX", "US", "2026-03-08T03:30", "-06:00"),  # Mountain, after US DST
    ("USELP", "El Paso", "TX", "US", "2026-11-01T00:30", "-06:00"),
    ("USCHI", "Chicago", "IL", "US", "2026-03-08T03:30", "-05:00"),
    ("USNYC", "New York", "NY", "US", "2026-11-01T03:00", "-05:00"),
    ("CAVAN", "Vancouver", "BC", "CA", "2026-07-01T12:00", "-07:00"),
    ("MXMEX", "Mexico City", "CMX", "MX", "2026-07-01T12:00", "-06:00"),  # no DST since 2022
    ("BRSSZ", "Santos", "SP", "BR", "2026-07-01T12:00", "-03:00"),
    ("BRMAO", "Manaus", "AM", "BR", "2026-07-01T12:00", "-04:00"),
    ("CLSAI", "San Antonio", "VS", "CL", "2026-07-01T12:00", "-04:00"),
    ("ESLPA", "Las Palmas de Gran Canaria", "GC", "ES", "2026-01-15T12:00", "+00:00"),
    ("ESLPA", "Las Palmas de Gran Canaria", "GC", "ES", "2026-07-15T12:00", "+01:00"),
    ("ZADUR", "Durban", "NL", "ZA", "2026-07-01T12:00", "+02:00"),
    ("KEMBA", "Mombasa", "", "KE", "2026-07-01T12:00", "+03:00"),
    ("EGALY", "Alexandria", "", "EG", "2026-07-01T12:00", "+03:00"),  # Egypt's DST (2023)
    ("AEDXB", "Dubai", "DU", "AE", "2026-07-01T12:00", "+04:00"),
    ("INBOM", "Mumbai", "MH", "IN", "2026-07-01T12:00", "+05:30"),
    ("CNSHA", "Shanghai", "", "CN", "2026-07-01T12:00", "+08:00"),
    ("JPTYO", "Tokyo", "", "JP", "2026-07-01T12:00", "+09:00"),
    ("RUVVO", "Vladivostok", "PRI", "RU", "2026-07-01T12:00", "+10:00"),
    ("AUSYD", "Sydney", "NSW", "AU", "2026-04-05T03:30", "+10:00"),  # after the fold
    ("AUSYD", "Sydney", "NSW", "AU", "2026-10-04T03:30", "+11:00"),  # after the gap
    ("NZAKL", "Auckland", "AUK", "NZ", "2026-09-27T03:30", "+13:00"),  # after NZ's gap
]
# (UN/LOCODE, city, subdivision, country, local time that the zone skips or repeats)
DST_EDGES = [
    ("USCHI", "Chicago", "IL", "US", "2026-03-08T02:30"),  # skipped
    ("USCHI", "Chicago", "IL", "US", "2026-11-01T01:30"),  # repeated
    ("NLRTM", "Rotterdam", "", "NL", "2026-03-29T02:30"),
    ("AUSYD", "Sydney", "NSW", "AU", "2026-04-05T02:30"),
]


def _digits(local: str) -> str:
    return local.replace("-", "").replace("T", "").replace(":", "")


ISA = (
    "ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260101*1200*U*"
    "00401*000000001*0*P*>"
)


def x12(city: str, state: str, country: str, local: str) -> bytes:
    digits = _digits(local)
    body = [
        "B10*PRO1*SHIP1*ABCD",
        "LX*1",
        f"AT7*X1*NS***{digits[:8]}*{digits[8:]}",
        f"MS1*{city}*{state}*{country}",
    ]
    return (
        "~".join(
            [
                ISA,
                "GS*QM*CARRIER*MILEPOST*20260101*1200*1*X*004010",
                "ST*214*0001",
                *body,
                f"SE*{len(body) + 2}*0001",
                "GE*1*1",
                "IEA*1*000000001",
            ]
        )
        + "~"
    ).encode()


def edifact(locode: str, local: str) -> bytes:
    return (
        "UNB+UNOC:3+SENDER+MILEPOST+260101:1200+REF1'UNH+1+IFTSTA:D:21A:UN'BGM+23+D1+9'"
        f"CNI+1+CONS1'STS+1+24'DTM+334:{_digits(local)}:203'LOC+5+{locode}'UNT+7+1'UNZ+1+REF1'"
    ).encode()


def dcsa(locode: str, local: str) -> bytes:
    event = {
        "eventID": "e1",
        "eventType": "TRANSPORT",
        "eventClassifierCode": "ACT",
        "transportEventTypeCode": "DEPA",
        "eventDateTime": f"{local}:00",
        "eventCreatedDateTime": "2026-11-30T00:00:00Z",
        "transportCall": {"UNLocationCode": locode},
        "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "B1"}],
    }
    return json.dumps([event]).encode()


def feed(city: str, state: str, country: str, local: str) -> tuple[bytes, dict]:
    where = ", ".join(part for part in (city, state, country) if part)
    mapping = mapping_validate(
        {
            "format": "csv",
            "fields": {
                "reference": "Ref",
                "milestone": "Code",
                "time": "When",
                "location": "Where",
            },
        },
        milestones={"departed"},
    )
    return f'Ref,Code,When,Where\nR1,departed,{local},"{where}"\n'.encode(), mapping


def _all_parsers(locode, city, state, country, local):
    yield "x12", parse(x12(city, state, country, local))
    yield "edifact", parse(edifact(locode, local))
    yield "dcsa", parse(dcsa(locode, local))
    body, mapping = feed(city, state, country, local)
    yield "csv", parse_with_mapping(body, mapping, known={"departed"})


@pytest.mark.parametrize(("locode", "city", "state", "country", "local", "offset"), PLACES)
def test_every_parser_places_local_times_in_the_zone_of_the_place(
    locode, city, state, country, local, offset
):
    for name, result in _all_parsers(locode, city, state, country, local):
        assert result.errors == [] and result.unplaced == [], (name, result.errors)
        [event] = result.events
        assert event.occurred_at.utcoffset() is not None, name
        assert event.occurred_at.isoformat()[-6:] == offset, (name, event.occurred_at)
        assert event.occurred_at.replace(tzinfo=None) == datetime.fromisoformat(local), name


@pytest.mark.parametrize(("locode", "city", "state", "country", "local"), DST_EDGES)
def test_a_local_time_the_zone_skips_or_repeats_is_an_error_never_a_guess(
    locode, city, state, country, local
):
    for name, result in _all_parsers(locode, city, state, country, local):
        assert result.events == [] and result.unplaced == [], name
        [error] = result.errors
        assert "DST transition" in error.reason, (name, error.reason)


def test_places_no_data_can_place_are_held_back_with_the_place_as_sent():
    # A Texas town that no packaged list knows (Texas spans two zones), and a bogus code.
    for name, result in _all_parsers("ZZXYZ", "Nowhere Junction", "TX", "US", "2026-07-01T12:00"):
        assert result.events == [] and result.errors == [], name
        [unplaced] = result.unplaced
        expected = "ZZXYZ" if name in ("edifact", "dcsa") else "Nowhere Junction, TX, US"
        assert unplaced.place == expected, name
        assert unplaced.reason == f"time zone of {expected} unknown"
        assert unplaced.local_time == datetime(2026, 7, 1, 12, 0)


def test_epcis_times_carry_their_offset_or_fail():
    def epcis(event_time: str) -> bytes:
        return json.dumps(
            {
                "type": "EPCISDocument",
                "epcisBody": {
                    "eventList": [
                        {
                            "type": "ObjectEvent",
                            "eventTime": event_time,
                            "eventTimeZoneOffset": "+09:00",
                            "epcList": ["urn:epc:id:sgtin:1.2.3"],
                            "action": "OBSERVE",
                            "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
                        }
                    ]
                },
            }
        ).encode()

    [event] = parse(epcis("2026-07-01T03:00:00Z")).events
    assert event.occurred_at.isoformat() == "2026-07-01T12:00:00+09:00"
    assert event.location == "urn:epc:id:sgln:0614141.07346.1234"
    with pytest.raises(ParseError):
        raise parse(epcis("2026-07-01T03:00:00")).errors[0]


def test_an_event_without_an_offset_cannot_even_be_built():
    from integrations.parsers.base import NormalizedEvent

    with pytest.raises(ParseError, match="has no UTC offset"):
        NormalizedEvent(
            "x12",
            "R",
            "k",
            (),
            "X1",
            "arrived",
            datetime(2026, 1, 1),
            False,
            None,
            "ACT",
            "key",
            "raw",
        )


def test_parse_message_prints_no_time_without_an_offset(tmp_path):
    from integrations.management.commands.parse_message import run

    placed = tmp_path / "placed.edi"
    placed.write_bytes(edifact("USELP", "2026-03-08T03:30"))
    stdout, stderr, code = run(str(placed))
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)[0]["occurred_at"] == "2026-03-08T03:30:00-06:00"
    unplaced = tmp_path / "unplaced.edi"
    unplaced.write_bytes(edifact("ZZXYZ", "2026-03-08T03:30"))
    stdout, stderr, code = run(str(unplaced))
    assert (code, stdout) == (1, "")
    assert stderr.startswith("error: time zone of ZZXYZ unknown | position: segment")

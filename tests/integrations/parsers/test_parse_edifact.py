from datetime import UTC, datetime

import pytest

from integrations.formats import parse
from integrations.parsers import ParseError

from .helpers import contracts, fixture_bytes


def _summary(result):
    return [
        (
            c["reference"],
            c["code"],
            c["milestone"],
            c["occurred_at"],
            c["location"],
            c["classifier"],
        )
        for c in contracts(result)
    ]


def test_una_file_two_messages_cni_and_eqd_parents():
    result = parse(fixture_bytes("edifact_iftsta_una.edi"))
    assert result.format == "edifact"
    assert result.errors == []
    assert _summary(result) == [
        ("CONS-0001", "24", "departed", "2026-04-02T08:45:00+02:00", "NLRTM", "ACT"),  # ?+0200
        ("CONS-0001", "1", "arrived", "2026-10-25T03:30:00+01:00", "DEHAM", "ACT"),  # EU DST end
        ("CONS-0001", "12", "customs_cleared", "2026-04-03T12:00:00+00:00", "USNYC", "ACT"),
        ("CONS-0001", "20", "estimated", "2026-04-10T18:00:00-07:00", "USLAX", "EST"),
        ("CONS-0002", "21", "delivered", "2026-04-11T00:00:00-05:00", "USCHI", "ACT"),
        # STS under the equipment-centred group (D.21A) before the CNI group
        ("CONS-0003", "29", "arrived", "2026-11-01T10:30:00-06:00", "USHOU", "ACT"),
        ("CONS-0003", "6", "estimated", "2026-04-15T08:00:00+10:00", "AUSYD", "PLN"),
    ]
    assert all(c["reference_kind"] == "consignment" for c in contracts(result))
    # DTM 203 at a UN/LOCODE no data places: never guessed, held back for the pipeline.
    [unplaced] = result.unplaced
    assert (unplaced.place, unplaced.reference) == ("ZZXXX", "CONS-0002")
    assert unplaced.local_time.isoformat() == "2026-04-11T15:30:00"
    assert unplaced.reason == "time zone of ZZXXX unknown"
    assert unplaced.unit == "UNB REF001 / UNH 1"


def test_references_extra_and_unknown_code():
    result = parse(fixture_bytes("edifact_iftsta_una.edi"))
    events = result.events
    placed = result.unplaced[0].build(datetime(2026, 4, 11, 15, 30, tzinfo=UTC))
    assert placed.extra["unknown_code"] is True
    assert placed.occurred_at.isoformat() == "2026-04-11T15:30:00+00:00"
    assert events[0].references == (
        ("consignment", "CONS-0001"),
        ("bill_of_lading", "BL123456"),
        ("container", "MSKU1234567"),
    )
    assert events[0].extra["transport"]["vessel_name"] == "KING OF THE SEAS"
    assert events[0].extra["tz_offset"] == "+02:00"
    assert events[3].extra["reason_codes"] == ["WEA"]
    assert events[3].extra["free_text"] == ["WEATHER DELAY: STORM'S EDGE"]
    assert events[5].references == (("consignment", "CONS-0003"), ("container", "TGHU7654321"))
    assert events[4].references[1] == ("booking", "BKG-2002")
    assert events[0].raw.startswith("STS+1+24'RFF+BM:BL123456'DTM+334:202604020845?+0200:205'")


def test_no_una_single_line_release_chars_and_offsets():
    result = parse(fixture_bytes("edifact_iftsta_no_una.edi"))
    assert result.errors == []
    assert _summary(result) == [
        ("CONS+0004", "13", "picked_up", "2026-01-15T12:00:00-05:00", "USNYC", "ACT"),
        # 304 with a partner zone indicator → treated as local time at FRPAR
        ("CONS+0004", "22", "delivered", "2026-01-20T14:30:00+01:00", "FRPAR", "ACT"),
    ]
    assert result.events[1].extra["zone_indicator"] == "ABC"


def test_custom_una_separators_and_release_char():
    result = parse(fixture_bytes("edifact_iftsta_custom_una.edi"))
    assert result.errors == []
    assert _summary(result) == [
        ("CONS-0005", "27", "picked_up", "2026-07-01T12:00:00+01:00", "GBFXT", "ACT"),
    ]


def _una() -> str:
    return fixture_bytes("edifact_iftsta_una.edi").decode()


def test_wrong_unt_count_rejects_message_keeps_sibling():
    result = parse(_una().replace("UNT+30+1'", "UNT+29+1'").encode())
    assert {e.reference for e in result.events} == {"CONS-0003"}
    error = result.errors[0]
    assert error.reason == "UNT01 segment count 29 does not match actual count 30"
    assert error.unit == "UNB REF001 / UNH 1"
    assert error.position.endswith("(UNT), element 1")


def test_unt_reference_mismatch():
    result = parse(_una().replace("UNT+12+2'", "UNT+12+7'").encode())
    assert "UNT02 '7' does not match UNH01 '2'" in result.errors[0].reason
    assert (len(result.events), len(result.unplaced)) == (5, 1)


def test_wrong_unz_count_rejects_interchange():
    result = parse(_una().replace("UNZ+2+REF001'", "UNZ+3+REF001'").encode())
    assert result.events == []
    assert result.errors[0].reason.startswith("UNZ01 says 3 messages, interchange has 2")


def test_truncated_message():
    text = _una()
    result = parse(text[: text.index("UNT+12+2'")].encode())
    assert result.events == []  # no UNZ: the interchange is rejected as a whole
    reasons = [e.reason for e in result.errors]
    assert any(r.startswith("truncated message: UNH has no UNT") for r in reasons)
    assert any(r.startswith("truncated interchange: UNB has no UNZ") for r in reasons)


def test_impossible_date_rejects_that_status_only():
    text = _una().replace("DTM+334:20260411:102", "DTM+334:20260230:102")
    result = parse(text.encode())
    assert (len(result.events), len(result.unplaced)) == (6, 1)
    error = result.errors[0]
    assert error.reason.startswith("impossible date/time '20260230'")
    assert error.unit == "UNB REF001 / UNH 1"
    assert error.position.endswith("(DTM), element 1")


def test_dst_gap_rejected():
    text = _una().replace("DTM+178:202610250330:203", "DTM+178:202603290230:203")
    result = parse(text.encode())
    assert result.errors[0].reason.startswith("non-existent local time 2026-03-29T02:30:00")


def test_missing_status_date():
    text = _una().replace("DTM+334:202611011030:203'\n", "")
    text = text.replace("UNT+12+2'", "UNT+11+2'")
    result = parse(text.encode())
    assert "no event date/time" in result.errors[0].reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"UNA:+", "UNA service string advice truncated"),
        (b"UNH+1+IFTSTA:D:01B:UN'", "input does not start with a UNB"),
        (b"UNB+UNOA:2+A+B+260101:1200+1'UNH+1+IFTSTA?", "release character at end of input"),
        (b"UNB+UNOA:2+A+B+260101:1200+1'\xc3\x28'", "input is not valid UTF-8"),
    ],
)
def test_whole_input_errors(data, reason):
    with pytest.raises(ParseError) as caught:
        parse(data, "edifact")
    assert caught.value.reason.startswith(reason)


def test_unoc_latin1_accepted():
    text = _una().replace("STORM?'S EDGE", "STÜRM").encode("latin-1")
    result = parse(text)
    assert result.events[3].extra["free_text"] == ["WEATHER DELAY: STÜRM"]

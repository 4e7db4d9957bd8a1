import pytest

from integrations.formats import parse
from integrations.parsers import ParseError

from .helpers import contracts, fixture_bytes


def test_multi_interchange_events_exact():
    result = parse(fixture_bytes("x12_214_multi.edi"))
    assert result.format == "x12"
    got = [
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
    assert got == [
        ("SHIP001", "AF", "picked_up", "2026-03-08T01:30:00-05:00", "Chicago, IL, US", "ACT"),
        # no time code: local Chicago time just after the US DST start
        ("SHIP001", "X4", "arrived", "2026-03-08T03:30:00-05:00", "Chicago, IL, US", "ACT"),
        ("SHIP001", "P1", "departed", "2026-03-08T04:45:00-04:00", "Indianapolis, IN, US", "ACT"),
        (
            "SHIP002",
            "X1",
            "arrived",
            "2026-03-15T10:00:00-05:00",
            "Dallas, TX, US",
            "ACT",
        ),  # 20 = UTC-5
        (
            "SHIP002",
            "AB",
            "other",
            "2026-03-16T08:00:00-06:00",
            "Dallas, TX, US",
            "PLN",
        ),  # CS fixed
        ("SHIP002", "ZZ", "other", "2026-03-16T15:00:00+00:00", None, "ACT"),
        ("SHIP002", "AG", "estimated", "2026-03-17T12:00:00-07:00", None, "EST"),  # PT + DST
        ("SHIP002", "D1", "delivered", "2026-03-18T09:15:30-04:00", "Dallas, TX, US", "ACT"),  # ED
        ("SHIP003", "CT", "customs_cleared", "2026-11-01T03:00:00-08:00", "Seattle, WA, US", "ACT"),
        ("SHIP004", "XB", "order_created", "2026-03-01T09:00:00-12:00", "Memphis, TN, US", "ACT"),
    ]
    assert all(c["reference_kind"] == "shipment_id" for c in contracts(result))
    # MS1 with only a ZIP code and the country: no packaged data maps ZIP codes to zones.
    [unplaced] = result.unplaced
    assert (unplaced.place, unplaced.reference) == ("98101, US", "SHIP003")
    assert unplaced.local_time.isoformat() == "2026-11-02T08:00:00"


def test_multi_interchange_dst_errors_keep_siblings():
    result = parse(fixture_bytes("x12_214_multi.edi"))
    reasons = [(e.reason.split(" ")[0], e.position, e.unit) for e in result.errors]
    assert reasons == [
        ("ambiguous", "segment 37 (AT7), element 6", "ISA 000000101 / GS 2 / ST 0001"),
        ("non-existent", "segment 44 (AT7), element 6", "ISA 000000101 / GS 2 / ST 0001"),
    ]


def test_references_extra_and_flags():
    events = parse(fixture_bytes("x12_214_multi.edi")).events
    first = events[0]
    assert first.references == (
        ("shipment_id", "SHIP001"),
        ("tracking_number", "PRO12345"),
        ("bill_of_lading", "BOL778899"),
        ("purchase_order", "PO-4711"),
    )
    assert first.extra["scac"] == "ABCD"
    assert first.extra["equipment"]["number"] == "TRL1234"
    assert first.extra["reason_code"] == "NS"
    assert first.raw.startswith("AT7*AF*NS***20260308*0130*ET~")
    assert "MS1*Chicago*IL*US~" in first.raw
    assert events[4].extra["appointment_code"] == "AB"
    assert events[5].extra["unknown_code"] is True
    assert len({e.dedupe_key for e in events}) == len(events)


def test_dedupe_key_stable_across_resend():
    first = parse(fixture_bytes("x12_214_multi.edi")).events
    resent = fixture_bytes("x12_214_multi.edi").replace(b"000000101", b"000000999")
    second = parse(resent).events
    assert [e.dedupe_key for e in first] == [e.dedupe_key for e in second]


def test_pipe_separator_newline_terminator_and_no_zone():
    result = parse(fixture_bytes("x12_214_pipe_newline.edi"))
    got = [(c["code"], c["occurred_at"], c["location"]) for c in contracts(result)]
    assert got == [
        ("X3", "2026-10-25T01:30:00+00:00", "Rotterdam, NL"),
        ("D1", "2026-03-29T03:30:00+02:00", "Amsterdam, NL"),  # EU DST start
        ("X5", "2026-10-25T03:30:00+01:00", "Amsterdam, NL"),  # EU DST end
    ]
    # A local time with no time code and no place: nothing to place it by, never guessed.
    [error] = result.errors
    assert error.reason == "AT7 time has no time code (AT7-07) and no location (MS1) to place it"
    assert error.position == "segment 9 (AT7), element 7"
    assert result.events[0].extra["issued_local"] == "2026-03-08T12:00:00"  # GS04/GS05
    assert result.events[0].issued_at is None  # GS carries no zone


def test_crlf_terminator_variant():
    text = fixture_bytes("x12_214_pipe_newline.edi").replace(b"\n", b"\r\n")
    assert len(parse(text).events) == 3


def test_caret_separator_single_line_numeric_offset():
    result = parse(fixture_bytes("x12_214_caret_oneline.edi"))
    assert contracts(result) == [
        {
            "reference": "SHIP006",
            "reference_kind": "shipment_id",
            "code": "CP",
            "milestone": "picked_up",
            "occurred_at": "2026-07-04T10:15:00+03:00",
            "location": "Moscow, RU",
            "classifier": "ACT",
        }
    ]


def _multi() -> str:
    return fixture_bytes("x12_214_multi.edi").decode()


def test_wrong_se01_rejects_only_that_set():
    result = parse(_multi().replace("SE*15*0001~", "SE*14*0001~").encode())
    assert [e.reference for e in result.events].count("SHIP001") == 0
    assert any(e.reference == "SHIP002" for e in result.events)
    error = result.errors[0]
    assert "SE01 segment count 14 does not match actual count 15" in error.reason
    assert error.position == "segment 17 (SE), element 1"
    assert error.unit == "ISA 000000101 / GS 1 / ST 0001"


def test_st02_se02_mismatch():
    result = parse(_multi().replace("SE*13*0002~", "SE*13*0099~").encode())
    assert not any(e.reference == "SHIP002" for e in result.events)
    assert "SE02 '0099' does not match ST02 '0002'" in result.errors[0].reason
    assert result.errors[0].position.endswith("(SE), element 2")


def test_wrong_ge01_rejects_group_keeps_other_group():
    result = parse(_multi().replace("GE*2*1~", "GE*3*1~").encode())
    references = {e.reference for e in result.events}
    assert references == {"SHIP003", "SHIP004"}
    assert "GE01 says 3 transaction sets, group has 2" in result.errors[0].reason
    assert result.errors[0].unit == "ISA 000000101 / GS 1"


def test_gs_ge_control_mismatch():
    result = parse(_multi().replace("GE*1*2~", "GE*1*5~").encode())
    assert any("GE02 '5' does not match GS06 '2'" in e.reason for e in result.errors)
    assert not any(e.reference == "SHIP003" for e in result.events)


def test_wrong_iea01_rejects_interchange_keeps_next():
    result = parse(_multi().replace("IEA*2*000000101~", "IEA*1*000000101~").encode())
    assert {e.reference for e in result.events} == {"SHIP004"}
    assert any("IEA01 says 1 groups, interchange has 2" in e.reason for e in result.errors)


def test_isa13_iea02_mismatch():
    result = parse(_multi().replace("IEA*2*000000101~", "IEA*2*000000109~").encode())
    assert any(
        "IEA02 '000000109' does not match ISA13 '000000101'" in e.reason for e in result.errors
    )


def test_truncated_interchange_keeps_complete_sibling():
    text = _multi()
    truncated = text[: text.index("SE*6*0100")]
    result = parse(truncated.encode())
    assert {e.reference for e in result.events} == {"SHIP001", "SHIP002", "SHIP003"}
    reasons = [e.reason for e in result.errors if e.unit and "000000102" in e.unit]
    assert any(r.startswith("truncated transaction set") for r in reasons)
    assert any(r.startswith("truncated functional group") for r in reasons)
    assert any(r.startswith("truncated interchange") for r in reasons)


def test_impossible_dates_rejected_per_at7():
    text = (
        _multi()
        .replace("20260315*1000*20", "20260230*1000*20")
        .replace("20260317*1200*PT", "20260317*2460*PT")
    )
    result = parse(text.encode())
    codes = [e.code for e in result.events if e.reference == "SHIP002"]
    assert codes == ["AB", "ZZ", "D1"]
    bad = [e for e in result.errors if e.unit == "ISA 000000101 / GS 1 / ST 0002"]
    assert len(bad) == 2
    assert bad[0].reason.startswith("impossible date/time 20260230 1000")
    assert bad[0].position == "segment 21 (AT7), element 5"
    assert bad[1].reason.startswith("impossible date/time 20260317 2460")


def test_unknown_time_code_is_an_error_for_that_at7():
    result = parse(_multi().replace("20260316*1500*UT", "20260316*1500*QQ").encode())
    error = next(e for e in result.errors if "QQ" in e.reason)
    assert error.reason == "unknown time code 'QQ' (element 623)"
    assert error.position == "segment 25 (AT7), element 7"
    assert "ZZ" not in [e.code for e in result.events]


def test_empty_elements_not_collapsed():
    text = _multi().replace("AT7***AB**20260316*0800*CS", "AT7**AB**20260316*0800*CS")
    result = parse(text.encode())
    # the shifted AT7 now has AB in the reason slot and no status/appointment code
    assert any("neither a status code" in e.reason for e in result.errors)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty body"),
        (b"   \r\n", "empty body"),
        (b"ISA*00*short~", "ISA segment truncated (13 of 106 characters)"),
        (b"GS*QM*X~ST*214*1~", "input does not start with an ISA segment"),
        (b"ISA*00*\xff\xfe" + b" " * 120, "input is not valid UTF-8"),
    ],
)
def test_whole_input_errors(data, reason):
    with pytest.raises(ParseError) as caught:
        parse(data, "x12")
    assert caught.value.reason.startswith(reason)

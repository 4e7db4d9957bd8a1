"""The parsers' fast paths (orjson, datetime.fromisoformat) must give exactly what the general
stdlib paths give: same values, same bytes, same errors."""

import enum
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.parsers import ParseError, jsonutil, x12
from integrations.parsers.jsonutil import (
    _canonical_json_stdlib,
    _load_json_stdlib,
    canonical_json,
    load_json,
    parse_iso_datetime,
)


def _outcome(function, *args):
    """repr of the value (types included: 1 vs 1.0, key order), or the error's text."""
    try:
        return ("ok", repr(function(*args)))
    except (ParseError, ValueError, TypeError, RecursionError) as error:
        return ("error", type(error).__name__, str(error))


TRICKY_BODIES = [
    b'{"a": 1, "b": 2, "a": 3}',
    b"[NaN, Infinity, -Infinity]",
    b"[1e400, -1e400, 1e-400]",
    b"[18446744073709551615, 18446744073709551616, -9223372036854775809]",
    b"[1234567890123456789, 12345678901234567890123456789.5]",
    b'["1234567890123456789012345"]',
    b"[-0, -0.0, 0.1, 1e16, 1e-5, 5e-324, 1.7976931348623157e308]",
    b'["\\ud800", "\\ud83d\\ude00", "\\u00e9", "\xc3\xa9"]',
    b'["\xed\xa0\x80"]',
    b"\xef\xbb\xbf[1]",
    b"\xff[1]",
    b" \t\r\n[1] \n",
    b"",
    b"   ",
    b"[1,]",
    b"[1] x",
    b'{"a" 1}',
    b'["a\tb"]',
    b"[" * 254 + b"]" * 254,
    b"[" * 300 + b"]" * 300,
    b"[" * 1010 + b"]" * 1010,  # the stdlib gives up before orjson's limit of 1024
    b"[" * 2000 + b"]" * 2000,
    b"[" * 5000,
]


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_load_json_matches_stdlib(body):
    assert _outcome(load_json, body) == _outcome(_load_json_stdlib, body)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=()), max_size=6), children)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_load_and_canonical_json_match_stdlib(value, ensure_ascii):
    body = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    assert _outcome(load_json, body) == _outcome(_load_json_stdlib, body)
    assert _outcome(canonical_json, value) == _outcome(_canonical_json_stdlib, value)


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1e-5, "a": [1e16, -0.0, 0.0001, 123456789.125]},
        [float("nan"), float("inf")],
        [2**64, -(2**63) - 1, 2**63],
        {"\U00010000": 1, "\uffff": 2, "\ue000": 3, "é": 4, "": 5},
        ["\x00\x1f\x7f\u2028", "\ud800"],
        (1, 2),
        {1: "int key"},
        [Colour.RED],
        [uuid.UUID(int=1)],
        [datetime(2026, 1, 1, tzinfo=UTC)],
    ],
)
def test_canonical_json_matches_stdlib(value):
    assert _outcome(canonical_json, value) == _outcome(_canonical_json_stdlib, value)


def _general_iso(monkeypatch, text):
    with monkeypatch.context() as patch:
        patch.setattr(jsonutil, "COMMON_ISO_DATETIME", re.compile(r"(?!)"))
        return _datetime_outcome(parse_iso_datetime, text, "path")


def _datetime_outcome(function, *args):
    try:
        moment = function(*args)
    except ParseError as error:
        return ("error", error.reason, error.position)
    return ("ok", repr(moment), moment.fold)


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-03T08:00:00+00:00",
        "2026-10-03T08:00:00-00:00",
        "2026-10-03 08:00:00.5Z",
        "2026-10-03T08:00",
        "2026-10-03T08:00:00.123456789+05:30",
        "2026-10-03T08:00:00.1234567",
        "2026-10-03T08:00:00+14:59",
        "2026-10-03T08:00:00+15:00",
        "2026-10-03T08:00:00z",
        "2026-10-03T08:00:00 +0530",
        "2026-02-29T08:00:00Z",
        "2026-10-03T24:00:00Z",
        "2026-10-03T08:60:00Z",
        "0000-10-03T08:00:00Z",
        "٢٠٢٦-10-03T08:00:00Z",
        " 2026-10-03T08:00:00Z\n",
    ],
)
def test_iso_datetime_fast_path_matches_general_path(monkeypatch, text):
    assert _datetime_outcome(parse_iso_datetime, text, "path") == _general_iso(monkeypatch, text)


def _two(low: int, high: int):
    return st.integers(low, high).map("{:02d}".format)


FRACTIONS = ["", ".5", ".123", ".123456", ".1234567", ",5"]
ISO_LIKE = st.builds(
    "{}-{}-{}{}{}:{}{}{}".format,
    st.integers(0, 9999).map("{:04d}".format),
    _two(0, 13),
    _two(0, 32),
    st.sampled_from("T t"),
    _two(0, 25),
    _two(0, 61),
    st.just("") | st.builds(":{}{}".format, _two(0, 61), st.sampled_from(FRACTIONS)),
    st.sampled_from(["", "Z", "z", " Z"])
    | st.builds("{}{}:{}".format, st.sampled_from("+-"), _two(0, 16), _two(0, 61)),
)


@settings(max_examples=1000, deadline=None)
@given(ISO_LIKE)
def test_iso_datetime_fast_path_matches_general_path_generated(text):
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _datetime_outcome(parse_iso_datetime, text, "path") == _general_iso(
            monkeypatch, text
        )


class _NoFromIsoformat(datetime):
    @classmethod
    def fromisoformat(cls, text):
        raise ValueError("disabled")


def _at7_outcome(date_text, time_text):
    at7 = x12.Segment(5, ["AT7", "AF", "", "", "", date_text, time_text, "UT"], "AT7")
    try:
        moment = x12._naive_datetime(at7)
    except ParseError as error:
        return ("error", error.reason, error.position)
    return ("ok", moment.timetuple()[:6], moment.microsecond, moment.tzinfo, moment.fold)


@settings(max_examples=500, deadline=None)
@given(
    st.from_regex(r"\A[0-9٢²]{8}\Z") | st.sampled_from(["20260229", "20261301", "00010101"]),
    st.from_regex(r"\A([0-9٢²]{4}|[0-9]{6,8})?\Z"),
)
def test_x12_datetime_fast_path_matches_general_path(date_text, time_text):
    fast = _at7_outcome(date_text, time_text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(x12, "datetime", _NoFromIsoformat)
        assert fast == _at7_outcome(date_text, time_text)

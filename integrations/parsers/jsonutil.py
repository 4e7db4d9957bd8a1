"""JSON helpers shared by the DCSA and EPCIS parsers."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from .base import ParseError, decode_text

ISO_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
# A subset of ISO_DATETIME on which datetime.fromisoformat agrees with the general path:
# ASCII digits, ":" separators, up to 6 fraction digits, "Z" or a possible "+HH:MM" offset.
COMMON_ISO_DATETIME = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?",
    re.ASCII,
)
OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


# orjson silently turns integers beyond 64 bits into floats; the stdlib keeps them exact. Any
# such literal has at least 19 digits, so bodies with a long digit run take the stdlib path.
# (Found by mapping every digit to "0" and searching: a regex scan costs ten times more.)
DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_DIGIT_RUN = b"0" * 19


def load_json(data: bytes) -> Any:
    """Parse a JSON body; ParseError (with line/column) when it is not valid strict UTF-8 JSON."""
    if type(data) is bytes and LONG_DIGIT_RUN not in data.translate(DIGITS_TO_ZERO):
        # Fast path. orjson rejects everything the stdlib path rejects (bad UTF-8, BOM, NaN,
        # lone surrogates) and returns equal values for what both accept; on any failure the
        # stdlib path runs, to accept the body after all or to word the error as always.
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            if _shallow(document):
                return document
    return _load_json_stdlib(data)


def _shallow(document: Any) -> bool:
    """Nesting of at most 254 levels (where orjson.dumps stops), which the stdlib also parses.
    Deeper bodies take the stdlib path: it fails on a depth below orjson's limit of 1024 that
    depends on the Python stack, and that outcome must stay the same."""
    try:
        orjson.dumps(document)
    except orjson.JSONEncodeError:
        return False
    return True


def _load_json_stdlib(data: bytes) -> Any:
    text = decode_text(data)
    if not text.strip():
        raise ParseError("empty body")
    try:
        document = json.loads(text)
        _require_valid_unicode(document)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON: {exc.msg}", position=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nesting too deep") from None
    except ValueError:  # the only other: an integer beyond Python's 4,300-digit limit
        raise ParseError("invalid JSON: a number has more than 4,300 digits") from None
    return document


def _require_valid_unicode(document: Any) -> None:
    """JSON's grammar lets a \\u escape encode half a surrogate pair, which is no character
    at all (and cannot be stored or hashed): refuse it like any other wrong encoding."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(
            "invalid JSON: a \\u escape encodes a lone surrogate (not valid Unicode)"
        ) from None


def parse_iso_datetime(value: Any, path: str) -> datetime:
    """ISO 8601 with 'T' or a space; returns aware when an offset is present, else naive."""
    if not isinstance(value, str):
        raise ParseError(f"date-time must be a string, got {type(value).__name__}", path)
    text = value.strip()
    if COMMON_ISO_DATETIME.fullmatch(text):
        # The usual shape: the C parser gives the same value several times faster. Impossible
        # dates/times (Feb 30, hour 24...) fail there and are worded by the general path.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    match = ISO_DATETIME.match(text)
    if not match:
        raise ParseError(f"invalid date-time format {value!r}", path)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
    except ValueError as exc:
        raise ParseError(f"impossible date-time {value!r}: {exc}", path) from None
    if offset is None:
        return moment
    return moment.replace(tzinfo=parse_offset(offset, path))


def parse_offset(text: str, path: str) -> timezone:
    try:
        return _offset_zone(text)
    except ParseError as error:
        raise ParseError(error.reason, path) from None


# Pure function of the text, and a message repeats the same few offsets: cached (errors are
# not cached, they are raised anew each time).
@functools.lru_cache(maxsize=1024)
def _offset_zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    match = OFFSET.fullmatch(text.strip())
    if not match:
        raise ParseError(f"invalid UTC offset {text!r}")
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59:
        raise ParseError(f"impossible UTC offset {text!r}")
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON, exactly as ``json.dumps`` writes it (stored, and hashed for
    dedupe keys, so not one byte may change)."""
    try:
        # orjson refuses >64-bit ints, lone surrogates, non-str keys and nesting deeper than
        # 254, so a successful dump is also shallow enough for the recursive check below.
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _canonical_json_stdlib(value)
    if not _same_as_stdlib(value):
        return _canonical_json_stdlib(value)
    return text.decode("utf-8")


def _canonical_json_stdlib(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
STR_ONLY = frozenset({str})


def _same_as_stdlib(value: Any) -> bool:
    """True when orjson writes ``value`` byte for byte like the stdlib: only plain JSON types
    (orjson also serializes datetimes, UUIDs, enums... which the stdlib refuses) and floats
    that both print alike (they differ below 1e-4, e.g. 1e-05 vs 0.00001, and for nan/inf)."""
    kind = type(value)
    if kind is dict:
        if not STR_ONLY.issuperset(map(type, value)):
            return False
        children = value.values()
    elif kind is list:
        children = value
    elif kind is float:
        return value == 0 or 1e-4 <= abs(value) < 1e16
    else:
        return kind in PLAIN_SCALARS
    # Recurse only into containers and floats; most values are plain scalars.
    for child in children:
        if type(child) not in PLAIN_SCALARS and not _same_as_stdlib(child):
            return False
    return True


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def text_or_none(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None

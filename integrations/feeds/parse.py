"""Warehouse and customs feeds: CSV or JSON files described by a per-integration mapping.

A mapping (``Integration.feed_mapping``) says where each field of an event is::

    {"format": "csv", "delimiter": ",", "has_header": true,
     "fields": {"reference": "Ref", "reference_kind": "tracking_number",
                "milestone": "Status", "time": "When", "time_format": "%Y-%m-%d %H:%M",
                "time_zone": "Europe/Berlin", "location": "Site"},
     "code_map": {"RCV": "warehouse_received"}}

    {"format": "json", "records": "$.items[*]",
     "fields": {"reference": "$.ref", "milestone": "$.code", "time": "$.ts", ...}}

``reference``, ``milestone``, ``time`` and ``location`` name a column (CSV: the header name,
or a 0-based index without a header) or a JSON path relative to the record.
``reference_kind``, ``time_zone`` and ``time_format`` are constants; ``reference_kind`` and
``time_zone`` may instead come from the data as ``{"column": "Zone"}`` / ``{"path": "$.tz"}``.
``time_format`` is ``"iso"`` (offset optional) or a strptime format. A local time (no offset)
is placed in the row's zone, else in the zone of the row's location (a UN/LOCODE or "CITY,
ST, CC"; the pipeline also looks it up among the tenant's places, and without a zone the row
is a dead letter "time zone of <location> unknown"); a local time in a DST gap or fold is a
row error, never guessed.

Rows are numbered as in a spreadsheet (the header is row 1). Per-row problems become
``ParseResult.errors`` (the pipeline dead-letters them; good rows are still applied).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.parsers.base import (
    Format,
    NormalizedEvent,
    ParseContext,
    ParseError,
    ParseResult,
    UnplacedEvent,
    decode_text,
)
from integrations.parsers.jsonutil import load_json, parse_iso_datetime
from shipments.zones import LocalTimeError, localize, zone_for_location
from tenancy.api.parsers import load_request_json
from tenancy.errors import DomainError
from tenancy.text import check_document

FEED_FORMATS = ("csv", "json")
REQUIRED_FIELDS = ("reference", "milestone", "time")
DATA_FIELDS = ("reference", "milestone", "time", "location")
CONSTANT_OR_DATA_FIELDS = ("reference_kind", "time_zone")
KNOWN_FIELDS = (*DATA_FIELDS, *CONSTANT_OR_DATA_FIELDS, "time_format")
ENCODINGS = ("utf-8", "latin-1")
DEFAULT_REFERENCE_KIND = "tracking_number"
PREVIEW_ROWS = 10
MAX_PATH_LENGTH = 200


class MappingError(DomainError):
    """A feed mapping is unusable; ``field`` names the offending key (dotted)."""

    code = "invalid_mapping"

    def __init__(self, message: str, *, field: str = "mapping"):
        super().__init__(f"{field}: {message}", field=field)
        self.fields = {field: [message]}
        self.reason = message


# --- a tiny JSON path ---------------------------------------------------------------------------

_PATH_TOKEN = re.compile(
    r"\.(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|\[(?P<index>\d+)\]"
    r"|\[(?P<star>\*)\]"
    r"|\[(?P<q>['\"])(?P<quoted>[^'\"\]]*)(?P=q)\]"
)

Token = tuple[str, Any]  # ("key", "a") | ("index", 3) | ("star", None)


def compile_path(path: str, *, allow_wildcard: bool = True) -> list[Token]:
    """``$``, ``.key``, ``['key']``, ``[3]`` and ``[*]`` steps; MappingError otherwise.

    A path relative to a record may omit the ``$`` (``ts`` is ``$.ts``).
    """
    if not isinstance(path, str) or not path.strip():
        raise MappingError("a JSON path must be a non-empty string")
    path = path.strip()
    if len(path) > MAX_PATH_LENGTH:
        raise MappingError(f"JSON path longer than {MAX_PATH_LENGTH} characters")
    if not path.startswith("$"):
        path = "$." + path
    tokens: list[Token] = []
    pos = 1
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None:
            raise MappingError(f"invalid JSON path {path!r} at character {pos + 1}")
        if match.group("key") is not None:
            tokens.append(("key", match.group("key")))
        elif match.group("quoted") is not None:
            tokens.append(("key", match.group("quoted")))
        elif match.group("index") is not None:
            tokens.append(("index", int(match.group("index"))))
        else:
            if not allow_wildcard:
                raise MappingError(f"[*] is not allowed in a field path ({path!r})")
            tokens.append(("star", None))
        pos = match.end()
    return tokens


def _step_text(token: Token) -> str:
    kind, value = token
    if kind == "index":
        return f"[{value}]"
    if kind == "star":
        return "[*]"
    return f".{value}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", value) else f"['{value}']"


def resolve_path(document: Any, tokens: list[Token], base: str = "$") -> list[tuple[str, Any]]:
    """Every (concrete path, value) the path reaches; missing steps reach nothing."""
    current: list[tuple[str, Any]] = [(base, document)]
    for kind, value in tokens:
        following: list[tuple[str, Any]] = []
        for where, node in current:
            if kind == "key" and isinstance(node, dict) and value in node:
                following.append((where + _step_text((kind, value)), node[value]))
            elif kind == "index" and isinstance(node, list) and value < len(node):
                following.append((f"{where}[{value}]", node[value]))
            elif kind == "star" and isinstance(node, list):
                following.extend((f"{where}[{i}]", item) for i, item in enumerate(node))
            elif kind == "star" and isinstance(node, dict):
                following.extend((where + _step_text(("key", k)), v) for k, v in node.items())
        current = following
    return current


def relative_text(tokens: list[Token]) -> str:
    return "".join(_step_text(t) for t in tokens)


# --- mapping validation -------------------------------------------------------------------------


def _zone(name: Any, field: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise MappingError("time zone must be an IANA zone name such as Europe/Berlin", field=field)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"unknown IANA time zone {name!r}", field=field) from None


def _check_time_format(value: Any) -> str:
    if value in (None, ""):
        return "iso"
    if not isinstance(value, str) or len(value) > 100:
        raise MappingError(
            "time_format must be 'iso' or a strptime format", field="fields.time_format"
        )
    if value == "iso":
        return value
    if "%" not in value:
        raise MappingError(f"time_format {value!r} has no % directives", field="fields.time_format")
    sample = datetime(2026, 11, 23, 13, 45, 0, tzinfo=UTC)
    try:
        parsed = datetime.strptime(sample.strftime(value), value)
    except ValueError as exc:
        raise MappingError(
            f"time_format {value!r} cannot be parsed back: {exc}", field="fields.time_format"
        ) from None
    if (parsed.year, parsed.month, parsed.day, parsed.hour) != (2026, 11, 23, 13):
        raise MappingError(
            f"time_format {value!r} must contain the date and the hour (e.g. %Y-%m-%d %H:%M)",
            field="fields.time_format",
        )
    return value


def _data_ref(value: Any, field: str, fmt: str) -> dict:
    """A column or path reference: {"column": name|index} or {"path": tokens-text}."""
    if isinstance(value, dict):
        if set(value) == {"const"}:
            if not isinstance(value["const"], str):
                raise MappingError("a constant must be a string", field=field)
            return {"const": value["const"]}
        value = value.get("column") if fmt == "csv" else value.get("path")
        if value is None:
            key = "column" if fmt == "csv" else "path"
            raise MappingError(f"expected {{{key!r}: …}} or {{'const': …}}", field=field)
    if fmt == "csv":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MappingError("a column must be a header name or a 0-based index", field=field)
        if isinstance(value, int) and value < 0:
            raise MappingError("a column index must not be negative", field=field)
        if isinstance(value, str) and not value.strip():
            raise MappingError("a column name must not be empty", field=field)
        return {"column": value}
    try:
        tokens = compile_path(value, allow_wildcard=False)
    except MappingError as error:
        raise MappingError(error.reason, field=field) from None
    return {"path": "$" + relative_text(tokens)}


def mapping_validate(mapping: Any, *, milestones: set[str] | frozenset[str]) -> dict:
    """The normalized mapping, or MappingError naming the first problem.

    ``milestones``: the known milestone codes (integrations.selectors.known_milestones).
    """
    if not isinstance(mapping, dict):
        raise MappingError("the mapping must be a JSON object")
    try:
        check_document(mapping)  # it is stored as jsonb
    except DomainError as error:
        raise MappingError(error.message, field=error.field or "mapping") from None
    fmt = mapping.get("format")
    if fmt not in FEED_FORMATS:
        raise MappingError("format must be 'csv' or 'json'", field="format")
    out: dict[str, Any] = {"format": fmt}
    if fmt == "csv":
        delimiter = mapping.get("delimiter", ",")
        if delimiter == "\\t":
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
            raise MappingError("delimiter must be one character", field="delimiter")
        has_header = mapping.get("has_header", True)
        if not isinstance(has_header, bool):
            raise MappingError("has_header must be true or false", field="has_header")
        out |= {"delimiter": delimiter, "has_header": has_header}
    else:
        records = mapping.get("records", "$")
        try:
            compile_path(records)
        except MappingError as error:
            raise MappingError(error.reason, field="records") from None
        out["records"] = records.strip()
    encoding = mapping.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        raise MappingError(f"encoding must be one of {', '.join(ENCODINGS)}", field="encoding")
    out["encoding"] = encoding

    fields = mapping.get("fields")
    if not isinstance(fields, dict):
        raise MappingError("fields must be an object", field="fields")
    unknown = sorted(set(fields) - set(KNOWN_FIELDS))
    if unknown:
        raise MappingError(f"unknown field {unknown[0]!r}", field=f"fields.{unknown[0]}")
    for name in REQUIRED_FIELDS:
        if fields.get(name) in (None, ""):
            raise MappingError(f"{name} is required", field=f"fields.{name}")
    norm: dict[str, Any] = {}
    for name in DATA_FIELDS:
        if fields.get(name) not in (None, ""):
            norm[name] = _data_ref(fields[name], f"fields.{name}", fmt)
    for name in ("reference", "milestone", "time"):
        if "const" in norm[name]:
            raise MappingError(f"{name} must come from the data", field=f"fields.{name}")
    kind = fields.get("reference_kind", DEFAULT_REFERENCE_KIND)
    if isinstance(kind, str):
        if not kind.strip() or len(kind) > 40:
            raise MappingError("reference_kind must be a short name", field="fields.reference_kind")
        norm["reference_kind"] = {"const": kind.strip()}
    else:
        norm["reference_kind"] = _data_ref(kind, "fields.reference_kind", fmt)
    zone = fields.get("time_zone")
    if isinstance(zone, str):
        _zone(zone, "fields.time_zone")
        norm["time_zone"] = {"const": zone.strip()}
    elif zone is not None:
        ref = _data_ref(zone, "fields.time_zone", fmt)
        if "const" in ref:
            _zone(ref["const"], "fields.time_zone")
        norm["time_zone"] = ref
    norm["time_format"] = _check_time_format(fields.get("time_format"))
    if fmt == "csv" and not out["has_header"]:
        for name, ref in norm.items():
            column = ref.get("column") if isinstance(ref, dict) else None
            if isinstance(column, str):
                if not column.strip().isdigit():
                    raise MappingError(
                        "without a header, columns are 0-based indexes", field=f"fields.{name}"
                    )
                ref["column"] = int(column)
    out["fields"] = norm

    code_map = mapping.get("code_map", {})
    if not isinstance(code_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in code_map.items()
    ):
        raise MappingError("code_map must map source codes to milestone codes", field="code_map")
    known = milestones
    for code, milestone in code_map.items():
        if milestone not in known:
            raise MappingError(
                f"code {code!r} maps to unknown milestone {milestone!r}",
                field=f"code_map.{code}",
            )
    out["code_map"] = {k.strip(): v for k, v in code_map.items()}
    return out


# --- parsing ------------------------------------------------------------------------------------


@dataclass
class _Record:
    """One row/record: how to read a field, and where it is for error messages."""

    number: int  # CSV row number (header = 1) or record index
    where: str  # "row 7" or "$.items[3]"
    get: Any  # callable(ref) -> (value, position)


def _csv_records(text: str, mapping: dict) -> Iterator[_Record | ParseError]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping["delimiter"])
    refs = [r for r in mapping["fields"].values() if isinstance(r, dict) and "column" in r]
    header: list[str] | None = None
    index_of: dict[Any, int] = {}
    width = 0
    try:
        first = True
        for row in reader:
            line = reader.line_num
            if first and mapping["has_header"]:
                first = False
                header = [h.strip().lstrip("\ufeff") for h in row]
                width = len(header)
                for ref in refs:
                    column = ref["column"]
                    if isinstance(column, int):
                        if column >= width:
                            raise ParseError(f"column {column} is beyond the header", "row 1")
                        index_of[column] = column
                    elif column.strip() in header:
                        index_of[column] = header.index(column.strip())
                    else:
                        raise ParseError(f"column {column!r} not found in the header", "row 1")
                continue
            first = False
            if not any(cell.strip() for cell in row):
                continue  # blank line
            yield _Record(line, f"row {line}", _csv_getter(row, line, header, index_of))
    except csv.Error as exc:
        yield ParseError(f"malformed CSV: {exc}", f"row {reader.line_num}")


def _csv_getter(row: list[str], line: int, header: list[str] | None, index_of: dict):
    def get(ref: dict) -> tuple[Any, str]:
        if "const" in ref:
            return ref["const"], f"row {line}"
        column = ref["column"]
        index = index_of.get(column, column)
        label = (
            header[index] if header and isinstance(index, int) and index < len(header) else column
        )
        position = f"row {line}, column {label}"
        if not isinstance(index, int):
            raise ParseError(f"column {column!r} needs a header or an index", position)
        if index >= len(row):
            raise ParseError(f"row has {len(row)} columns, no column {label}", position)
        return row[index], position

    return get


def _json_records(data: bytes, mapping: dict) -> Iterator[_Record | ParseError]:
    document = load_json(data)
    found = resolve_path(document, compile_path(mapping["records"]))
    if len(found) == 1 and isinstance(found[0][1], list) and not mapping["records"].endswith("]"):
        where, items = found[0]
        found = [(f"{where}[{i}]", item) for i, item in enumerate(items)]
    if not found:
        raise ParseError(f"no records at {mapping['records']}", mapping["records"])
    compiled = {
        name: compile_path(ref["path"], allow_wildcard=False)
        for name, ref in mapping["fields"].items()
        if isinstance(ref, dict) and "path" in ref
    }
    for number, (where, record) in enumerate(found):
        if not isinstance(record, dict):
            yield ParseError("record must be a JSON object", where)
            continue
        yield _Record(number, where, _json_getter(record, where, compiled))


def _json_getter(record: dict, where: str, compiled: dict):
    by_path = {relative_text(tokens): tokens for tokens in compiled.values()}

    def get(ref: dict) -> tuple[Any, str]:
        if "const" in ref:
            return ref["const"], where
        tokens = by_path.get(ref["path"][1:]) or compile_path(ref["path"], allow_wildcard=False)
        position = where + relative_text(tokens)
        hits = resolve_path(record, tokens, base=where)
        return (hits[0][1] if hits else None), position

    return get


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return ""
    return str(value).strip()


def _parse_time(raw: Any, position: str, time_format: str) -> datetime:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ParseError("time is missing", position)
    text = str(raw).strip()
    if not text:
        raise ParseError("time is missing", position)
    if time_format == "iso":
        return parse_iso_datetime(text, position)
    try:
        return datetime.strptime(text, time_format)
    except ValueError:
        raise ParseError(f"time {text!r} does not match format {time_format!r}", position) from None


def row_dedupe_key(integration_id: int | None, reference: str, milestone: str, at: datetime) -> str:
    basis = "\x1f".join(
        [str(integration_id or ""), reference, milestone, at.astimezone(UTC).isoformat()]
    )
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _event(
    record: _Record,
    mapping: dict,
    *,
    known: set[str],
    overrides: dict,
    integration_id: int | None,
) -> NormalizedEvent | UnplacedEvent:
    fields = mapping["fields"]
    reference, ref_pos = record.get(fields["reference"])
    reference = _text(reference)
    if not reference:
        raise ParseError("reference is missing", ref_pos)
    if len(reference) > 120:
        raise ParseError("reference is longer than 120 characters", ref_pos)
    code, code_pos = record.get(fields["milestone"])
    code = _text(code)
    if not code:
        raise ParseError("milestone code is missing", code_pos)
    milestone = overrides.get(code) or mapping["code_map"].get(code) or code
    if milestone not in known:
        raise ParseError(
            f"unknown milestone code {code!r}: add it to the mapping's code_map", code_pos
        )
    raw_time, time_pos = record.get(fields["time"])
    moment = _parse_time(raw_time, time_pos, fields["time_format"])
    kind, _ = record.get(fields["reference_kind"])
    kind = _text(kind) or DEFAULT_REFERENCE_KIND
    location = ""
    if "location" in fields:
        location = _text(record.get(fields["location"])[0])[:200]

    def build(occurred_at: datetime) -> NormalizedEvent:
        return NormalizedEvent(
            standard=mapping["format"],
            reference=reference,
            reference_kind=kind,
            references=((kind, reference),),
            code=code,
            milestone=milestone,
            occurred_at=occurred_at,
            tz_unknown=False,
            location=location or None,
            classifier="ACT",
            dedupe_key=row_dedupe_key(integration_id, reference, milestone, occurred_at),
            raw=record.where,
            extra={"row": record.where},
        )

    if moment.tzinfo is not None:
        return build(moment)
    zone_ref = fields.get("time_zone")
    zone: ZoneInfo | None = None
    if zone_ref is not None:
        zone_name, zone_pos = record.get(zone_ref)
        try:
            zone = ZoneInfo(_text(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ParseError(f"unknown IANA time zone {_text(zone_name)!r}", zone_pos) from None
    elif location:
        # No zone in the mapping: the row's place tells it (a UN/LOCODE, "CITY, ST, CC"),
        # else the pipeline looks the place up among the tenant's places.
        zone = zone_for_location(location)
        if zone is None:
            return UnplacedEvent(location, moment, time_pos, record.where, build, reference)
    else:
        raise ParseError(
            "local time without offset, the mapping names no time_zone and the row no location",
            time_pos,
        )
    try:
        return build(localize(moment, zone))
    except LocalTimeError as error:
        raise ParseError(error.message, time_pos) from None


def feed_records(data: bytes, mapping: dict) -> Iterator[_Record | ParseError]:
    """The records of a feed body; ParseError when the whole body is unusable."""
    if mapping["format"] == "json":
        yield from _json_records(data, mapping)
        return
    text = decode_text(data, fallback_latin1=mapping.get("encoding") == "latin-1")
    if not text.strip():
        raise ParseError("empty body")
    yield from _csv_records(text, mapping)


def parse_with_mapping(
    data: bytes,
    mapping: dict,
    *,
    known: set[str],
    overrides: dict | None = None,
    integration_id: int | None = None,
    limit: int | None = None,
) -> ParseResult:
    """Parse a feed body with an already validated mapping (no database access)."""
    result = ParseResult(format=mapping["format"])
    seen = 0
    for item in feed_records(bytes(data), mapping):
        if isinstance(item, ParseError):
            result.errors.append(item)
            if item.reason.startswith("malformed CSV"):
                break
            continue
        if limit is not None and seen >= limit:
            break
        seen += 1
        try:
            event = _event(
                item,
                mapping,
                known=known,
                overrides=overrides or {},
                integration_id=integration_id,
            )
        except ParseError as error:
            result.errors.append(error.with_context(item.where))
            continue
        if isinstance(event, UnplacedEvent):
            result.unplaced.append(event)
        else:
            result.events.append(event)
    return result


def parse_feed_body(data: bytes, context: ParseContext) -> ParseResult:
    """Registry entry point: a stored body parsed with its integration's saved mapping."""
    if not context.mapping:
        raise ParseError(
            "no feed mapping: set one with PUT /api/v1/ingest/integrations/<id>/feed-mapping/"
        )
    try:
        mapping = mapping_validate(context.mapping, milestones=context.known_milestones)
    except MappingError as error:
        raise ParseError(f"feed mapping is invalid: {error.reason}", error.field) from None
    return parse_with_mapping(
        bytes(data),
        mapping,
        known=set(context.known_milestones),
        overrides=dict(context.overrides),
        integration_id=context.integration_id,
    )


def feed_preview(data: bytes, mapping: dict, *, known: set[str], limit: int = PREVIEW_ROWS) -> dict:
    """The first ``limit`` records as events and errors; nothing is stored."""
    checked = mapping_validate(mapping, milestones=known)
    try:
        result = parse_with_mapping(data, checked, known=known, limit=limit)
    except ParseError as error:
        return {"mapping": checked, "events": [], "errors": [_error_out(error)]}
    return {
        "mapping": checked,
        "events": [
            event.to_contract() | {"position": event.extra.get("row", "")}
            for event in result.events
        ],
        # Rows whose zone only a tenant place could tell: the preview reads no places.
        "errors": [_error_out(error) for error in result.errors]
        + [{"position": u.position, "reason": u.reason} for u in result.unplaced],
    }


def _error_out(error: ParseError) -> dict:
    return {"position": error.position or "", "reason": error.reason}


def mapping_from_request(value: Any) -> Any:
    """A mapping sent as a JSON object or as a JSON string (multipart form field)."""
    if isinstance(value, str):
        try:
            return load_request_json(value.encode("utf-8", "surrogatepass"))
        except DomainError as error:
            raise MappingError(f"mapping is not valid JSON: {error.message}") from None
    return value


CSV_FORMAT = Format(
    name="csv",
    label="CSV feed (per-integration mapping)",
    parse=parse_feed_body,
    standalone=False,
    needs_milestone_codes=True,
)
JSON_FORMAT = Format(
    name="json",
    label="JSON feed (per-integration mapping)",
    parse=parse_feed_body,
    standalone=False,
    needs_milestone_codes=True,
)

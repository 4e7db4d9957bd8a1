"""Set-based writes: COPY rows into a session temp table, then one INSERT/UPDATE … SELECT.

Why: a multi-row ``VALUES`` statement costs the client a mogrify per row and the server a
parse of every literal; COPY's text format streams the rows with neither. For a batch of
1,440 tracking events this measured 2-3x faster than ``execute_values`` here.

A stage mirrors columns of a real table (same types, no constraints, no row-level security:
it only ever holds this session's rows) and is emptied at every commit.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import orjson

_NULL = r"\N"


# COPY text format: backslash, tab, newline and carriage return must be escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


def _json(value) -> str:
    # default=str: callers may pass values of the parsers (dates, decimals) straight through.
    return _escape(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode())


_ENCODERS = {
    str: _escape,
    int: str,
    float: repr,
    Decimal: str,
    bool: lambda value: "t" if value else "f",
    datetime: datetime.isoformat,
    date: date.isoformat,
    dict: _json,
    list: _json,
}


def copy_field(value) -> str:
    """One value in COPY text format; dicts and lists become JSON (for json/jsonb columns)."""
    if value is None:
        return _NULL
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value)
    # Subclasses: Django's TextChoices/IntegerChoices members are str/int enums.
    if isinstance(value, str):
        return _escape(str.__str__(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__(value)
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def copy_text(rows: Iterable[Sequence]) -> str:
    return "".join("\t".join(map(copy_field, row)) + "\n" for row in rows)


@dataclass(frozen=True)
class Stage:
    """A temp table shaped like ``columns`` of ``source``; see the module docstring."""

    name: str
    source: str
    columns: tuple[str, ...]

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)

    def load(self, cursor, rows: Iterable[Sequence]) -> None:
        """Replace the stage's rows with ``rows`` (a raw psycopg2 cursor)."""
        # Names are constants of this module's callers, never user input.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {self.column_list} FROM {self.source} WITH NO DATA; "
            f"DELETE FROM {self.name}"
        )
        cursor.copy_expert(
            f"COPY {self.name} ({self.column_list}) FROM STDIN", io.StringIO(copy_text(rows))
        )

    def update_statement(self, key: str = "id") -> str:
        """UPDATE the source table from the stage: rows matched on ``key``, every other
        staged column copied."""
        assignments = ", ".join(f"{c} = v.{c}" for c in self.columns if c != key)
        return (
            f"UPDATE {self.source} AS t SET {assignments} "  # noqa: S608 — constant names
            f"FROM {self.name} AS v WHERE t.{key} = v.{key}"
        )

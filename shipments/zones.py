"""Where a local time is: IANA zones of places, and strict local-time handling.

Pure (no Django, no database): the parsers use it, and so does the timeline display. The
zones come from the data packages through ``shipments.places.data`` (UN/LOCODEs, GeoNames
cities, tzdata's country zones) and ``tzfpy`` (coordinates); no location table is kept by
hand here. What stays are the X12 time codes (element 623), which are part of the standard.
A place whose zone the data cannot tell gives ``None``: callers never guess.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tenancy.errors import DomainError


class LocalTimeError(DomainError):
    """A local time that cannot be placed: unknown zone code, DST gap or fold."""

    code = "invalid_local_time"


FIXED_X12_OFFSETS: dict[str, float] = {
    "UT": 0, "GM": 0,
    "ES": -5, "CS": -6, "MS": -7, "PS": -8, "ED": -4, "CD": -5, "MD": -6, "PD": -7,
    "AS": -9, "AD": -8, "HS": -10, "HD": -9, "TS": -4, "TD": -3, "NS": -3.5, "ND": -2.5,
}  # fmt: skip
ZONED_X12_CODES: dict[str, str] = {
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
    "AT": "America/Anchorage",
    "HT": "Pacific/Honolulu",
    "TT": "America/Halifax",
    "NT": "America/St_Johns",
}
LOCODE_PATTERN = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
# Without a country, a state/province code is looked up in these countries (X12 MS1 from
# North American carriers often leaves MS103 empty).
IMPLIED_COUNTRIES = ("US", "CA")


# Zones are immutable, and every event of a message looks up the same few: the lookups below
# are cached (bounded: zone names, or a small LRU for raw input).
@functools.cache
def zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def fixed_offset(hours: float) -> timezone:
    return timezone(timedelta(minutes=round(hours * 60)))


@functools.lru_cache(maxsize=256)
def x12_time_code_zone(code: str) -> ZoneInfo | timezone | None:
    """Zone for an AT7-07 time code; None for LT/absent; LocalTimeError for unknown codes."""
    code = code.strip().upper()
    if code in ("", "LT"):
        return None
    if code in FIXED_X12_OFFSETS:
        return fixed_offset(FIXED_X12_OFFSETS[code])
    if code in ZONED_X12_CODES:
        return zone_named(ZONED_X12_CODES[code])
    if code.isdigit() and len(code) == 2 and 1 <= int(code) <= 24:
        number = int(code)
        return fixed_offset(number if number <= 12 else number - 25)
    raise LocalTimeError(f"unknown time code {code!r} (element 623)")


@functools.cache
def _index() -> dict[str, dict[str, str]]:
    # Read on first use (a few ms from the cache file), never at import time.
    from shipments.places.data import zone_index

    return zone_index()


def country_zone(country: str) -> str | None:
    """The zone of a country that keeps one clock everywhere, else None."""
    return _index()["countries"].get(country.strip().upper()[:2])


@functools.lru_cache(maxsize=4096)
def zone_name_for_locode(locode: str) -> str | None:
    code = locode.strip().upper().replace(" ", "")
    if not LOCODE_PATTERN.match(code):
        return None
    index = _index()
    return index["countries"].get(code[:2]) or index["locodes"].get(code)


def zone_for_locode(locode: str | None) -> ZoneInfo | None:
    """The zone of a UN/LOCODE, or None when the data cannot place it."""
    if not locode:
        return None
    name = zone_name_for_locode(locode)
    return zone_named(name) if name else None


@functools.lru_cache(maxsize=4096)
def zone_name_for_place(city: str, state: str, country: str) -> str | None:
    from shipments.places.data import normalize_name

    state, country = state.strip().upper(), country.strip().upper()[:2]
    index = _index()
    for candidate in (country,) if country else IMPLIED_COUNTRIES:
        if candidate in index["countries"]:
            return index["countries"][candidate]
        if state and (zone := index["subdivisions"].get(f"{candidate}:{state}")):
            return zone
        name = normalize_name(city) if city else ""
        if not name:
            continue
        if state and f"{candidate}:{state}" in index["split_subdivisions"]:
            # A subdivision of several clocks: only the city there decides.
            if zone := index["names"].get(f"{candidate}:{state}:{name}"):
                return zone
            continue
        # No subdivision, or one the data does not know (a newer code): the city's name in
        # the country, where all places of that name keep one clock.
        if zone := index["names"].get(f"{candidate}::{name}"):
            return zone
    return None


def zone_for_place(
    city: str | None, state: str | None, country: str | None, postal_code: str | None = None
) -> ZoneInfo | None:
    """IANA zone for a city / state (ISO 3166-2 subdivision) / country, or None when the data
    cannot tell (a city that several clocks share, a subdivision that spans zones and a city
    it does not know). ``postal_code`` is accepted for callers' convenience and not used: no
    packaged data maps postal codes to zones."""
    name = zone_name_for_place(city or "", state or "", country or "")
    return zone_named(name) if name else None


def zone_for_location(location: str | None) -> ZoneInfo | None:
    """The zone of a location as sent: a UN/LOCODE, or "CITY, ST, CC" / "CITY, CC"."""
    if not location:
        return None
    zone = zone_for_locode(location)
    if zone is not None:
        return zone
    parts = [part.strip() for part in location.split(",")]
    if len(parts) == 3:
        return zone_for_place(parts[0], parts[1], parts[2])
    if len(parts) == 2:
        return zone_for_place(parts[0], "", parts[1]) or zone_for_place(parts[0], parts[1], "")
    return None


@functools.lru_cache(maxsize=4096)
def zone_name_for_coordinates(latitude: float, longitude: float) -> str | None:
    import tzfpy

    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return None
    name = tzfpy.get_tz(longitude, latitude)
    # Over the open sea tzfpy answers Etc/GMT±N (nautical zones): not a place's clock.
    return name if name and not name.startswith("Etc/") else None


def zone_for_coordinates(latitude: float | None, longitude: float | None) -> ZoneInfo | None:
    if latitude is None or longitude is None:
        return None
    name = zone_name_for_coordinates(float(latitude), float(longitude))
    return zone_named(name) if name else None


def localize(naive: datetime, zone: ZoneInfo | timezone) -> datetime:
    """Attach a zone, refusing local times that fall into a DST gap or fold."""
    if isinstance(zone, timezone):
        return naive.replace(tzinfo=zone)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        kind = "non-existent" if round_trip != naive else "ambiguous"
        raise LocalTimeError(
            f"{kind} local time {naive.isoformat()} in {zone.key} (DST transition); "
            "ambiguous/non-existent local time is rejected"
        )
    return first


def resolve_local(naive: datetime, zone: ZoneInfo | timezone | None) -> datetime | None:
    """The aware time of a local time in a zone; None when no zone is known (the caller
    must then say which place's zone is unknown, never guess one)."""
    if zone is None:
        return None
    return localize(naive, zone)

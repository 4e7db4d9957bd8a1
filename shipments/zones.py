"""Compact location → IANA zone tables and strict local-time handling (digest section 6).

Pure (no Django): the parsers use it, and so does the timeline display.
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


US_STATE_ZONES: dict[str, str] = {
    **dict.fromkeys(
        [
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "IN",
            "KY",
            "ME",
            "MD",
            "MA",
            "MI",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ],
        "America/New_York",
    ),
    **dict.fromkeys(
        [
            "AL",
            "AR",
            "IL",
            "IA",
            "KS",
            "LA",
            "MN",
            "MS",
            "MO",
            "NE",
            "ND",
            "OK",
            "SD",
            "TN",
            "TX",
            "WI",
        ],
        "America/Chicago",
    ),
    **dict.fromkeys(["CO", "MT", "NM", "UT", "WY", "ID"], "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(["CA", "NV", "OR", "WA"], "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
}

CA_PROVINCE_ZONES: dict[str, str] = {
    "ON": "America/Toronto",
    "QC": "America/Toronto",
    "BC": "America/Vancouver",
    "AB": "America/Edmonton",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    "NS": "America/Halifax",
    "PE": "America/Halifax",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
}

# Cities in multi-zone states whose zone differs from the state default (cheap cases only).
CITY_ZONE_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("TX", "EL PASO"): "America/Denver",
    ("FL", "PENSACOLA"): "America/Chicago",
    ("FL", "PANAMA CITY"): "America/Chicago",
    ("IN", "GARY"): "America/Chicago",
    ("IN", "HAMMOND"): "America/Chicago",
    ("IN", "EVANSVILLE"): "America/Chicago",
    ("IN", "INDIANAPOLIS"): "America/Indiana/Indianapolis",
    ("TN", "KNOXVILLE"): "America/New_York",
    ("TN", "CHATTANOOGA"): "America/New_York",
    ("KY", "BOWLING GREEN"): "America/Chicago",
    ("KY", "PADUCAH"): "America/Chicago",
    ("MI", "IRON MOUNTAIN"): "America/Menominee",
    ("MI", "MENOMINEE"): "America/Menominee",
    ("OR", "ONTARIO"): "America/Boise",
    ("ID", "BOISE"): "America/Boise",
    ("ID", "COEUR D'ALENE"): "America/Los_Angeles",
    ("ID", "LEWISTON"): "America/Los_Angeles",
    ("ND", "DICKINSON"): "America/Denver",
    ("SD", "RAPID CITY"): "America/Denver",
    ("NE", "SCOTTSBLUFF"): "America/Denver",
    ("KS", "GOODLAND"): "America/Denver",
}

# Countries that use a single zone (or where one zone is overwhelmingly used by freight).
COUNTRY_ZONES: dict[str, str] = {
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels", "GB": "Europe/London", "IE": "Europe/Dublin",
    "IT": "Europe/Rome", "ES": "Europe/Madrid", "PT": "Europe/Lisbon",
    "CH": "Europe/Zurich", "AT": "Europe/Vienna", "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm", "NO": "Europe/Oslo", "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw", "CZ": "Europe/Prague", "SK": "Europe/Bratislava",
    "HU": "Europe/Budapest", "RO": "Europe/Bucharest", "BG": "Europe/Sofia",
    "GR": "Europe/Athens", "TR": "Europe/Istanbul", "SI": "Europe/Ljubljana",
    "HR": "Europe/Zagreb", "LT": "Europe/Vilnius", "LV": "Europe/Riga",
    "EE": "Europe/Tallinn", "LU": "Europe/Luxembourg", "MT": "Europe/Malta",
    "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "TW": "Asia/Taipei",
    "JP": "Asia/Tokyo", "KR": "Asia/Seoul", "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur", "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila", "IN": "Asia/Kolkata", "LK": "Asia/Colombo",
    "BD": "Asia/Dhaka", "PK": "Asia/Karachi", "AE": "Asia/Dubai",
    "SA": "Asia/Riyadh", "QA": "Asia/Qatar", "OM": "Asia/Muscat",
    "IL": "Asia/Jerusalem", "EG": "Africa/Cairo", "MA": "Africa/Casablanca",
    "ZA": "Africa/Johannesburg", "NG": "Africa/Lagos", "KE": "Africa/Nairobi",
    "NZ": "Pacific/Auckland", "PA": "America/Panama", "CO": "America/Bogota",
    "PE": "America/Lima", "CL": "America/Santiago", "AR": "America/Argentina/Buenos_Aires",
    "UY": "America/Montevideo", "PR": "America/Puerto_Rico",
}  # fmt: skip

# Major ports/cities in multi-zone countries, by UN/LOCODE.
LOCODE_ZONES: dict[str, str] = {
    "USNYC": "America/New_York", "USEWR": "America/New_York", "USBAL": "America/New_York",
    "USSAV": "America/New_York", "USCHS": "America/New_York", "USORF": "America/New_York",
    "USMIA": "America/New_York", "USATL": "America/New_York", "USBOS": "America/New_York",
    "USPHL": "America/New_York", "USJAX": "America/New_York", "USCHI": "America/Chicago",
    "USHOU": "America/Chicago", "USMSY": "America/Chicago", "USMEM": "America/Chicago",
    "USDAL": "America/Chicago", "USKCK": "America/Chicago", "USDEN": "America/Denver",
    "USSLC": "America/Denver", "USPHX": "America/Phoenix", "USLAX": "America/Los_Angeles",
    "USLGB": "America/Los_Angeles", "USOAK": "America/Los_Angeles",
    "USSEA": "America/Los_Angeles", "USTIW": "America/Los_Angeles",
    "USPDX": "America/Los_Angeles", "USANC": "America/Anchorage", "USHNL": "Pacific/Honolulu",
    "CAVAN": "America/Vancouver", "CAPRR": "America/Vancouver", "CATOR": "America/Toronto",
    "CAMTR": "America/Toronto", "CAHAL": "America/Halifax", "CACAL": "America/Edmonton",
    "CAWNP": "America/Winnipeg", "AUSYD": "Australia/Sydney", "AUMEL": "Australia/Melbourne",
    "AUBNE": "Australia/Brisbane", "AUFRE": "Australia/Perth", "AUPER": "Australia/Perth",
    "AUADL": "Australia/Adelaide", "BRSSZ": "America/Sao_Paulo", "BRSAO": "America/Sao_Paulo",
    "BRRIO": "America/Sao_Paulo", "BRPNG": "America/Sao_Paulo", "BRMAO": "America/Manaus",
    "MXZLO": "America/Mexico_City", "MXMEX": "America/Mexico_City",
    "MXVER": "America/Mexico_City", "MXLZC": "America/Mexico_City",
    "MXESE": "America/Tijuana", "RULED": "Europe/Moscow", "RUMOW": "Europe/Moscow",
    "RUNVS": "Europe/Moscow", "RUVVO": "Asia/Vladivostok", "IDJKT": "Asia/Jakarta",
    "IDTPP": "Asia/Jakarta", "IDSUB": "Asia/Jakarta", "CLSAI": "America/Santiago",
    "ESLPA": "Atlantic/Canary", "PTFNC": "Atlantic/Madeira",
}  # fmt: skip

# First three ZIP digits → state (inclusive ranges); a few entries pin a zone directly.
ZIP3_RANGES: tuple[tuple[int, int, str], ...] = (
    (5, 5, "NY"), (6, 9, "PR"), (10, 27, "MA"), (28, 29, "RI"), (30, 38, "NH"),
    (39, 49, "ME"), (50, 59, "VT"), (60, 69, "CT"), (70, 89, "NJ"), (100, 149, "NY"),
    (150, 196, "PA"), (197, 199, "DE"), (200, 205, "DC"), (206, 219, "MD"),
    (220, 246, "VA"), (247, 268, "WV"), (270, 289, "NC"), (290, 299, "SC"),
    (300, 319, "GA"), (320, 349, "FL"), (350, 369, "AL"), (370, 385, "TN"),
    (386, 397, "MS"), (398, 399, "GA"), (400, 427, "KY"), (430, 459, "OH"),
    (460, 479, "IN"), (480, 499, "MI"), (500, 528, "IA"), (530, 549, "WI"),
    (550, 567, "MN"), (570, 577, "SD"), (580, 588, "ND"), (590, 599, "MT"),
    (600, 629, "IL"), (630, 658, "MO"), (660, 679, "KS"), (680, 693, "NE"),
    (700, 714, "LA"), (716, 729, "AR"), (730, 749, "OK"), (750, 799, "TX"),
    (800, 816, "CO"), (820, 831, "WY"), (832, 838, "ID"), (840, 847, "UT"),
    (850, 865, "AZ"), (870, 884, "NM"), (885, 885, "TX"), (889, 898, "NV"),
    (900, 961, "CA"), (967, 968, "HI"), (970, 979, "OR"), (980, 994, "WA"),
    (995, 999, "AK"),
)  # fmt: skip
ZIP3_ZONE_EXCEPTIONS: dict[int, str] = {
    324: "America/Chicago",  # Florida panhandle
    325: "America/Chicago",
    463: "America/Chicago",  # north-west Indiana
    464: "America/Chicago",
    476: "America/Chicago",  # south-west Indiana
    477: "America/Chicago",
    885: "America/Denver",  # El Paso
}

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


# Zones are immutable, and every event of a message looks up the same few: the lookups below
# are cached (bounded: keys come from the tables above, or a small LRU for raw input).
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


def zone_for_us_zip(postal_code: str) -> str | None:
    digits = postal_code.strip()[:3]
    if len(digits) != 3 or not digits.isdigit():
        return None
    zip3 = int(digits)
    if zip3 in ZIP3_ZONE_EXCEPTIONS:
        return ZIP3_ZONE_EXCEPTIONS[zip3]
    for low, high, state in ZIP3_RANGES:
        if low <= zip3 <= high:
            return US_STATE_ZONES.get(state)
    return None


def zone_for_place(
    city: str | None, state: str | None, country: str | None, postal_code: str | None = None
) -> ZoneInfo | None:
    """IANA zone for a city/state/country/postal code, or None when it cannot be known."""
    city_key = (city or "").strip().upper()
    state_key = (state or "").strip().upper()
    country_key = (country or "").strip().upper()[:2]
    name: str | None = None
    if country_key in ("", "US", "CA") and state_key:
        name = CITY_ZONE_EXCEPTIONS.get((state_key, city_key))
        if name is None and country_key in ("", "US"):
            name = US_STATE_ZONES.get(state_key)
        if name is None and country_key in ("", "CA"):
            name = CA_PROVINCE_ZONES.get(state_key)
    if name is None and country_key in ("", "US") and postal_code:
        name = zone_for_us_zip(postal_code)
    if name is None and country_key:
        name = COUNTRY_ZONES.get(country_key)
    return zone_named(name) if name else None


def zone_for_locode(locode: str | None) -> ZoneInfo | None:
    if not locode:
        return None
    code = locode.strip().upper().replace(" ", "")
    name = LOCODE_ZONES.get(code) or COUNTRY_ZONES.get(code[:2])
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


def resolve_local(naive: datetime, zone: ZoneInfo | timezone | None) -> tuple[datetime, bool]:
    """(occurred_at, tz_unknown): naive + True when no zone is known."""
    if zone is None:
        return naive, True
    return localize(naive, zone), False

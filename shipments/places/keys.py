"""How a location as sent is looked up (pure): the keys of a location and of a place.

A location and a place match when they share a key. Keys, most specific first:

- the code as sent, upper-cased without spaces: a UN/LOCODE ("NLRTM"), a private code;
- GS1 identifiers in one form whatever the spelling: an SGLN URN
  (``urn:epc:id:sgln:0614141.07346.1234``) and a GS1 Digital Link
  (``https://id.gs1.org/414/0614141073467/254/1234``) both give ``SGLN:0614141073467.1234``
  and ``GLN:0614141073467``;
- name keys of "CITY, ST, CC" / "CITY, CC" (X12 MS1): ``CC:ST:NAME``, or ``CC::NAME`` where no
  subdivision is given (with one given, a same-named city elsewhere in the country must not
  match).
"""

from __future__ import annotations

import re

from shipments.places.data import LOCODE_PATTERN, name_variants, normalize_name

IMPLIED_COUNTRIES = ("US", "CA")  # as shipments.zones: the countries of a bare state code

SGLN_URN = re.compile(r"^urn:epc:id:sgln:(\d+)\.(\d*)\.(.*)$", re.IGNORECASE)
DIGITAL_LINK_GLN = re.compile(r"^https?://[^/]+(?:/.*)?/414/(\d{13})(?:/254/([^/?#]+))?", re.I)
PLAIN_GLN = re.compile(r"^\d{13}$")
COUNTRY = re.compile(r"^[A-Za-z]{2}$")
SUBDIVISION = re.compile(r"^[A-Za-z0-9]{1,3}$")


def gs1_check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def gs1_keys(text: str) -> list[str]:
    """GLN/SGLN keys of a GS1 location identifier (URN, Digital Link or 13 digits)."""
    urn = SGLN_URN.match(text)
    if urn:
        prefix, reference, extension = urn.groups()
        body = prefix + reference
        if len(body) != 12:
            return []
        gln = body + gs1_check_digit(body)
    else:
        link = DIGITAL_LINK_GLN.match(text)
        if link:
            gln, extension = link.group(1), link.group(2) or "0"
        elif PLAIN_GLN.match(text):
            gln, extension = text, "0"
        else:
            return []
    keys = [f"GLN:{gln}"]
    if extension not in ("", "0"):
        keys.insert(0, f"SGLN:{gln}.{extension.upper()}")
    return keys


def code_key(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def location_keys(location: str) -> list[str]:
    """Every key of a location as sent, most specific first."""
    text = location.strip()
    if not text:
        return []
    keys = [code_key(text)]
    keys += gs1_keys(text)
    parts = [part.strip() for part in text.split(",")]
    if len(parts) in (2, 3) and COUNTRY.match(parts[-1]) and parts[0]:
        country = parts[-1].upper()
        state = parts[1].upper() if len(parts) == 3 else ""
        name = normalize_name(parts[0])
        if not state or SUBDIVISION.match(state):
            keys.append(f"{country}:{state}:{name}")
        if len(parts) == 2:
            # "CITY, ST" without a country (X12 MS1 from North American carriers): the code
            # may be a state or province as well as a country.
            keys += [f"{implied}:{country}:{name}" for implied in IMPLIED_COUNTRIES]
    return list(dict.fromkeys(k for k in keys if k))


def place_keys(code: str, name: str, country: str, subdivision: str) -> list[str]:
    """The keys a registry place is found by: its code, then its name in its country."""
    keys = [code_key(code)] if LOCODE_PATTERN.match(code_key(code)) else []
    for variant in name_variants(name):
        if subdivision:
            keys.append(f"{country}:{subdivision}:{variant}")
        keys.append(f"{country}::{variant}")
    return list(dict.fromkeys(keys))


def tenant_place_keys(codes: list[str]) -> list[str]:
    """The keys of a tenant place: those of every code it is known by."""
    keys: list[str] = []
    for code in codes:
        keys += location_keys(code)
    return list(dict.fromkeys(keys))

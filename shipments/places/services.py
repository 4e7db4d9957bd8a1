"""Writes of places: a tenant's own places (warehouses, GLNs/SGLNs, addresses, codes)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shipments.places.keys import tenant_place_keys
from shipments.places.models import Place, PlaceKind, TenantPlace
from shipments.zones import zone_name_for_coordinates
from tenancy.errors import DomainError


class PlaceError(DomainError):
    """A tenant place is not valid (the field at fault is named)."""

    code = "invalid_place"


def _zone(
    timezone: str, latitude: float | None, longitude: float | None, place: Place | None
) -> str:
    """The zone given, else from the coordinates, else the registry place's ("" if none)."""
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PlaceError(f"unknown IANA time zone {timezone!r}", field="timezone") from None
        return timezone
    if latitude is not None and longitude is not None:
        return zone_name_for_coordinates(latitude, longitude) or ""
    return place.timezone if place is not None else ""


def tenant_place_create(
    *,
    name: str,
    codes: list[str],
    kind: str = PlaceKind.FACILITY,
    address: str = "",
    country: str = "",
    subdivision: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    timezone: str = "",
    place_code: str = "",
) -> TenantPlace:
    """Register a place of the current tenant under the codes its partners send for it.

    Its events then show its name, and a local time sent there without an offset is placed
    in its zone (given, else from its coordinates, else its registry place's); replaying a
    dead letter "time zone of <code> unknown" after this applies the event."""
    name = name.strip()
    if not name:
        raise PlaceError("a place needs a name", field="name")
    if kind not in PlaceKind.values:
        raise PlaceError(f"unknown kind {kind!r}", field="kind")
    if (latitude is None) != (longitude is None):
        raise PlaceError("give both latitude and longitude, or neither", field="latitude")
    if latitude is not None and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
        raise PlaceError("coordinates out of range", field="latitude")
    codes = [c.strip() for c in codes if c and c.strip()]
    keys = tenant_place_keys(codes)
    if not keys:
        raise PlaceError("a place needs at least one code it is known by", field="codes")
    taken = TenantPlace.objects.filter(keys__overlap=keys).values_list("name", flat=True).first()
    if taken is not None:
        raise PlaceError(f"one of these codes already names {taken!r}", field="codes")
    place = None
    if place_code:
        place = Place.objects.filter(code=place_code.strip().upper()).first()
        if place is None:
            raise PlaceError(f"no registry place {place_code!r}", field="place_code")
    return TenantPlace.objects.create(
        kind=kind,
        name=name[:200],
        codes=codes,
        keys=keys,
        address=address.strip()[:300],
        country=country.strip().upper()[:2],
        subdivision=subdivision.strip().upper()[:3],
        latitude=latitude,
        longitude=longitude,
        timezone=_zone(timezone.strip(), latitude, longitude, place),
        place=place,
    )

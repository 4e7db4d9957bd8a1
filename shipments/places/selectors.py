"""Reads of places: the batch resolver (location as sent -> place -> zone) and the search.

The resolver answers a whole batch of locations in one query (the tenant's places and the
registry together): the ingestion pipeline calls it once per batch of messages, never per
event. A tenant place wins over a registry place; a key several places share resolves none
(it is reported, never guessed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from shipments.places.data import normalize_name
from shipments.places.keys import code_key, location_keys
from shipments.places.models import Place, TenantPlace
from tenancy.context import current_tenant_id

GLOBAL = "g"
TENANT = "t"


@dataclass(frozen=True)
class PlaceMatch:
    source: str  # GLOBAL or TENANT
    id: int
    name: str
    timezone: str  # "" when the data cannot place it

    @property
    def place_id(self) -> int | None:
        return self.id if self.source == GLOBAL else None

    @property
    def tenant_place_id(self) -> int | None:
        return self.id if self.source == TENANT else None


@dataclass(frozen=True)
class Resolution:
    match: PlaceMatch | None
    reason: str = ""  # why there is no match

    @property
    def timezone(self) -> str:
        return self.match.timezone if self.match else ""


# One statement for both tables (a constant: built once, no ORM per batch). The tenant's rows
# are filtered here by the context's tenant and again by PostgreSQL's row-level security.
CANDIDATES = f"""
SELECT '{TENANT}', t.id, t.name, COALESCE(NULLIF(t.timezone, ''), p.timezone, ''), t.keys
  FROM places_tenantplace t LEFT JOIN places_place p ON p.id = t.place_id
 WHERE t.tenant_id = %s AND t.keys && %s::varchar[]
UNION ALL
SELECT '{GLOBAL}', g.id, g.name, g.timezone, g.keys
  FROM places_place g
 WHERE g.keys && %s::varchar[]
"""  # noqa: S608 — constants only; values are parameters


def _candidates(keys: list[str]) -> list[tuple[str, int, str, str, list[str]]]:
    """Every tenant place and registry place having any of ``keys``: one query."""
    with connection.cursor() as cursor:
        cursor.execute(CANDIDATES, [current_tenant_id(), keys, keys])
        return list(cursor.fetchall())


def places_resolve(locations: Iterable[str]) -> dict[str, Resolution]:
    """Each distinct location as sent -> its place (or why none), in one query."""
    keys_of = {location: location_keys(location) for location in set(locations) if location}
    wanted = sorted({key for keys in keys_of.values() for key in keys})
    by_key: dict[tuple[str, str], list[PlaceMatch]] = defaultdict(list)
    if wanted:
        wanted_set = set(wanted)
        for source, pk, name, zone, keys in _candidates(wanted):
            match = PlaceMatch(source, pk, name, zone or "")
            for key in set(keys) & wanted_set:
                by_key[(source, key)].append(match)
    return {location: _resolve(location, keys, by_key) for location, keys in keys_of.items()}


def _resolve(
    location: str, keys: list[str], by_key: dict[tuple[str, str], list[PlaceMatch]]
) -> Resolution:
    for source in (TENANT, GLOBAL):
        for key in keys:
            found = by_key.get((source, key))
            if not found:
                continue
            if len(found) == 1:
                return Resolution(found[0])
            names = ", ".join(sorted({m.name for m in found})[:3])
            return Resolution(None, f"{len(found)} places match {location!r} ({names}, ...)")
    return Resolution(None, f"no place is known as {location!r}")


@dataclass(frozen=True)
class SearchHit:
    source: str
    id: int
    code: str
    name: str
    detail: str  # subdivision and country, for the list
    timezone: str
    latitude: float | None
    longitude: float | None


def places_search(*, query: str, limit: int = 10) -> list[SearchHit]:
    """Places whose name starts with (then contains) ``query``, or whose code it is: the
    tenant's first, then the registry (UN/LOCODEs before cities, larger places first).
    Served by the trigram and prefix indexes on ``search_name``: a few ms over the registry."""
    text = normalize_name(query)
    if not text:
        return []
    code = code_key(query)
    hits = [
        SearchHit(
            TENANT,
            p.pk,
            (p.codes or [""])[0],
            p.name,
            p.address,
            p.timezone,
            p.latitude,
            p.longitude,
        )
        for p in TenantPlace.objects.filter(
            Q(name__icontains=query.strip()) | Q(keys__contains=[code])
        ).order_by("name")[:limit]
    ]
    # Prefix matches first; infix ones only for 3+ characters (what trigrams can serve).
    condition = Q(search_name__startswith=text) | Q(code=code)
    if len(text) >= 3:
        condition |= Q(search_name__contains=text)
    registry = (
        Place.objects.filter(condition)
        .annotate(
            exact=Q(code=code),
            prefix=Q(search_name__startswith=text),
            unlocode=Q(kind="unlocode"),
        )
        .order_by("-exact", "-prefix", "-unlocode", "-population", "code")
    )
    for p in registry[: max(0, limit - len(hits))]:
        parts = (p.subdivision_name, p.country_name or p.country)
        detail = ", ".join(part for part in parts if part)
        hits.append(
            SearchHit(GLOBAL, p.pk, p.code, p.name, detail, p.timezone, p.latitude, p.longitude)
        )
    return hits


def tenant_place_list() -> list[TenantPlace]:
    return list(TenantPlace.objects.select_related("place"))


def tenant_place_get(*, place_id: int) -> TenantPlace:
    """Raises TenantPlace.DoesNotExist for missing and for another tenant's alike."""
    return TenantPlace.objects.select_related("place").get(pk=place_id)


def place_names(
    *, place_ids: Iterable[int], tenant_place_ids: Iterable[int]
) -> tuple[dict[int, Place], dict[int, TenantPlace]]:
    """Places by id, for display (two primary-key lookups)."""
    places = Place.objects.in_bulk(list(set(place_ids)))
    tenant = TenantPlace.objects.select_related("place").in_bulk(list(set(tenant_place_ids)))
    return places, tenant

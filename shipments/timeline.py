"""Bridge between stored events and the pure engine: build inputs, compute, cache results.

Reading a timeline is a constant number of queries whatever the table size: the shipment,
its events (one index range on (tenant, shipment)), the template definitions, the parent
links with their cached parent timelines, and the tenant policy. A history view (``as_of``)
of a child computes its parents as of the same time instead (a constant number of queries
per link level): their current cached times were not known then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from milestones import engine
from milestones.models import MilestoneDefinition
from milestones.selectors import source_priority
from shipments.models import Shipment, ShipmentLink, TrackingEvent

EVENT_FIELDS = (
    "id",
    "shipment_id",
    "milestone",
    "occurred_at",
    "classifier",
    "source_kind",
    "source_name",
    "recorded_at",
    "dedupe_key",
    "supersedes_id",
    "voids",
    "location",
    "reason",
    "issued_at",
)


def to_engine_event(row: tuple) -> engine.EngineEvent:
    """An engine event from a row of EVENT_FIELDS (values_list order)."""
    id_, _, milestone, occurred_at, classifier, kind, name, recorded_at = row[:8]
    key, supersedes, voids, location, reason, issued_at = row[8:]
    # Every field, in declaration order (see engine.new_frozen): this runs for every event
    # of every shipment a batch touches.
    return engine.new_frozen(
        engine.EngineEvent,
        {
            "id": str(id_),
            "milestone": milestone,
            "occurred_at": occurred_at,
            "classifier": classifier,
            "source_kind": kind,
            "source_name": name,
            "recorded_at": recorded_at,
            "dedupe_key": key,
            "supersedes": str(supersedes) if supersedes else None,
            "voids": voids,
            "location": location or None,
            "reason": reason,
            "issued_at": issued_at,
        },
    )


def events_by_shipment(shipment_ids: Iterable[int]) -> dict[int, list[engine.EngineEvent]]:
    grouped: dict[int, list[engine.EngineEvent]] = defaultdict(list)
    events = TrackingEvent.objects.filter(shipment_id__any=list(shipment_ids))
    for row in events.values_list(*EVENT_FIELDS).iterator(chunk_size=5000):
        grouped[row[1]].append(to_engine_event(row))
    return grouped


def definitions_by_version(version_ids: Iterable[int]) -> dict[int, engine.ValidatedTemplate]:
    """Each version's definitions, checked once per call (not once per shipment)."""
    grouped: dict[int, list[engine.MilestoneDef]] = defaultdict(list)
    for definition in MilestoneDefinition.objects.filter(version_id__in=set(version_ids)):
        grouped[definition.version_id].append(definition.to_engine())
    return {version: engine.validated_template(defs) for version, defs in grouped.items()}


def _row(timeline: dict, code: str) -> dict | None:
    return next((r for r in timeline.get("rows", ()) if r["code"] == code), None)


def _time(value: str | datetime | None) -> datetime | None:
    # Cached summaries come back from jsonb as ISO strings; fresh ones hold datetimes.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def parent_delay(
    link: ShipmentLink, parent_reference: str, parent: engine.Timeline | None = None
) -> engine.UpstreamDelay | None:
    """The leg the child rides on: the parent's actual, else used estimate, of the linked
    milestone (see the engine docstring, Parent legs). From ``parent`` when given (a timeline
    computed as of some time), else from the parent's cached summary."""
    if parent is not None:
        row = parent.row(link.parent_milestone)
        if row is None:
            return None
        planned, estimated_at = row.planned, row.estimated_at
        actual_at = row.actual.at if row.actual else None
        recorded_at = row.actual.recorded_at if row.actual else None
    else:
        cached = _row(link.parent.timeline or {}, link.parent_milestone)
        if cached is None:
            return None
        actual = cached.get("actual") or {}
        planned, estimated_at = _time(cached.get("planned")), _time(cached.get("estimated_at"))
        actual_at = _time(actual.get("at"))
        recorded_at = _time(actual.get("recorded_at"))  # absent in summaries before issue 11
    return engine.upstream_delay(
        parent_reference=parent_reference,
        parent_milestone=link.parent_milestone,
        affects=link.child_milestone,
        planned=planned,
        actual_at=actual_at,
        estimated_at=estimated_at,
        actual_recorded_at=recorded_at,
        reason=f"{link.get_kind_display().lower()} {parent_reference}",
    )


# A history view computes parents as of its time this many link levels up (as far as
# shipments.services.timelines_refresh cascades, MAX_LINK_DEPTH); beyond, no parent legs.
AS_OF_PARENT_DEPTH = 4


def upstream_delays_by_child(
    child_ids: Iterable[int],
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    _depth: int = 0,
) -> dict[int, list[engine.UpstreamDelay]]:
    """The parent legs of each child: from the parents' cached timelines, or - for a history
    view (``as_of``) - from the parents computed as of the same time."""
    links = ShipmentLink.objects.filter(child_id__any=list(child_ids)).select_related("parent")
    links = list(links.prefetch_related("parent__references"))
    parents: dict[int, engine.Timeline] = {}
    if as_of is not None and links:
        unique = {link.parent_id: link.parent for link in links}
        parents = compute_for(list(unique.values()), as_of=as_of, now=now, _depth=_depth + 1)
    delays: dict[int, list[engine.UpstreamDelay]] = defaultdict(list)
    for link in links:
        parent = parents[link.parent_id] if as_of is not None else None
        delay = parent_delay(link, primary_reference(link.parent), parent)
        if delay is not None:
            delays[link.child_id].append(delay)
    return delays


def primary_reference(shipment: Shipment) -> str:
    references = sorted(shipment.references.all(), key=lambda r: r.pk)
    return references[0].value if references else f"#{shipment.pk}"


def compute_for(
    shipments: list[Shipment],
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    _depth: int = 0,
) -> dict[int, engine.Timeline]:
    """Compute the timelines of several shipments with a fixed number of queries.

    Only ``pk``, ``template_version_id`` and ``booked_at`` of each shipment are read (a model
    instance or any object with those attributes). With ``as_of``, parents are computed as of
    the same time (see upstream_delays_by_child)."""
    now = now or timezone.now()
    ids = [s.pk for s in shipments]
    events = events_by_shipment(ids)
    definitions = definitions_by_version(s.template_version_id for s in shipments)
    delays: dict[int, list[engine.UpstreamDelay]] = {}
    if _depth < AS_OF_PARENT_DEPTH:
        delays = upstream_delays_by_child(ids, as_of=as_of, now=now, _depth=_depth)
    priority = source_priority()
    return {
        s.pk: engine.compute_timeline(
            template=definitions[s.template_version_id],
            events=events.get(s.pk, ()),
            booked_at=s.booked_at,
            now=now,
            as_of=as_of,
            source_priority=priority,
            upstream_delays=delays.get(s.pk, ()),
        )
        for s in shipments
    }


def timeline_summary(timeline: engine.Timeline) -> dict:
    """The compact form cached on the shipment row: what lists, dashboards and dependent
    shipments need. The full timeline (every candidate estimate, the reasons, the labels)
    is computed on read by shipments.selectors.shipment_timeline, in 4 queries.

    Times stay aware datetimes: the JSON encoder of the cache write (orjson, in C) writes
    them exactly as ``isoformat()`` would, at a fraction of the cost per row."""
    return {
        "rows": [_summary_row(row) for row in timeline.rows],
        "status": timeline.status.value,
        "current_stage": timeline.current_stage,
        "completed": list(timeline.completed),
        "next_milestone": timeline.next_milestone,
        "eta": timeline.eta,
        "next_eta": timeline.next_eta,
        "progress_percent": timeline.progress_percent,
        "flags": list(timeline.flags),
        "late_milestones": list(timeline.late_milestones),
        "waiting_on": list(timeline.waiting_on),
        "evaluated_at": timeline.evaluated_at,
    }


def _summary_row(row: engine.MilestoneRow) -> dict:
    # Runs for every row of every shipment a batch touches: plain attribute reads and inline
    # None checks (no helper calls); "reached" is MilestoneRow.reached (actual is not None).
    actual = row.actual
    estimate = row.estimate
    return {
        "code": row.code,
        "sequence": row.sequence,
        "kind": row.kind,
        "planned": row.planned,
        "actual": None
        if actual is None
        else {
            "event_id": actual.event_id,
            "at": actual.at,
            "source_kind": actual.source_kind,
            "source_name": actual.source_name,
            "recorded_at": actual.recorded_at,
            "location": actual.location,  # absent in summaries before issue 14
        },
        "estimated_at": row.estimated_at,
        "estimate": None
        if estimate is None
        else {"source_kind": estimate.source_kind, "source_name": estimate.source_name},
        "late": row.late,
        "at_risk": row.at_risk,
        "out_of_sequence": row.out_of_sequence,
        "gap": row.gap,
        "reached": actual is not None,
        "waiting_on": list(row.waiting_on),
    }


TIME_FIELDS = ("planned", "estimated_at")


@dataclass(frozen=True)
class PlaceShown:
    """Where an event happened, for people: the place's name and its zone ("" unknown)."""

    name: str
    zone: str


def timeline_localized(
    data: dict, *, tenant_zone: str, places: Mapping[str, PlaceShown] | None = None
) -> dict:
    """A copy of a timeline dict for people: times are stored and computed in UTC, and shown
    in the zone of the place where the milestone happened (its resolved place, given by event
    id in ``places``, else its UN/LOCODE), else the tenant's.

    Every row gains ``zone`` and ``local`` (the same keys as the UTC times, as local ISO),
    and ``place`` (the place's name) where its actual event's place is known.
    """
    from shipments.zones import zone_for_locode, zone_named

    fallback = ZoneInfo(tenant_zone)
    places = places or {}
    rows = []
    for row in data.get("rows", []):
        actual = row.get("actual") or {}
        shown = places.get(str(actual.get("event_id")))
        zone = (
            (zone_named(shown.zone) if shown is not None and shown.zone else None)
            or zone_for_locode(actual.get("location"))
            or fallback
        )
        local = {name: _in_zone(row.get(name), zone) for name in TIME_FIELDS}
        local["actual"] = _in_zone(actual.get("at"), zone)
        extra = {"place": shown.name} if shown is not None else {}
        rows.append(row | {"zone": zone.key, "local": local} | extra)
    return data | {"rows": rows, "eta_local": _in_zone(data.get("eta"), fallback)}


def _in_zone(value: str | None, zone: ZoneInfo) -> str | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(zone).isoformat()

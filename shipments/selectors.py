"""Reads for shipments, always in the current tenant context."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from milestones import engine
from shipments.models import Shipment, ShipmentReference, TrackingEvent
from shipments.timeline import PlaceShown, compute_for, timeline_localized


def shipment_list(*, customer_account_ids: Iterable[int] | None = None) -> QuerySet[Shipment]:
    shipments = Shipment.objects.all()
    if customer_account_ids is not None:
        shipments = shipments.filter(customer_account_id__in=list(customer_account_ids))
    return shipments


def shipment_get(*, shipment_id: int) -> Shipment:
    """Raises Shipment.DoesNotExist for missing and for another tenant's alike."""
    return Shipment.objects.get(pk=shipment_id)


def shipment_by_reference(*, value: str, kind: str | None = None) -> Shipment | None:
    references = ShipmentReference.objects.filter(value=value.strip())
    if kind:
        references = references.filter(kind=kind)
    reference = references.select_related("shipment").first()
    return reference.shipment if reference else None


def shipment_ids_by_reference_values(values: Iterable[str]) -> dict[str, set[int]]:
    """Every shipment each reference value identifies (any kind), in one query."""
    found: dict[str, set[int]] = {}
    rows = ShipmentReference.objects.filter(value__any=set(values)).values_list(
        "value", "shipment_id"
    )
    for value, shipment_id in rows:
        found.setdefault(value, set()).add(shipment_id)
    return found


def shipment_accounts(shipment_ids: Iterable[int]) -> dict[int, int | None]:
    """shipment id -> its customer account id, in one query."""
    rows = Shipment.objects.filter(pk__any=list(shipment_ids)).values_list(
        "pk", "customer_account_id"
    )
    return dict(rows)


def shipment_timeline(*, shipment: Shipment, as_of: datetime | None = None) -> engine.Timeline:
    """The timeline computed from the events now (or as known at ``as_of``)."""
    return compute_for([shipment], as_of=as_of)[shipment.pk]


def shipment_events(*, shipment: Shipment) -> QuerySet[TrackingEvent]:
    return TrackingEvent.objects.filter(shipment=shipment).order_by("occurred_at", "id")


def shipment_timeline_display(
    *, shipment: Shipment, tenant_zone: str, as_of: datetime | None = None
) -> dict:
    """The full timeline as JSON, with local times beside the UTC ones (see
    shipments.timeline.timeline_localized)."""
    data = engine.timeline_to_dict(shipment_timeline(shipment=shipment, as_of=as_of))
    event_ids = [
        int(row["actual"]["event_id"]) for row in data.get("rows", []) if row.get("actual")
    ]
    return timeline_localized(data, tenant_zone=tenant_zone, places=event_places(event_ids))


def event_places(event_ids: Iterable[int]) -> dict[str, PlaceShown]:
    """Name and zone of the place of each event (by id as text), in one query: the tenant's
    place where the event points at one, else the registry place."""
    ids = list(event_ids)
    if not ids:
        return {}
    rows = TrackingEvent.objects.filter(pk__in=ids).values_list(
        "pk",
        "tenant_place__name",
        "tenant_place__timezone",
        "tenant_place__place__timezone",
        "place__name",
        "place__timezone",
    )
    shown: dict[str, PlaceShown] = {}
    for pk, own_name, own_zone, own_place_zone, name, zone in rows:
        if own_name:
            shown[str(pk)] = PlaceShown(own_name, own_zone or own_place_zone or "")
        elif name:
            shown[str(pk)] = PlaceShown(name, zone or "")
    return shown

"""Reads for shipments, always in the current tenant context."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from milestones import engine
from milestones.models import MilestoneDefinition
from shipments.models import (
    PUBLIC_ID_PREFIX,
    ReferenceKind,
    Shipment,
    ShipmentLink,
    ShipmentReference,
    TrackingEvent,
)
from shipments.timeline import PlaceShown, compute_for, timeline_localized
from tenancy.models import CustomerAccount


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


# --- the partner API's reads ------------------------------------------------------------------


def shipment_by_public_id(
    *, public_id: str, queryset: QuerySet[Shipment] | None = None
) -> Shipment | None:
    """The shipment with this public id among ``queryset`` (the tenant's by default); None
    for missing, for another tenant's and for anything that is not a public id alike."""
    if not public_id.startswith(PUBLIC_ID_PREFIX) or len(public_id) > 24:
        return None
    shipments = Shipment.objects.all() if queryset is None else queryset
    return shipments.filter(public_id=public_id).first()


def shipments_by_public_ids(public_ids: Iterable[str]) -> dict[str, Shipment]:
    wanted = [p for p in set(public_ids) if p.startswith(PUBLIC_ID_PREFIX) and len(p) <= 24]
    if not wanted:
        return {}
    return {s.public_id: s for s in Shipment.objects.filter(public_id__in=wanted)}


def shipment_filtered(
    shipments: QuerySet[Shipment],
    *,
    reference: str | None = None,
    status: str | None = None,
    mode: str | None = None,
    carrier: str | None = None,
    customer_code: str | None = None,
    updated_since: datetime | None = None,
    late: bool | None = None,
) -> QuerySet[Shipment]:
    """The API list's filters, each an equality (or range) on the leading columns of one of
    Shipment's list indexes (see its Meta). The customer code is resolved to its id first,
    and the reference through its own (tenant, value) index, so no join changes the plan."""
    if reference is not None:
        ids = ShipmentReference.objects.filter(value=reference.strip()).values("shipment_id")
        shipments = shipments.filter(pk__in=ids)
    if status is not None:
        shipments = shipments.filter(status=status)
    if mode is not None:
        shipments = shipments.filter(mode=mode)
    if carrier is not None:
        shipments = shipments.filter(carrier=carrier)
    if customer_code is not None:
        account = CustomerAccount.objects.filter(code=customer_code).values_list("pk", flat=True)
        shipments = shipments.filter(customer_account_id=next(iter(account), None))
    if updated_since is not None:
        shipments = shipments.filter(updated_at__gte=updated_since)
    if late is not None:
        shipments = shipments.filter(is_late=late)
    return shipments


def shipment_api_list(shipments: QuerySet[Shipment]) -> QuerySet[Shipment]:
    """What an API shipment answer shows with it, in a fixed number of queries per page."""
    visible = ShipmentReference.objects.exclude(kind=ReferenceKind.MILEPOST).order_by("pk")
    return shipments.select_related(
        "customer_account", "template_version__template"
    ).prefetch_related(
        Prefetch("references", queryset=visible, to_attr="visible_references"),
        Prefetch(
            "parent_links",
            queryset=ShipmentLink.objects.select_related("parent").order_by("pk"),
            to_attr="parent_link_list",
        ),
    )


_DEFINITIONS: OrderedDict[int, tuple[engine.MilestoneDef, ...]] = OrderedDict()
_DEFINITIONS_KEPT = 512


def version_definitions(version_id: int) -> tuple[engine.MilestoneDef, ...]:
    """A template version's milestone definitions. Versions are immutable once created (an
    edit makes a new one), so they are kept in memory per process (the newest 512)."""
    found = _DEFINITIONS.get(version_id)
    if found is not None:
        _DEFINITIONS.move_to_end(version_id)
        return found
    definitions = tuple(
        d.to_engine() for d in MilestoneDefinition.objects.filter(version_id=version_id)
    )
    if definitions:  # an empty answer may be a version of a tenant not in context: not kept
        _DEFINITIONS[version_id] = definitions
        while len(_DEFINITIONS) > _DEFINITIONS_KEPT:
            _DEFINITIONS.popitem(last=False)
    return definitions

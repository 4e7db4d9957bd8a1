"""Billing test data: rate cards through the service, shipments and their milestone events
recorded through the pipeline's service (so timelines, hooks and charges run as in
production)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing import services
from billing.models import Charge, RateCard
from shipments.models import Classifier, Shipment, SourceKind
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tenancy.models import CustomerAccount, Tenant
from tests.shipments.factories import ShipmentFactory

BOOKED = datetime(2026, 3, 1, tzinfo=UTC)


def rate_card(
    tenant: Tenant,
    *lines: services.LineSpec,
    customer: CustomerAccount | None = None,
    name: str = "Standard",
) -> RateCard:
    with tenant_context(tenant.pk):
        return services.rate_card_create(name=name, lines=list(lines), customer_account=customer)


def freight(amount: str = "100.00", currency: str = "EUR", **kwargs: Any) -> services.LineSpec:
    values: dict[str, Any] = {
        "code": "freight",
        "description": "Freight",
        "amount": amount,
        "currency": currency,
        "tax_rate": "19",
    }
    return services.LineSpec(**(values | kwargs))


def shipment(tenant: Tenant, **kwargs: Any) -> Shipment:
    kwargs.setdefault("mode", "road_ftl")
    kwargs.setdefault("booked_at", BOOKED)
    return ShipmentFactory(tenant=tenant, **kwargs)


def event(
    target: Shipment,
    milestone: str,
    at: datetime,
    *,
    location: str = "",
    key: str = "",
    source: str = "carrier-edi",
) -> NewEvent:
    return NewEvent(
        shipment_id=target.pk,
        milestone=milestone,
        occurred_at=at,
        classifier=Classifier.ACTUAL,
        source_kind=SourceKind.INTEGRATION,
        source_name=source,
        location=location,
        dedupe_key=key or f"{milestone}:{at.isoformat()}",
    )


def record(tenant: Tenant, target: Shipment, milestone: str, at: datetime, **kwargs) -> list[int]:
    """Record one actual event (one batch, as the pipeline would)."""
    with tenant_context(tenant.pk):
        return events_record(events=[event(target, milestone, at, **kwargs)])


def record_batch(tenant: Tenant, events: list[NewEvent]) -> list[int]:
    with tenant_context(tenant.pk):
        return events_record(events=events)


def charges_of(tenant: Tenant, target: Shipment | None = None) -> list[Charge]:
    with tenant_context(tenant.pk):
        charges = Charge.objects.order_by("id")
        if target is not None:
            charges = charges.filter(shipment=target)
        return list(charges)

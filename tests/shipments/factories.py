"""factory_boy factories of shipments, built through the services (as production does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import factory

from shipments.models import Shipment, TrackingEvent
from shipments.services import shipment_create
from tenancy.context import tenant_context
from tenancy.models import Tenant

BOOKED = datetime(2026, 3, 1, tzinfo=UTC)


class ShipmentFactory(factory.Factory):
    """``ShipmentFactory(tenant=t, reference="SHIP1")`` or ``references=[(kind, value), …]``;
    created in the tenant's context with ``shipment_create`` (the tenant needs its templates:
    tenancy.services.tenant_create or milestones.services.templates_install_defaults)."""

    class Meta:
        model = Shipment

    mode = "road_ftl"
    booked_at = BOOKED
    reference = factory.Sequence(lambda n: f"SHIP{n:06d}")

    @classmethod
    def _create(
        cls,
        model_class: type[Shipment],
        *,
        tenant: Tenant,
        reference: str,
        references: Sequence[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> Shipment:
        with tenant_context(tenant.pk):
            return shipment_create(
                references=list(references or [("tracking_number", reference)]), **kwargs
            )


def events_of(
    tenant: Tenant,
    shipment: Shipment | None = None,
    *,
    order: Sequence[str] = ("occurred_at", "id"),
) -> list[TrackingEvent]:
    """The tenant's events (of one shipment), in ``order``."""
    with tenant_context(tenant.pk):
        events = TrackingEvent.objects.all()
        if shipment is not None:
            events = events.filter(shipment=shipment)
        return list(events.order_by(*order))

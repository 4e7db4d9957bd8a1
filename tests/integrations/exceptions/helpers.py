"""Helpers of the exception tests: shipments booked relative to now, events recorded through
the service (the timeline hook runs detection), and the tenant's exceptions read back."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from integrations.exceptions.models import ShipmentException
from shipments.models import Shipment
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tests.shipments.factories import ShipmentFactory


def ago(**kwargs: float) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def shipment(tenant, *, booked: datetime | None = None, **kwargs) -> Shipment:
    return ShipmentFactory(tenant=tenant, booked_at=booked or timezone.now(), **kwargs)


def event(tenant, s: Shipment, milestone: str, at: datetime, *, key: str = "", **kwargs) -> None:
    with tenant_context(tenant.pk):
        events_record(
            events=[
                NewEvent(
                    shipment_id=s.pk,
                    milestone=milestone,
                    occurred_at=at,
                    classifier=kwargs.pop("classifier", "ACT"),
                    source_kind="integration",
                    source_name="carrier:test",
                    dedupe_key=key or f"{milestone}:{at.isoformat()}",
                    **kwargs,
                )
            ]
        )


def exceptions(tenant, **filters) -> list[ShipmentException]:
    with tenant_context(tenant.pk):
        return list(ShipmentException.objects.filter(**filters).order_by("id"))


def unresolved(tenant, **filters) -> list[tuple[str, str, str]]:
    return [
        (x.type, x.milestone, x.severity)
        for x in exceptions(tenant, **filters)
        if x.status != "resolved"
    ]

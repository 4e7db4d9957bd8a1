"""Fixtures of the portal tests: two tenants with templates, last-mile shipments in each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from milestones.services import templates_install_defaults
from shipments.models import Shipment
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tests.shipments.factories import ShipmentFactory


@dataclass
class World:
    personas: object
    a: Shipment  # tenant A, customer account SHIPPER1
    a_other: Shipment  # tenant A, account SHIPPER2 (another customer)
    b: Shipment  # tenant B


def record(
    tenant: Tenant, shipment: Shipment, milestone: str, minutes_ago: int = 5, **extra
) -> None:
    with tenant_context(tenant.pk):
        events_record(
            events=[
                NewEvent(
                    shipment_id=shipment.pk,
                    milestone=milestone,
                    occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
                    classifier="ACT",
                    source_kind="integration",
                    source_name="test",
                    **extra,
                )
            ]
        )
        shipment.refresh_from_db()


def last_mile(tenant: Tenant, reference: str, account=None, **kwargs) -> Shipment:
    fields = {
        "consignee_name": "Erika Mustermann",
        "destination_address": "Hauptstraße 5, 20095 Hamburg",
        "destination_lat": 53.5503,
        "destination_lon": 10.0006,
        "origin_lat": 53.60,
        "origin_lon": 9.95,
    } | kwargs
    return ShipmentFactory(
        tenant=tenant,
        reference=reference,
        mode="last_mile",
        booked_at=timezone.now() - timedelta(hours=3),
        customer_account=account,
        **fields,
    )


@pytest.fixture
def world(personas) -> World:
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    a = last_mile(personas.tenant, "ACME123456", personas.customer_account)
    a_other = last_mile(personas.tenant, "ACME999999", personas.other_customer_account)
    b = last_mile(personas.other_tenant, "RIVAL55555")
    for tenant, shipment in ((personas.tenant, a), (personas.other_tenant, b)):
        record(tenant, shipment, "picked_up", 60)
        record(tenant, shipment, "out_for_delivery", 10)
    return World(personas=personas, a=a, a_other=a_other, b=b)


@pytest.fixture
def eager(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before

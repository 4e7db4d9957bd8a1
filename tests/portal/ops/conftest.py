"""Two tenants with shipments for the dashboard tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from milestones.services import templates_install_defaults
from shipments.models import Shipment
from tenancy.context import tenant_context
from tests.fixtures import Personas, make_personas
from tests.shipments.factories import ShipmentFactory


@dataclass
class Board:
    personas: Personas
    mine: Shipment
    late: Shipment
    theirs: Shipment  # tenant B's


def make_board() -> Board:
    personas = make_personas()
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    now = timezone.now()
    mine = ShipmentFactory(
        tenant=personas.tenant,
        booked_at=now,
        reference="ACME-0001",
        carrier="DHL",
        customer_account=personas.customer_account,
        origin_locode="DEHAM",
        destination_locode="FRPAR",
    )
    late = ShipmentFactory(
        tenant=personas.tenant, reference="ACME-0002", carrier="UPS", booked_at=now
    )
    with tenant_context(personas.tenant.pk):
        Shipment.objects.filter(pk=late.pk).update(is_late=True)
        Shipment.objects.filter(pk=mine.pk).update(is_late=False)
    theirs = ShipmentFactory(
        tenant=personas.other_tenant, reference="RIVAL-0001", carrier="DHL", booked_at=now
    )
    return Board(personas=personas, mine=mine, late=late, theirs=theirs)


@pytest.fixture
def board(db) -> Board:
    return make_board()

"""The demo seed: two tenants, every role, shipments in many states; safe to run twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from milestones.models import TemplateVersion
from shipments.models import Shipment, ShipmentLink, ShipmentReference, TrackingEvent
from tenancy.context import tenant_context
from tenancy.models import Membership, Role, Tenant, User

pytestmark = pytest.mark.django_db


def _counts() -> dict:
    counts = {"tenants": Tenant.objects.count(), "users": User.objects.count()}
    for tenant in Tenant.objects.all():
        with tenant_context(tenant.pk):
            for model in (
                Membership,
                Shipment,
                ShipmentReference,
                ShipmentLink,
                TrackingEvent,
                TemplateVersion,
            ):
                counts[(tenant.slug, model.__name__)] = model.objects.count()
    return counts


def test_seed_demo_creates_realistic_data_and_is_idempotent():
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"northwind", "swift"}
    for tenant in Tenant.objects.all():
        with tenant_context(tenant.pk):
            roles = set(Membership.objects.values_list("role", flat=True))
            assert roles == set(Role.values), tenant.slug
            shipments = Shipment.objects.all()
            assert len({s.mode for s in shipments}) >= 4
            assert all(s.timeline.get("rows") for s in shipments)
            assert all(s.references.exists() for s in shipments)
            assert ShipmentLink.objects.exists()
            assert TrackingEvent.objects.exists()
    with tenant_context(Tenant.objects.get(slug="northwind").pk):
        statuses = set(Shipment.objects.values_list("status", flat=True))
        late = Shipment.objects.filter(is_late=True).count()
        children = Shipment.objects.filter(parent_links__isnull=False).distinct().count()
    assert len(statuses) >= 2, statuses
    assert late >= 1
    assert children >= 1
    before = _counts()
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())
    assert _counts() == before

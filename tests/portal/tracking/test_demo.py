"""The demo's last mile: seeded on the driver's route, the simulated driver moves and
delivers with photo and signature, the customer view shows it."""

from __future__ import annotations

import pytest

from milestones.services import templates_install_defaults
from portal.routing.models import RouteStop
from portal.tracking import demo, selectors
from shipments.models import Shipment
from tenancy.context import tenant_context

pytestmark = [pytest.mark.django_db]


def test_simulated_driver_moves_and_delivers(personas, eager, django_capture_on_commit_callbacks):
    tenant = personas.tenant
    with tenant_context(tenant.pk):
        templates_install_defaults()
    demo.seed_last_mile_demo(tenant, "acme.test")
    demo.seed_last_mile_demo(tenant, "acme.test")  # again: nothing doubled
    with tenant_context(tenant.pk):
        assert RouteStop.objects.count() == 3
        lanes = {(s.origin_locode, s.destination_locode) for s in Shipment.objects.all()}
        assert lanes == {("DEBER", "DEBER")}  # a city drop has a lane in the ops list
        first = RouteStop.objects.order_by("sequence").first()
    for _ in range(40):
        with django_capture_on_commit_callbacks(execute=True):
            demo.simulate_step()
        with tenant_context(tenant.pk):
            if Shipment.objects.get(pk=first.shipment_id).status == "delivered":
                break
    with tenant_context(tenant.pk):
        shipment = Shipment.objects.get(pk=first.shipment_id)
        assert shipment.status == "delivered"
        view = selectors.tracking_view(shipment=shipment, tenant=tenant, full=True, locale="en")
        assert view["pod"]["photo_id"] and view["pod"]["signature_id"]
        assert view["pod"]["recipient_name"]
        others = RouteStop.objects.filter(status="pending").select_related("shipment")
        assert all(s.shipment.status == "out_for_delivery" for s in others)


def test_a_new_round_of_drops_starts_once_the_last_was_delivered_a_while_ago(
    personas, eager, django_capture_on_commit_callbacks
):
    """The demo keeps moving: after the driver's last drop of the day (and a pause to look at
    its proof of delivery), the simulator seeds the next round on the same route."""
    from datetime import timedelta

    from django.utils import timezone

    tenant = personas.tenant
    with tenant_context(tenant.pk):
        templates_install_defaults()
    demo.seed_last_mile_demo(tenant, "acme.test")
    with tenant_context(tenant.pk):
        RouteStop.objects.update(status="done", done_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        demo.simulate_step()
    with tenant_context(tenant.pk):
        assert RouteStop.objects.count() == 3  # within the pause: nothing new yet
        RouteStop.objects.update(done_at=timezone.now() - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        demo.simulate_step()
    with tenant_context(tenant.pk):
        pending = RouteStop.objects.filter(status="pending").select_related("shipment")
        assert pending.count() == 3
        numbers = {s.shipment.references.get(kind="tracking_number").value for s in pending}
        prefix = f"LM-DEMO-{tenant.slug.upper()}-2-"
        assert numbers == {f"{prefix}{n}" for n in (1, 2, 3)}

"""The demo: rules in place, late and dark shipments with open exceptions right after the
seed, an exception resolving when the carrier reports the milestone, and the SMS rule."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.exceptions.models import ShipmentException
from integrations.notifications.models import Notification
from integrations.workflow.models import Firing, Rule
from shipments.models import Shipment
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tenancy.models import CustomerAccount, Tenant
from tests.integrations.workflow.conftest import run_firings

pytestmark = pytest.mark.django_db


def test_the_demo_raises_exceptions_that_resolve_and_its_rules_fire(enqueued):
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())  # idempotent
    tenant = Tenant.objects.get(slug="northwind")
    with tenant_context(tenant.pk):
        assert Rule.objects.count() == 3
        open_ones = ShipmentException.objects.exclude(status="resolved")
        assert open_ones.filter(type__in=["missed_milestone", "delayed_departure"]).exists()
        assert Firing.objects.filter(rule__trigger="milestone_missed").exists()
        late = open_ones.filter(type="missed_milestone").select_related("shipment").first()
        assert late is not None
        events_record(
            events=[
                NewEvent(
                    shipment_id=late.shipment_id,
                    milestone=late.milestone,
                    occurred_at=timezone.now(),
                    classifier="ACT",
                    source_kind="integration",
                    source_name="dcsa:Simulated carrier",
                    dedupe_key="caught-up",
                )
            ]
        )
        late.refresh_from_db()
        assert late.status == "resolved" and late.auto_resolved
        account = CustomerAccount.objects.order_by("code").first()
        customers = Shipment.objects.filter(customer_account=account).exclude(
            status__in=["delivered", "cancelled", "returned", "out_for_delivery"]
        )
        shipment = customers.first()
        assert shipment is not None
        events_record(
            events=[
                NewEvent(
                    shipment_id=shipment.pk,
                    milestone="out_for_delivery",
                    occurred_at=timezone.now(),
                    classifier="ACT",
                    source_kind="integration",
                    source_name="dcsa:Simulated carrier",
                    dedupe_key="ofd",
                )
            ]
        )
    run_firings(tenant)
    with tenant_context(tenant.pk):
        sms = Notification.objects.filter(shipment_id=shipment.pk, channel="sms")
        assert sms.count() == 1
        from integrations.workflow.models import Task

        assert Task.objects.filter(shipment_id=shipment.pk, title__startswith="Confirm").exists()
        assert Task.objects.filter(title__startswith="Chase the carrier").exists()

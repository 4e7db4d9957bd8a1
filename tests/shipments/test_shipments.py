"""Creating shipments: references of several kinds, unique per tenant and kind."""

from __future__ import annotations

import pytest

from milestones.selectors import template_latest_version
from shipments.models import Shipment, ShipmentReference
from shipments.selectors import shipment_by_reference, shipment_ids_by_reference_values
from shipments.services import ShipmentError, shipment_create
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.shipments.conftest import BOOKED, new_shipment

pytestmark = pytest.mark.django_db

REFERENCES = [
    ("container", "MSKU1234565"),
    ("bill_of_lading", "MAEU240012345"),
    ("booking", "BK-77812"),
    ("purchase_order", "PO-4711"),
]


def test_shipment_create_stores_every_reference_and_caches_the_timeline(tenant, ops_user):
    with tenant_context(tenant.pk):
        shipment = shipment_create(
            mode="ocean_fcl",
            references=[*REFERENCES[:3], ("purchase_order", "  PO-4711  ")],
            booked_at=BOOKED,
            carrier="MAEU",
            actor=ops_user,
        )
        stored = Shipment.objects.get(pk=shipment.pk)
        assert stored.template_version_id == template_latest_version(mode="ocean_fcl").pk
        assert stored.carrier == "MAEU"
        assert stored.status == "booked"
        assert stored.timeline_computed_at is not None
        assert [r["code"] for r in stored.timeline["rows"]][:3] == [
            "order_created",
            "picked_up",
            "departed",
        ]
        # The returned object carries the cached timeline the refresh wrote.
        assert shipment.timeline == stored.timeline
        assert shipment.eta == stored.eta is not None
        refs = set(ShipmentReference.objects.filter(shipment=shipment).values_list("kind", "value"))
        # values are stripped; the public id is a reference too (issue 14: events posted to it)
        assert refs == {*REFERENCES, ("milepost", shipment.public_id)}
        audit = AuditLog.objects.get(action="shipment.create", target_id=str(shipment.pk))
        assert audit.actor_id == ops_user.pk


def test_shipment_create_needs_a_reference(tenant):
    with tenant_context(tenant.pk):
        with pytest.raises(ShipmentError) as raised:
            shipment_create(mode="air", references=[], booked_at=BOOKED)
        assert raised.value.field == "references"
        assert not Shipment.objects.exists()


def test_a_reference_already_used_by_another_shipment_is_refused(tenant):
    first = new_shipment(tenant, reference="1Z999AA10123456784")
    with tenant_context(tenant.pk):
        with pytest.raises(ShipmentError) as raised:
            shipment_create(
                mode="parcel",
                references=[("booking", "B-1"), ("tracking_number", "1Z999AA10123456784")],
                booked_at=BOOKED,
            )
        assert raised.value.code == "duplicate_reference"
        assert "1Z999AA10123456784" in raised.value.message
        # Nothing of the refused shipment remains (its transaction was rolled back).
        assert list(Shipment.objects.values_list("pk", flat=True)) == [first.pk]
        assert not ShipmentReference.objects.filter(value="B-1").exists()


def test_duplicate_reference_within_one_request_is_refused(tenant):
    with tenant_context(tenant.pk):
        with pytest.raises(ShipmentError) as raised:
            shipment_create(
                mode="parcel",
                references=[("tracking_number", "DUP1"), ("tracking_number", "DUP1")],
                booked_at=BOOKED,
            )
        assert raised.value.code == "duplicate_reference"
        assert not Shipment.objects.exists()


def test_the_same_value_of_another_kind_is_a_different_reference(tenant):
    first = new_shipment(tenant, reference="4711")
    with tenant_context(tenant.pk):
        second = shipment_create(
            mode="parcel", references=[("purchase_order", "4711")], booked_at=BOOKED
        )
        assert shipment_ids_by_reference_values(["4711"]) == {"4711": {first.pk, second.pk}}
        assert shipment_by_reference(value="4711", kind="purchase_order") == second
        assert shipment_by_reference(value="4711", kind="tracking_number") == first


def test_references_are_unique_per_tenant_only(tenant, other_tenant):
    mine = new_shipment(tenant, reference="SHARED-123")
    theirs = new_shipment(other_tenant, reference="SHARED-123")
    assert mine.pk != theirs.pk
    with tenant_context(tenant.pk):
        assert shipment_by_reference(value="SHARED-123") == mine
        assert shipment_by_reference(value=" SHARED-123 ") == mine
        assert shipment_ids_by_reference_values(["SHARED-123"]) == {"SHARED-123": {mine.pk}}
    with tenant_context(other_tenant.pk):
        assert shipment_by_reference(value="SHARED-123") == theirs
        assert shipment_ids_by_reference_values(["SHARED-123"]) == {"SHARED-123": {theirs.pk}}


def test_shipment_by_reference_never_finds_another_tenants_shipment(tenant, other_tenant):
    new_shipment(other_tenant, reference="ONLY-IN-B")
    with tenant_context(tenant.pk):
        assert shipment_by_reference(value="ONLY-IN-B") is None
        assert shipment_ids_by_reference_values(["ONLY-IN-B"]) == {}
    with tenant_context(other_tenant.pk):
        assert shipment_by_reference(value="ONLY-IN-B") is not None


def test_shipment_with_first_middle_and_last_mile_legs(tenant):
    from datetime import UTC, datetime

    from shipments.models import Leg
    from shipments.services import ShipmentError, shipment_create

    legs = [
        {"segment": "first_mile", "mode": "road_ftl", "origin_locode": "CNSZX"},
        {"segment": "middle_mile", "mode": "ocean_fcl", "carrier": "MAEU"},
        {"segment": "last_mile", "mode": "last_mile", "destination_locode": "DEHAM"},
    ]
    with tenant_context(tenant.pk):
        shipment = shipment_create(
            mode="multimodal",
            references=[("booking", "BKG-LEGS-1")],
            booked_at=datetime(2026, 1, 5, tzinfo=UTC),
            legs=legs,
        )
        stored = list(Leg.objects.filter(shipment=shipment).values_list("sequence", "segment"))
        assert stored == [(1, "first_mile"), (2, "middle_mile"), (3, "last_mile")]
        with pytest.raises(ShipmentError, match="segment must be one of"):
            shipment_create(
                mode="road_ftl",
                references=[("booking", "BKG-LEGS-2")],
                booked_at=datetime(2026, 1, 5, tzinfo=UTC),
                legs=[{"segment": "sky", "mode": "air"}],
            )

"""``field__any=[…]`` (tenancy.lookups): same rows as ``__in``, one array parameter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shipments.models import Shipment, ShipmentReference
from tenancy.context import tenant_context
from tests.shipments.conftest import new_shipment, new_tenant

pytestmark = pytest.mark.django_db


def test_any_matches_like_in_on_keys_foreign_keys_and_text():
    tenant = new_tenant()
    shipments = [new_shipment(tenant, reference=f"ANY-{n}") for n in range(3)]
    ids = [s.pk for s in shipments[:2]]
    with tenant_context(tenant.pk):
        assert set(Shipment.objects.filter(pk__any=ids)) == set(shipments[:2])
        # (every shipment also has its public id as a reference of kind "milepost")
        by_fk = ShipmentReference.objects.filter(shipment_id__any=ids).exclude(kind="milepost")
        assert sorted(by_fk.values_list("value", flat=True)) == ["ANY-0", "ANY-1"]
        by_text = ShipmentReference.objects.filter(value__any={"ANY-2", "nope"})
        assert list(by_text.values_list("shipment_id", flat=True)) == [shipments[2].pk]
        assert not Shipment.objects.filter(pk__any=[]).exists()


def test_any_sends_the_list_as_one_parameter():
    tenant = new_tenant()
    with tenant_context(tenant.pk), CaptureQueriesContext(connection) as captured:
        list(Shipment.objects.filter(pk__any=range(500)))
    sql = captured.captured_queries[-1]["sql"]
    assert "= ANY(" in sql and " IN (" not in sql

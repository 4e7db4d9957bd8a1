"""Times are stored in UTC and shown where the milestone happened, else in the tenant's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipments.selectors import shipment_timeline_display
from shipments.services import events_record
from tenancy.context import tenant_context
from tests.shipments.conftest import BOOKED, act, hours, new_shipment

pytestmark = pytest.mark.django_db


def test_actuals_show_in_the_zone_of_their_place_and_the_rest_in_the_tenant_zone(tenant):
    shipment = new_shipment(tenant)
    picked = datetime(2025, 3, 4, 1, 30, tzinfo=UTC)
    with tenant_context(tenant.pk):
        events_record(events=[act(shipment, "picked_up", picked, location="JPTYO")])
        shown = shipment_timeline_display(shipment=shipment, tenant_zone="Europe/Berlin")
    rows = {row["code"]: row for row in shown["rows"]}
    assert rows["picked_up"]["actual"]["at"] == "2025-03-04T01:30:00+00:00"  # stored in UTC
    assert rows["picked_up"]["zone"] == "Asia/Tokyo"
    assert rows["picked_up"]["local"]["actual"] == "2025-03-04T10:30:00+09:00"
    assert rows["delivered"]["zone"] == "Europe/Berlin"
    planned = datetime.fromisoformat(rows["delivered"]["planned"])
    assert rows["delivered"]["local"]["planned"].endswith("+01:00")  # CET in March
    assert datetime.fromisoformat(rows["delivered"]["local"]["planned"]) == planned
    assert shown["eta_local"].endswith("+01:00") or shown["eta_local"].endswith("+02:00")
    assert BOOKED < planned < BOOKED + hours(24 * 30)

"""The Django admin shows the active tenant's shipments only; events are read-only there."""

from __future__ import annotations

import pytest
from django.test import Client

from shipments.services import events_record
from tenancy.context import tenant_context
from tenancy.middleware import SESSION_TENANT_KEY
from tenancy.models import Role
from tests.shipments.conftest import BOOKED, act, hours, new_shipment
from tests.tenancy.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(tenant):
    user = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def test_shipment_changelist_shows_only_the_active_tenants_shipments(
    tenant, other_tenant, staff_client
):
    mine = new_shipment(tenant, reference="MINE-001")
    theirs = new_shipment(other_tenant, reference="THEIRS-001")
    response = staff_client.get("/admin/shipments/shipment/")
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert shown == {mine.pk}
    assert theirs.pk not in shown
    assert response.context["cl"].result_count == 1
    assert staff_client.get(f"/admin/shipments/shipment/{mine.pk}/change/").status_code == 200
    assert staff_client.get(f"/admin/shipments/shipment/{theirs.pk}/change/").status_code == 302


def test_tracking_events_are_read_only_in_the_admin(tenant, staff_client):
    shipment = new_shipment(tenant)
    with tenant_context(tenant.pk):
        (event_id,) = events_record(events=[act(shipment, "picked_up", BOOKED + hours(3))])
    changelist = staff_client.get("/admin/shipments/trackingevent/")
    assert changelist.status_code == 200
    assert [e.pk for e in changelist.context["cl"].result_list] == [event_id]
    assert staff_client.get("/admin/shipments/trackingevent/add/").status_code == 403
    detail = staff_client.get(f"/admin/shipments/trackingevent/{event_id}/change/")
    assert detail.status_code == 200  # view permission only
    assert detail.context["has_change_permission"] is False
    post = staff_client.post(
        f"/admin/shipments/trackingevent/{event_id}/change/", {"milestone": "delivered"}
    )
    assert post.status_code == 403
    assert (
        staff_client.post(
            f"/admin/shipments/trackingevent/{event_id}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/milestones/milestonetemplate/",
        "/admin/milestones/templateversion/",
        "/admin/milestones/trackingpolicy/",
        "/admin/shipments/shipmentreference/",
        "/admin/shipments/shipmentlink/",
    ],
)
def test_other_changelists_render(tenant, staff_client, path):
    new_shipment(tenant)
    assert staff_client.get(path).status_code == 200

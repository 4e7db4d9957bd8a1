"""The admin: operators (superusers) only, acting for one explicit tenant; never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.admin_site import ADMIN_TENANT_KEY
from tenancy.context import tenant_context
from tenancy.models import CustomerAccount, Role
from tests.access import covers_url
from tests.tenancy.factories import CustomerAccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/tenancy/customeraccount/"
# Every tenant-owned changelist, so none of them can fall back to a 500 without a tenant.
TENANT_OWNED_PAGES = [
    ACCOUNTS,
    "/admin/tenancy/membership/",
    "/admin/tenancy/apikey/",
    "/admin/tenancy/auditlog/",
    "/admin/shipments/shipment/",
    "/admin/shipments/trackingevent/",
    "/admin/milestones/milestonetemplate/",
    "/admin/integrations/integration/",
    "/admin/integrations/inboundmessage/",
    "/admin/integrations/deadletter/",
]


def _superuser_client(**session) -> tuple[Client, object]:
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    if session:
        stored = client.session
        stored.update(session)
        stored.save()
    return client, user


def _shown(response) -> set[str]:
    return {obj.code for obj in response.context["cl"].result_list}


@pytest.fixture
def accounts(personas):
    CustomerAccountFactory(tenant=personas.other_tenant, code="RIVAL1")
    return personas


@covers_url("admin:*")
def test_anonymous_is_sent_to_the_login(accounts):
    for path in ["/admin/", ACCOUNTS, reverse("admin:tenant-pick")]:
        response = Client().get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPS])
def test_tenant_members_get_a_clear_page_not_the_empty_admin(accounts, role):
    user = accounts.users[role]
    user.is_staff = True  # as seed_demo makes its tenant admins: still not an operator
    user.save()
    client = accounts.client(role)
    for path in ["/admin/", ACCOUNTS, reverse("admin:tenant-pick"), "/admin/tenancy/user/"]:
        response = client.get(path)
        assert response.status_code == 403, path
        page = response.content.decode()
        assert "The admin is for Milepost operators" in page, path
        assert "SHIPPER1" not in page and "RIVAL1" not in page
    assert (
        client.post(reverse("admin:tenant-pick"), {"tenant": accounts.tenant.pk}).status_code == 403
    )
    assert ADMIN_TENANT_KEY not in client.session


def test_a_member_who_is_not_staff_gets_the_same_page(accounts):
    response = accounts.client(Role.FINANCE).get("/admin/")
    assert response.status_code == 403
    assert "The admin is for Milepost operators" in response.content.decode()


def test_logout_through_the_admin_still_works_for_members(accounts):
    client = accounts.client(Role.ADMIN)
    assert client.post(reverse("admin:logout")).status_code in (200, 302)


def test_superuser_without_a_tenant_is_sent_to_the_picker_never_a_500(accounts):
    client, _ = _superuser_client()
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "No tenant chosen" in index.content.decode()
    for path in TENANT_OWNED_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("admin:tenant-pick")), path
    # Global models need no tenant.
    assert client.get("/admin/tenancy/tenant/").status_code == 200
    picker = client.get(reverse("admin:tenant-pick"))
    assert picker.status_code == 200
    assert {"Acme Forwarding", "Rival Courier"} <= {t.name for t in picker.context["tenants"]}


def test_superuser_acts_for_the_picked_tenant_only(accounts):
    client, _ = _superuser_client()
    picked = client.post(
        reverse("admin:tenant-pick"), {"tenant": accounts.other_tenant.pk, "next": ACCOUNTS}
    )
    assert picked.status_code == 302 and picked["Location"] == ACCOUNTS
    rival = client.get(ACCOUNTS)
    assert rival.status_code == 200
    assert _shown(rival) == {"RIVAL1"}
    assert "Acting for tenant <strong>Rival Courier</strong>" in rival.content.decode()
    with tenant_context(accounts.tenant.pk):
        acme_account = CustomerAccount.objects.get(code="SHIPPER1")
    # Another tenant's object answers like a missing one (the admin redirects with a message).
    other = client.get(f"{ACCOUNTS}{acme_account.pk}/change/")
    assert other.status_code == 302 and other["Location"] == "/admin/"
    assert client.post(f"{ACCOUNTS}{acme_account.pk}/delete/", {"post": "yes"}).status_code == 302
    with tenant_context(accounts.tenant.pk):
        assert CustomerAccount.objects.filter(pk=acme_account.pk).exists()

    client.post(reverse("admin:tenant-pick"), {"tenant": accounts.tenant.pk})
    assert _shown(client.get(ACCOUNTS)) == {"SHIPPER1", "SHIPPER2"}
    for path in TENANT_OWNED_PAGES:
        assert client.get(path).status_code == 200, path


def test_superuser_adds_rows_into_the_picked_tenant(accounts):
    client, _ = _superuser_client(**{ADMIN_TENANT_KEY: accounts.other_tenant.pk})
    form = {"code": "NEW1", "name": "New", "contact_email": ""}
    form |= {"created_at_0": "2026-01-05", "created_at_1": "10:00:00"}
    response = client.post(f"{ACCOUNTS}add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    with tenant_context(accounts.other_tenant.pk):
        assert CustomerAccount.objects.filter(code="NEW1").exists()
    with tenant_context(accounts.tenant.pk):
        assert not CustomerAccount.objects.filter(code="NEW1").exists()


def test_a_superuser_member_acts_for_the_active_tenant_until_they_pick(accounts):
    client, user = _superuser_client()
    MembershipFactory(tenant=accounts.tenant, user=user, role=Role.ADMIN)
    assert _shown(client.get(ACCOUNTS)) == {"SHIPPER1", "SHIPPER2"}
    client.post(reverse("admin:tenant-pick"), {"tenant": accounts.other_tenant.pk})
    assert _shown(client.get(ACCOUNTS)) == {"RIVAL1"}
    # The pick is the admin's only: the app still shows the member's own tenant.
    assert "Acme Forwarding" in client.get("/", follow=True).content.decode()


def test_picking_a_tenant_that_does_not_exist_is_404_and_a_vanished_pick_is_dropped(accounts):
    client, _ = _superuser_client(**{ADMIN_TENANT_KEY: 999_999_999})
    response = client.get(ACCOUNTS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:tenant-pick"))
    assert ADMIN_TENANT_KEY not in client.session
    assert client.post(reverse("admin:tenant-pick"), {"tenant": "999999999"}).status_code == 404
    assert client.post(reverse("admin:tenant-pick"), {"tenant": "nope"}).status_code == 404
    assert client.post(reverse("admin:tenant-pick"), {}).status_code == 404


def test_an_off_site_next_is_ignored(accounts):
    client, _ = _superuser_client()
    response = client.post(
        reverse("admin:tenant-pick"), {"tenant": accounts.tenant.pk, "next": "https://evil.test/"}
    )
    assert response["Location"] == "/admin/"


def test_tenants_are_neither_added_nor_deleted_in_the_admin(accounts):
    client, _ = _superuser_client()
    assert client.get("/admin/tenancy/tenant/add/").status_code == 403
    delete = client.post(f"/admin/tenancy/tenant/{accounts.tenant.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403


def test_every_admin_page_answers_for_a_superuser_with_a_tenant(db):
    from django.contrib import admin

    from shipments.services import events_record
    from tests.shipments.conftest import BOOKED, act, hours, new_shipment, new_tenant

    tenant, other = new_tenant(), new_tenant()
    for owner in (tenant, other):
        shipment = new_shipment(owner)
        with tenant_context(owner.pk):
            events_record(events=[act(shipment, "picked_up", BOOKED + hours(2))])
    client, _ = _superuser_client(**{ADMIN_TENANT_KEY: tenant.pk})
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        changelist = client.get(base)
        assert changelist.status_code == 200, base
        assert client.get(f"{base}add/").status_code in (200, 403), base
        for obj in changelist.context["cl"].result_list[:1]:
            assert getattr(obj, "tenant_id", tenant.pk) == tenant.pk, base
            assert client.get(f"{base}{obj.pk}/change/").status_code == 200, base
            assert client.get(f"{base}{obj.pk}/history/").status_code == 200, base

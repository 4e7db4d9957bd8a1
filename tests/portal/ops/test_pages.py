"""The dashboard's pages: who may open them, that they show the tenant's data only, and that
actions go through the shipments services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.workflow.models import ShipmentTag
from portal.ops.models import SavedView
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url

PAGES = ["ops-shipments", "ops-rows", "ops-kpis", "ops-analytics"]


@covers_url("ops-shipments", "ops-rows", "ops-kpis", "ops-analytics")
@pytest.mark.parametrize("who", ["customer", "driver"])
def test_customer_and_driver_cannot_open_the_dashboard(board, who):
    client = board.personas.client(who)
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 404, name
        assert b"Acme" not in response.content


@covers_url("ops-shipments")
def test_anonymous_is_sent_to_login(board):
    response = board.personas.client("anonymous").get(reverse("ops-shipments"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@covers_url("ops-shipments", "ops-rows")
def test_list_shows_own_tenant_only_and_searches_any_reference(board):
    client = board.personas.client("member")
    body = client.get(reverse("ops-shipments")).content.decode()
    assert "ACME-0001" in body and "ACME-0002" in body
    assert "RIVAL-0001" not in body
    found = client.get(reverse("ops-rows"), {"q": "ACME-0002"}).content.decode()
    assert "ACME-0002" in found and "ACME-0001" not in found
    # another tenant's reference finds nothing
    foreign = client.get(reverse("ops-rows"), {"q": "RIVAL-0001"}).content.decode()
    assert "RIVAL-0001" not in foreign and board.theirs.public_id not in foreign
    outsider = board.personas.client("outsider").get(reverse("ops-shipments")).content.decode()
    assert "RIVAL-0001" in outsider and "ACME-0001" not in outsider


@covers_url("ops-rows")
def test_filters_late_carrier_lane_and_customer(board):
    client = board.personas.client("member")

    def rows(**params):
        return client.get(reverse("ops-rows"), params).content.decode()

    assert "ACME-0002" in rows(late="late") and "ACME-0001" not in rows(late="late")
    assert "ACME-0001" in rows(late="on_time") and "ACME-0002" not in rows(late="on_time")
    assert "ACME-0001" in rows(carrier="DHL") and "ACME-0002" not in rows(carrier="DHL")
    assert "ACME-0001" in rows(lane="DEHAM-FRPAR") and "ACME-0002" not in rows(lane="DEHAM-")
    assert "ACME-0001" in rows(customer="SHIPPER1") and "ACME-0002" not in rows(customer="SHIPPER1")


@covers_url("ops-rows")
def test_keyset_pages_walk_every_row_once(board):
    client = board.personas.client("member")
    first = client.get(reverse("ops-rows"), {"limit": "1"})
    assert first.status_code == 200
    body = first.content.decode()
    assert body.count("data-id=") == 1
    # the page size is the dashboard's; the list page's next link carries a cursor
    page = client.get(reverse("ops-shipments")).content.decode()
    assert "cursor=" not in page  # two shipments fit one page
    damaged = client.get(reverse("ops-rows"), {"cursor": "not-a-cursor"})
    assert damaged.status_code == 200  # back to the first page, not a 500


@covers_url("ops-kpis")
def test_kpis_count_the_tenant(board):
    body = board.personas.client("member").get(reverse("ops-kpis")).content.decode()
    assert 'data-kpi="active">2<' in body
    assert 'data-kpi="late">1<' in body


@covers_url("ops-view-create", "ops-view-delete", "ops-shipments")
def test_saved_views_are_per_user_and_tenant(board):
    personas = board.personas
    client = personas.client("member")
    client.post(reverse("ops-view-create"), {"name": "Late DHL", "query": "late=late&carrier=DHL"})
    with tenant_context(personas.tenant.pk):
        view = SavedView.objects.get()
    assert view.user == personas.member
    assert "Late DHL" in client.get(reverse("ops-shipments")).content.decode()
    # a teammate does not see it, and cannot delete it
    admin = personas.client("admin")
    assert "Late DHL" not in admin.get(reverse("ops-shipments")).content.decode()
    assert admin.post(reverse("ops-view-delete", args=[view.pk])).status_code == 404
    # the outsider neither
    outsider = personas.client("outsider")
    assert outsider.post(reverse("ops-view-delete", args=[view.pk])).status_code == 404
    assert client.post(reverse("ops-view-delete", args=[view.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        assert not SavedView.objects.exists()


@covers_url("ops-bulk")
def test_bulk_tag_and_milestone_through_the_services(board):
    personas = board.personas
    client = personas.client("member")
    ids = f"{board.mine.public_id},{board.late.public_id},{board.theirs.public_id}"
    client.post(reverse("ops-bulk"), {"ids": ids, "action": "tag", "tag": "Priority"})
    with tenant_context(personas.tenant.pk):
        assert set(ShipmentTag.objects.values_list("shipment_id", flat=True)) == {
            board.mine.pk,
            board.late.pk,
        }
    with tenant_context(personas.other_tenant.pk):
        assert not ShipmentTag.objects.exists()
    client.post(
        reverse("ops-bulk"),
        {
            "ids": ids,
            "action": "milestone",
            "milestone": "picked_up",
            "occurred_at": "2026-03-02T10:00",
            "reason": "driver called",
        },
    )
    with tenant_context(personas.tenant.pk):
        events = TrackingEvent.objects.filter(milestone="picked_up")
        assert {e.shipment_id for e in events} == {board.mine.pk, board.late.pk}
        assert AuditLog.objects.filter(action="event.manual").count() == 2
    with tenant_context(personas.other_tenant.pk):
        assert not TrackingEvent.objects.exists()
    tagged = client.get(reverse("ops-rows"), {"tag": "priority"}).content.decode()
    assert "ACME-0001" in tagged


@covers_url("ops-bulk")
def test_sales_cannot_run_bulk_actions(board):
    client = board.personas.client("sales")
    response = client.post(
        reverse("ops-bulk"), {"ids": board.mine.public_id, "action": "tag", "tag": "x"}
    )
    assert response.status_code == 404


@covers_url("ops-shipment", "ops-shipment-timeline")
def test_shipment_page_and_timeline_of_another_tenant_are_404(board):
    client = board.personas.client("member")
    page = client.get(reverse("ops-shipment", args=[board.mine.public_id]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "ACME-0001" in body and "Timeline" in body
    for name in ("ops-shipment", "ops-shipment-timeline"):
        foreign = client.get(reverse(name, args=[board.theirs.public_id]))
        missing = client.get(reverse(name, args=["shp_0000000000000000"]))
        assert foreign.status_code == missing.status_code == 404
        assert foreign.content == missing.content
    assert (
        client.get(reverse("ops-shipment-timeline", args=[board.mine.public_id])).status_code == 200
    )


@covers_url("ops-shipment-timeline")
def test_timeline_as_of_and_candidates(board):
    client = board.personas.client("member")
    url = reverse("ops-shipment-timeline", args=[board.mine.public_id])
    response = client.get(url, {"as_of": "2026-03-01T12:00:00+00:00", "candidates": "1"})
    assert response.status_code == 200
    assert "as of" in response.content.decode()


@covers_url("ops-shipment-milestone", "ops-shipment-correct")
def test_record_then_correct_and_void_with_reasons(board):
    personas = board.personas
    client = personas.client("member")
    public_id = board.mine.public_id
    client.post(
        reverse("ops-shipment-milestone", args=[public_id]),
        {"milestone": "picked_up", "occurred_at": "2026-03-02T09:00", "reason": "phone"},
    )
    with tenant_context(personas.tenant.pk):
        event = TrackingEvent.objects.get(shipment=board.mine)
    client.post(
        reverse("ops-shipment-correct", args=[public_id]),
        {
            "event": event.pk,
            "action": "correct",
            "occurred_at": "2026-03-02T09:30",
            "reason": "typo",
        },
    )
    with tenant_context(personas.tenant.pk):
        corrected = TrackingEvent.objects.get(supersedes_id=event.pk)
    client.post(
        reverse("ops-shipment-correct", args=[public_id]),
        {"event": corrected.pk, "action": "void", "reason": "wrong shipment"},
    )
    with tenant_context(personas.tenant.pk):
        actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"event.manual", "event.correct", "event.void"} <= actions
    # an event id of another shipment (or tenant) through this shipment's URL: 404
    response = client.post(
        reverse("ops-shipment-correct", args=[board.late.public_id]),
        {"event": event.pk, "action": "void", "reason": "x"},
    )
    assert response.status_code == 404
    # the outsider cannot reach this shipment at all
    outsider = personas.client("outsider")
    response = outsider.post(
        reverse("ops-shipment-milestone", args=[public_id]),
        {"milestone": "picked_up", "occurred_at": "2026-03-02T09:00", "reason": "x"},
    )
    assert response.status_code == 404


@covers_url("ops-shipment-upload", "ops-shipment-migrate")
def test_upload_and_migrate_refuse_foreign_shipments(board):
    outsider = board.personas.client("outsider")
    for name in ("ops-shipment-upload", "ops-shipment-migrate"):
        response = outsider.post(reverse(name, args=[board.mine.public_id]), {"reason": "x"})
        assert response.status_code == 404
    client = board.personas.client("member")
    with tenant_context(board.personas.tenant.pk):
        version = board.mine.template_version_id
    response = client.post(
        reverse("ops-shipment-migrate", args=[board.mine.public_id]),
        {"version": version, "reason": "same version, re-evaluated"},
    )
    assert response.status_code == 302
    with tenant_context(board.personas.tenant.pk):
        assert AuditLog.objects.filter(action="shipment.migrate_template").exists()


@covers_url("ops-shipment-upload")
def test_upload_stores_a_document_for_the_shipment(board):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.models import InboundMessage

    client = board.personas.client("member")
    pdf = SimpleUploadedFile("pod.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    response = client.post(
        reverse("ops-shipment-upload", args=[board.mine.public_id]),
        {"file": pdf, "document_type": "pod"},
    )
    assert response.status_code == 302
    with tenant_context(board.personas.tenant.pk):
        assert InboundMessage.objects.filter(channel="document").exists()


@covers_url("ops-integrations", "ops-analytics", "ops-analytics-csv", "ops-settings")
def test_admin_pages_by_role(board):
    personas = board.personas
    assert personas.client("admin").get(reverse("ops-settings")).status_code == 200
    assert personas.client("member").get(reverse("ops-settings")).status_code == 404
    assert personas.client("member").get(reverse("ops-integrations")).status_code == 200
    assert personas.client("sales").get(reverse("ops-integrations")).status_code == 404
    assert personas.client("finance").get(reverse("ops-analytics")).status_code == 200
    for chart in (
        "on-time-carrier",
        "on-time-lane",
        "on-time-customer",
        "volumes",
        "dwell",
        "eta-accuracy",
    ):
        response = personas.client("member").get(reverse("ops-analytics-csv", args=[chart]))
        assert response.status_code == 200, chart
        assert response["Content-Type"].startswith("text/csv")
    assert (
        personas.client("member").get(reverse("ops-analytics-csv", args=["nope"])).status_code
        == 404
    )
    assert (
        personas.client("customer").get(reverse("ops-analytics-csv", args=["volumes"])).status_code
        == 404
    )


@covers_url("ops-analytics-csv")
def test_analytics_csv_counts_own_tenant_only(board):
    from shipments.models import Shipment

    with tenant_context(board.personas.other_tenant.pk):
        Shipment.objects.filter(pk=board.theirs.pk).update(status="delivered", carrier="RIVALCO")
    with tenant_context(board.personas.tenant.pk):
        Shipment.objects.filter(pk=board.mine.pk).update(status="delivered")
    body = (
        board.personas.client("member")
        .get(reverse("ops-analytics-csv", args=["on-time-carrier"]))
        .content.decode()
    )
    assert "DHL,1,1,100.0" in body
    assert "RIVALCO" not in body


@covers_url("ops-dead-letter-replay", "ops-dead-letters-replay-all")
def test_dead_letter_replay_is_tenant_scoped(board):
    from integrations.models import DeadLetter, InboundMessage

    with tenant_context(board.personas.other_tenant.pk):
        message = InboundMessage.objects.create(channel="api", body=b"{}", sha256="0" * 64)
        letter = DeadLetter.objects.create(message=message, reason="bad segment", stage="parse")
    member = board.personas.client("member")
    assert member.post(reverse("ops-dead-letter-replay", args=[letter.pk])).status_code == 404
    assert member.post(reverse("ops-dead-letters-replay-all")).status_code == 302
    with tenant_context(board.personas.other_tenant.pk):
        assert DeadLetter.objects.get(pk=letter.pk).replay_count == 0
    outsider = board.personas.client("outsider")
    body = outsider.get(reverse("ops-integrations")).content.decode()
    assert "bad segment" in body
    assert "bad segment" not in member.get(reverse("ops-integrations")).content.decode()


@covers_url("set_language")
def test_german_pages(board):
    client = board.personas.client("member")
    client.post(reverse("set_language"), {"language": "de", "next": "/ops/"})
    body = client.get(reverse("ops-shipments")).content.decode()
    assert "Sendungen" in body
    assert 'lang="de"' in body


@covers_url("ops-shipment-milestone")
def test_typed_times_are_the_tenants_local_times(board):
    """Acme is in Europe/Berlin: 09:00 typed in March is 08:00 UTC."""
    from datetime import UTC, datetime

    client = board.personas.client("member")
    client.post(
        reverse("ops-shipment-milestone", args=[board.mine.public_id]),
        {"milestone": "picked_up", "occurred_at": "2026-03-02T09:00", "reason": "phone"},
    )
    with tenant_context(board.personas.tenant.pk):
        event = TrackingEvent.objects.get(shipment=board.mine)
    assert event.occurred_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@covers_url("ops-api-key-create", "ops-api-key-revoke")
def test_api_keys_issued_and_revoked_by_admins_of_the_tenant_only(board):
    from tenancy.models import ApiKey

    personas = board.personas
    admin = personas.client("admin")
    response = admin.post(
        reverse("ops-api-key-create"),
        {"name": "carrier feed", "scopes": ["read", "ingest"]},
        follow=True,
    )
    assert "carrier feed" in response.content.decode()
    with tenant_context(personas.tenant.pk):
        key = ApiKey.objects.get(name="carrier feed")
    assert sorted(key.scopes) == ["ingest", "read"]
    # ops (not admin) and the other tenant's admin cannot revoke it
    assert (
        personas.client("member").post(reverse("ops-api-key-revoke", args=[key.pk])).status_code
        == 404
    )
    assert (
        personas.client("outsider").post(reverse("ops-api-key-revoke", args=[key.pk])).status_code
        == 404
    )
    assert (
        personas.client("member")
        .post(reverse("ops-api-key-create"), {"name": "x", "scopes": ["read"]})
        .status_code
        == 404
    )
    assert admin.post(reverse("ops-api-key-revoke", args=[key.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        key.refresh_from_db()
    assert key.revoked_at is not None


@covers_url("ops-shipments", "ops-kpis")
def test_list_page_does_not_wait_for_uncounted_tiles(board):
    client = board.personas.client("member")
    first = client.get(reverse("ops-shipments")).content.decode()
    assert f'hx-get="{reverse("ops-kpis")}"' in first and 'data-kpi="active"' not in first
    client.get(reverse("ops-kpis"))  # counted and kept for KPI_CACHE_S
    again = client.get(reverse("ops-shipments")).content.decode()
    assert 'data-kpi="active">2<' in again

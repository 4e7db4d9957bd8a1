"""The exceptions API: filters, the lifecycle steps (audited, announced), who may do what,
customer scope, and another tenant's exceptions answering 404 like missing ones."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from integrations.exceptions.models import ShipmentException
from integrations.subscriptions.models import WebhookEvent
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]


def _post(client, name, body=None, **kwargs):
    return client.post(reverse(name, **kwargs), data=body or {}, content_type="application/json")


@pytest.fixture
def late(acme):
    s = shipment(acme.tenant, booked=ago(days=2), customer_account=acme.customer_account)
    event(acme.tenant, s, "order_created", ago(days=2))
    other = shipment(acme.tenant, booked=ago(days=2), customer_account=acme.other_customer_account)
    event(acme.tenant, other, "order_created", ago(days=2))
    [x] = exceptions(acme.tenant, shipment=s)
    return s, other, x


@covers_url("exceptions", "exception")
def test_list_filters_and_detail(acme, late):
    s, other, x = late
    ops = acme.client("ops")
    listed = ops.get(reverse("exceptions")).json()["results"]
    assert {r["shipment"] for r in listed} == {s.public_id, other.public_id}
    mine = ops.get(reverse("exceptions"), {"shipment": s.public_id}).json()["results"]
    assert [r["id"] for r in mine] == [x.public_id]
    assert mine[0]["type"] == "missed_milestone" and mine[0]["milestone"] == "picked_up"
    assert mine[0]["sla_due_at"] and mine[0]["status"] == "open"
    assert ops.get(reverse("exceptions"), {"type": "stale_feed"}).json()["results"] == []
    assert len(ops.get(reverse("exceptions"), {"severity": "major"}).json()["results"]) == 2
    assert len(ops.get(reverse("exceptions"), {"status": "unresolved"}).json()["results"]) == 2
    bad = ops.get(reverse("exceptions"), {"severity": "awful"})
    assert bad.status_code == 400 and "severity" in bad.json()["error"]["fields"]
    assert ops.get(reverse("exceptions"), {"shipment": "shp_nope"}).status_code == 404
    detail = ops.get(reverse("exception", args=[x.public_id]))
    assert detail.status_code == 200 and detail.json()["id"] == x.public_id
    # Customers see their accounts' shipments' exceptions only.
    customer = acme.client("customer")
    assert [r["id"] for r in customer.get(reverse("exceptions")).json()["results"]] == [x.public_id]
    [theirs] = exceptions(acme.tenant, shipment=other)
    assert customer.get(reverse("exception", args=[theirs.public_id])).status_code == 404
    # Another tenant: nothing, and a 404 for the id.
    outsider = acme.client("outsider")
    assert outsider.get(reverse("exceptions")).json()["results"] == []
    assert outsider.get(reverse("exception", args=[x.public_id])).status_code == 404
    assert acme.client("driver").get(reverse("exceptions")).status_code == 403


@covers_url("exception-acknowledge", "exception-assign", "exception-resolve")
def test_lifecycle_steps_are_audited_and_the_resolution_announced(acme, late):
    _, _, x = late
    ops = acme.client("ops")
    for who in ("customer", "outsider"):
        for name in ("exception-acknowledge", "exception-assign", "exception-resolve"):
            response = _post(acme.client(who), name, {"note": "x"}, args=[x.public_id])
            assert response.status_code in (403, 404), (who, name)
    acked = _post(ops, "exception-acknowledge", args=[x.public_id])
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    no_one = _post(ops, "exception-assign", {}, args=[x.public_id])
    assert no_one.status_code == 400 and "user" in no_one.json()["error"]["fields"]
    by_role = _post(ops, "exception-assign", {"role": "ops"}, args=[x.public_id])
    assert by_role.json()["status"] == "assigned"
    assert by_role.json()["assignee"] == {"user": None, "email": None, "role": "ops"}
    stranger = _post(ops, "exception-assign", {"user": acme.outsider.pk}, args=[x.public_id])
    assert stranger.status_code == 400
    by_user = _post(ops, "exception-assign", {"user": acme.member.pk}, args=[x.public_id])
    assert by_user.json()["assignee"]["user"] == acme.member.pk
    assert _post(ops, "exception-resolve", {"note": " "}, args=[x.public_id]).status_code == 400
    done = _post(ops, "exception-resolve", {"note": "Carrier called"}, args=[x.public_id])
    assert done.status_code == 200 and done.json()["resolution_note"] == "Carrier called"
    again = _post(ops, "exception-resolve", {"note": "again"}, args=[x.public_id])
    assert again.status_code == 409
    with tenant_context(acme.tenant.pk):
        actions = list(
            AuditLog.objects.filter(target_type="exception", target_id=x.public_id)
            .order_by("at", "id")
            .values_list("action", flat=True)
        )
        assert ShipmentException.objects.get(pk=x.pk).resolved_at is not None
    assert actions == [
        "exception.opened",
        "exception.acknowledged",
        "exception.assigned",
        "exception.assigned",
        "exception.resolved",
    ]


def test_opened_and_resolved_go_to_the_outbox_for_subscribers(acme):
    from integrations.subscriptions.services import subscription_create

    with tenant_context(acme.tenant.pk):
        subscription_create(
            url="https://partner.example/hook",
            event_types=["exception.opened", "exception.resolved"],
        )
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "order_created", ago(days=2))
    event(acme.tenant, s, "picked_up", ago(hours=1))
    with tenant_context(acme.tenant.pk):
        rows = list(WebhookEvent.objects.order_by("id").values_list("type", "body"))
    ours = [(t, json.loads(b)) for t, b in rows if t.startswith("exception.")]
    seen = [(t, body["data"]["exception"]["type"]) for t, body in ours]
    # The pickup resolves the missed pickup and opens the (now late) departure.
    assert sorted(seen) == [
        ("exception.opened", "delayed_departure"),
        ("exception.opened", "missed_milestone"),
        ("exception.resolved", "missed_milestone"),
    ]
    assert ours[0][1]["data"]["shipment"]["id"] == s.public_id


@covers_url("exception-assign", "exception-resolve")
def test_another_tenants_exception_is_a_404_whatever_the_body(acme, late):
    """The id is looked up before the body is read: a bad body must not tell another
    tenant's exception (400) from a missing one (404)."""
    _, _, x = late
    outsider = acme.client("outsider")
    for name, body in (("exception-resolve", {"note": "\x00"}), ("exception-assign", {})):
        response = outsider.post(
            reverse(name, args=[x.public_id]), data=body, content_type="application/json"
        )
        assert response.status_code == 404, (name, response.content)
        # ... while on one's own exception the same body is a 400 naming the field.
        own = acme.client("ops").post(
            reverse(name, args=[x.public_id]), data=body, content_type="application/json"
        )
        assert own.status_code == 400, (name, own.content)

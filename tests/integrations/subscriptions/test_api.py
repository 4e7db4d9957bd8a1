"""The partner webhooks API: who may do what (every persona, every kind of key), another
tenant's webhooks answer 404 like missing ones, a key limited to customer accounts sees only
its own webhooks and its accounts' events, URLs refused at save time with the field named,
the secret shown once, the test event, the delivery log and replays."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from standardwebhooks import Webhook

from integrations.subscriptions.models import Delivery, DeliveryStatus, Subscription
from integrations.subscriptions.outbox import OutboxItem, outbox_record
from tenancy.context import tenant_context
from tenancy.models import AuditLog, CustomerAccount
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.integrations.subscriptions.factories import subscription_for
from tests.shipments.factories import ShipmentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

LIST = "api-webhooks"
DETAIL = "api-webhook-detail"
TEST = "api-webhook-test"
ROTATE = "api-webhook-rotate-secret"
DELIVERIES = "api-webhook-deliveries"
REPLAY = "api-webhook-delivery-replay"
REPLAY_FAILED = "api-webhook-deliveries-replay-failed"
URL = "https://hooks.partner.example/milepost"
NEW = {"url": URL, "event_types": ["shipment.delivered", "milestone.reached"]}


def _key(tenant, scopes, accounts=()) -> Client:
    with tenant_context(tenant.pk):
        found = list(CustomerAccount.objects.filter(pk__in=[a.pk for a in accounts]))
        raw = api_key_issue(name="partner", scopes=scopes, customer_accounts=found).raw_key
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _post(client, name, args=(), data=None):
    return client.post(
        reverse(name, args=args),
        data=data if data is not None else {},
        content_type="application/json",
    )


def _failed_delivery(tenant, subscription, shipment=None) -> Delivery:
    with tenant_context(tenant.pk):
        [delivery_id] = outbox_record(
            items=[
                OutboxItem(
                    event_type="milestone.reached",
                    data={"milestone": {"code": "picked_up"}},
                    shipment_id=shipment.pk if shipment else None,
                )
            ],
            subscription_ids=[subscription.pk],
        )
        Delivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, last_status_code=500
        )
        return Delivery.objects.get(pk=delivery_id)


def _every_id_endpoint(client, subscription, delivery) -> dict[str, int]:
    s, d = subscription.pk, delivery.pk
    return {
        "detail": client.get(reverse(DETAIL, args=[s])).status_code,
        "patch": client.patch(
            reverse(DETAIL, args=[s]), {"description": "x"}, content_type="application/json"
        ).status_code,
        "test": _post(client, TEST, [s]).status_code,
        "rotate": _post(client, ROTATE, [s]).status_code,
        "deliveries": client.get(reverse(DELIVERIES, args=[s])).status_code,
        "replay": _post(client, REPLAY, [s, d]).status_code,
        "replay_failed": _post(client, REPLAY_FAILED, [s]).status_code,
        "delete": client.delete(reverse(DETAIL, args=[s])).status_code,
    }


@covers_url(LIST, DETAIL)
def test_staff_create_read_update_and_delete_and_the_secret_is_shown_once(acme):
    client = acme.client("admin")
    created = _post(client, LIST, data=NEW | {"description": "ERP"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["url"] == URL and body["event_types"] == sorted(NEW["event_types"])
    assert body["is_active"] is True and body["customer_accounts"] == []
    webhook_id = body["id"]
    listing = client.get(reverse(LIST))
    assert [w["id"] for w in listing.json()["results"]] == [webhook_id]
    detail = client.get(reverse(DETAIL, args=[webhook_id]))
    assert detail.status_code == 200
    for response in (listing, detail):
        assert body["secret"] not in response.content.decode()
    assert "secret" not in detail.json() and "secret" not in listing.json()["results"][0]
    changed = acme.client("ops").patch(
        reverse(DETAIL, args=[webhook_id]),
        {"event_types": ["eta.changed"], "is_active": False},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert changed.json()["event_types"] == ["eta.changed"]
    assert changed.json()["is_active"] is False
    assert changed.json()["disabled_reason"] == "disabled by a user"
    assert client.delete(reverse(DETAIL, args=[webhook_id])).status_code == 204
    assert client.get(reverse(DETAIL, args=[webhook_id])).status_code == 404
    with tenant_context(acme.tenant.pk):
        actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"webhook.create", "webhook.update", "webhook.delete"} <= actions


@covers_url(LIST, DETAIL)
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://localhost/hook", "localhost"),
        ("https://127.0.0.1:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[::1]/hook", "loopback"),
        ("https://2130706433/hook", "loopback"),
        ("http://hooks.partner.example/hook", "https"),
        ("ftp://hooks.partner.example/hook", "https"),
        ("https://user:pw@hooks.partner.example/hook", "credentials"),
    ],
)
def test_refused_urls_are_a_field_error_at_save_time_before_any_lookup(
    acme, edge, settings, url, why
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    client = acme.client("admin")
    response = _post(client, LIST, data=NEW | {"url": url})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["url"], error
    existing = subscription_for(acme.tenant, URL)
    patched = client.patch(
        reverse(DETAIL, args=[existing.pk]), {"url": url}, content_type="application/json"
    )
    assert patched.status_code == 400 and list(patched.json()["error"]["fields"]) == ["url"]
    assert edge.lookups == [] and edge.connects == []
    with tenant_context(acme.tenant.pk):
        assert list(Subscription.objects.values_list("url", flat=True)) == [URL]


@covers_url(LIST)
def test_plain_http_is_accepted_inside_the_allowed_networks_only(acme, settings):
    client = acme.client("admin")
    local = _post(client, LIST, data=NEW | {"url": "http://127.0.0.1:9999/hook"})
    assert local.status_code == 201, local.content
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert _post(client, LIST, data=NEW | {"url": "http://127.0.0.1:9999/hook"}).status_code == 400


@covers_url(LIST)
@pytest.mark.parametrize(
    "body",
    [
        {"url": URL, "event_types": []},
        {"url": URL, "event_types": ["shipment.exploded"]},
        {"url": URL},
        {"event_types": ["eta.changed"]},
        {"url": "not a url", "event_types": ["eta.changed"]},
        {"url": URL, "event_types": ["eta.changed"], "description": "nul\x00"},
    ],
)
def test_invalid_bodies_name_the_field(acme, body):
    response = _post(acme.client("ops"), LIST, data=body)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


@covers_url(LIST, DETAIL, TEST, ROTATE, DELIVERIES, REPLAY, REPLAY_FAILED)
@pytest.mark.parametrize("who", ["sales", "finance", "customer", "driver", "anonymous"])
def test_other_roles_and_anonymous_are_refused_everywhere(acme, who):
    subscription = subscription_for(acme.tenant, URL)
    delivery = _failed_delivery(acme.tenant, subscription)
    client = acme.client(who)
    assert client.get(reverse(LIST)).status_code in (401, 403)
    assert _post(client, LIST, data=NEW).status_code in (401, 403)
    assert set(_every_id_endpoint(client, subscription, delivery).values()) <= {401, 403}
    with tenant_context(acme.tenant.pk):
        assert Subscription.objects.get().secret == subscription.secret


@covers_url(LIST, DETAIL, TEST, ROTATE, DELIVERIES, REPLAY, REPLAY_FAILED)
def test_another_tenants_webhooks_answer_404_like_missing_ones(acme):
    subscription = subscription_for(acme.tenant, URL)
    delivery = _failed_delivery(acme.tenant, subscription)
    for client in (acme.client("outsider"), _key(acme.other_tenant, ["read", "write"])):
        assert client.get(reverse(LIST)).json()["results"] == []
        answers = _every_id_endpoint(client, subscription, delivery)
        assert set(answers.values()) == {404}, answers
    # The owner's own answers, for contrast (delete last).
    answers = _every_id_endpoint(acme.client("admin"), subscription, delivery)
    assert answers == {
        "detail": 200,
        "patch": 200,
        "test": 202,
        "rotate": 200,
        "deliveries": 200,
        "replay": 202,
        "replay_failed": 202,
        "delete": 204,
    }


@covers_url(LIST, DETAIL, TEST, DELIVERIES)
def test_key_scopes_read_looks_write_changes(acme):
    subscription = subscription_for(acme.tenant, URL)
    reader, writer, ingest = (
        _key(acme.tenant, ["read"]),
        _key(acme.tenant, ["write"]),
        _key(acme.tenant, ["ingest"]),
    )
    assert reader.get(reverse(LIST)).status_code == 200
    assert reader.get(reverse(DELIVERIES, args=[subscription.pk])).status_code == 200
    assert _post(reader, LIST, data=NEW).status_code == 403
    assert _post(reader, TEST, [subscription.pk]).status_code == 403
    assert reader.delete(reverse(DETAIL, args=[subscription.pk])).status_code == 403
    assert ingest.get(reverse(LIST)).status_code == 403
    created = _post(writer, LIST, data=NEW)
    assert created.status_code == 201
    assert writer.get(reverse(DETAIL, args=[created.json()["id"]])).status_code == 200


@covers_url(LIST, DETAIL, TEST, ROTATE, DELIVERIES, REPLAY, REPLAY_FAILED)
def test_a_customer_limited_key_sees_only_its_own_webhooks_and_its_accounts_events(acme):
    staff_subscription = subscription_for(acme.tenant, URL)
    staff_delivery = _failed_delivery(acme.tenant, staff_subscription)
    limited = _key(acme.tenant, ["read", "write"], [acme.customer_account])
    created = _post(limited, LIST, data=NEW)
    assert created.status_code == 201
    own = created.json()
    assert own["customer_accounts"] == [acme.customer_account.pk]
    assert [w["id"] for w in limited.get(reverse(LIST)).json()["results"]] == [own["id"]]
    # The staff's webhook (and its deliveries) is someone else's: 404 everywhere.
    answers = _every_id_endpoint(limited, staff_subscription, staff_delivery)
    assert set(answers.values()) == {404}, answers
    # Another limited key of the same tenant does not see this one either.
    other = _key(acme.tenant, ["read", "write"], [acme.customer_account])
    assert other.get(reverse(DETAIL, args=[own["id"]])).status_code == 404
    # Its webhook gets only events of its accounts' shipments.
    with tenant_context(acme.tenant.pk):
        subscription = Subscription.objects.get(pk=own["id"])
    mine = ShipmentFactory(tenant=acme.tenant, customer_account=acme.customer_account)
    theirs = ShipmentFactory(tenant=acme.tenant, customer_account=acme.other_customer_account)
    with tenant_context(acme.tenant.pk):
        for shipment in (mine, theirs):
            outbox_record(
                items=[
                    OutboxItem(
                        event_type="milestone.reached",
                        data={"milestone": {"code": "picked_up"}},
                        shipment_id=shipment.pk,
                    )
                ]
            )
    log = limited.get(reverse(DELIVERIES, args=[own["id"]])).json()["results"]
    assert len(log) == 1
    with tenant_context(acme.tenant.pk):
        [event_shipment] = Delivery.objects.filter(subscription=subscription).values_list(
            "event__shipment_id", flat=True
        )
    assert event_shipment == mine.pk
    # Its own webhook works for it, and its test event shows in its log.
    assert _post(limited, TEST, [own["id"]]).status_code == 202
    log = limited.get(reverse(DELIVERIES, args=[own["id"]])).json()["results"]
    assert [d["event_type"] for d in log] == ["webhook.test", "milestone.reached"]
    assert _post(limited, ROTATE, [own["id"]]).status_code == 200
    assert _post(limited, REPLAY_FAILED, [own["id"]]).status_code == 202
    failed = _failed_delivery(acme.tenant, subscription, mine)
    assert _post(limited, REPLAY, [own["id"], failed.pk]).status_code == 202
    assert limited.delete(reverse(DETAIL, args=[own["id"]])).status_code == 204


@covers_url(TEST, DELIVERIES)
def test_the_test_event_reaches_the_receiver_signed(
    acme, receiver, eager_celery, django_capture_on_commit_callbacks
):
    client = acme.client("admin")
    created = _post(client, LIST, data=NEW | {"url": receiver.url}).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, TEST, [created["id"]])
    assert response.status_code == 202, response.content
    assert response.json()["event_type"] == "webhook.test"
    [(_, _, headers, body)] = receiver.requests
    assert headers["webhook-id"] == response.json()["webhook_id"]
    payload = Webhook(created["secret"]).verify(body, headers)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["webhook"] == {"id": str(created["id"])}
    [logged] = client.get(reverse(DELIVERIES, args=[created["id"]])).json()["results"]
    assert logged["status"] == "succeeded" and logged["last_status_code"] == 200
    [attempt] = logged["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["latency_ms"] >= 0
    # A disabled webhook is not tested.
    client.patch(
        reverse(DETAIL, args=[created["id"]]), {"is_active": False}, content_type="application/json"
    )
    refused = _post(client, TEST, [created["id"]])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "webhook_disabled"


@covers_url(DELIVERIES)
def test_the_delivery_log_pages_filters_and_costs_the_same_per_page(
    acme, django_assert_max_num_queries
):
    subscription = subscription_for(acme.tenant, URL)
    failed = [_failed_delivery(acme.tenant, subscription) for _ in range(3)]
    with tenant_context(acme.tenant.pk):
        outbox_record(
            items=[OutboxItem(event_type="eta.changed", data={}) for _ in range(52)],
            subscription_ids=[subscription.pk],
        )
    client = acme.client("ops")
    url = reverse(DELIVERIES, args=[subscription.pk])
    # The whole request, the session's resolution included (each signed tenant context costs
    # its binding, its setting and, nested in the test's transaction, its clearing).
    with django_assert_max_num_queries(20):
        first = client.get(url).json()
    assert len(first["results"]) == 50 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    ids = [d["id"] for d in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 55
    only_failed = client.get(url, {"status": "failed"}).json()["results"]
    assert sorted(d["id"] for d in only_failed) == sorted(d.pk for d in failed)
    typed = client.get(url, {"event_type": "milestone.reached"}).json()["results"]
    assert len(typed) == 3
    for bad in ({"status": "lost"}, {"cursor": "garbage"}, {"event_type": "x"}):
        response = client.get(url, bad)
        assert response.status_code == 400 and list(response.json()["error"]["fields"]) == [
            next(iter(bad))
        ]


@covers_url(REPLAY, REPLAY_FAILED, ROTATE)
def test_replays_and_rotation(acme):
    subscription = subscription_for(acme.tenant, URL)
    failed = _failed_delivery(acme.tenant, subscription)
    client = acme.client("ops")
    replayed = _post(client, REPLAY, [subscription.pk, failed.pk])
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    assert replayed.json()["webhook_id"] == failed.message_id
    again = _post(client, REPLAY, [subscription.pk, failed.pk])
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_failed"
    more = [_failed_delivery(acme.tenant, subscription) for _ in range(2)]
    assert _post(client, REPLAY_FAILED, [subscription.pk]).json() == {"replayed": 2}
    with tenant_context(acme.tenant.pk):
        statuses = set(
            Delivery.objects.filter(pk__in=[d.pk for d in more]).values_list("status", flat=True)
        )
    assert statuses == {DeliveryStatus.PENDING}
    future = _post(client, REPLAY_FAILED, [subscription.pk], {"since": "2999-01-01T00:00:00Z"})
    assert future.json() == {"replayed": 0}
    assert (
        _post(client, REPLAY_FAILED, [subscription.pk], {"since": "yesterday"}).status_code == 400
    )
    rotated = _post(client, ROTATE, [subscription.pk])
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != subscription.secret
    assert rotated.json()["previous_secret_expires_at"] is not None

"""Deliveries to a local receiver (127.0.0.1 only): signed so that `standardwebhooks` verifies
them, retried on the schedule with the same webhook-id, 410 disables the subscription,
429/503 wait for Retry-After, timeouts are bounded, failed deliveries can be replayed, and the
SSRF guard refuses private destinations before any connection."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from integrations.subscriptions import delivery, services, tasks
from integrations.subscriptions.models import (
    Delivery,
    DeliveryStatus,
    Subscription,
)
from integrations.subscriptions.outbox import OutboxItem, outbox_record
from tenancy.context import tenant_context
from tests.integrations.netstub import StubServer, send
from tests.integrations.subscriptions.factories import subscription_for

pytestmark = pytest.mark.django_db


def _record(tenant, subscription, event_type="shipment.updated", data=None) -> Delivery:
    with tenant_context(tenant.pk):
        [delivery_id] = outbox_record(
            items=[OutboxItem(event_type=event_type, data=data or {"hello": "partner"})],
            subscription_ids=[subscription.pk],
        )
        return Delivery.objects.select_related("event").get(pk=delivery_id)


def _send(tenant, d: Delivery) -> delivery.Result | None:
    return delivery.delivery_send(tenant_id=tenant.pk, delivery_id=d.pk)


def _due_now(tenant, d: Delivery) -> None:
    """As if the wait had passed."""
    with tenant_context(tenant.pk):
        Delivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now())


def _state(tenant, d: Delivery) -> Delivery:
    with tenant_context(tenant.pk):
        return Delivery.objects.prefetch_related("attempt_log").get(pk=d.pk)


def test_a_delivery_is_signed_so_that_standardwebhooks_verifies_it(acme, receiver):
    subscription = subscription_for(acme.tenant, receiver.url)
    d = _record(acme.tenant, subscription, data={"n": 1, "text": "Zürich → Köln"})
    result = _send(acme.tenant, d)
    assert result.status == DeliveryStatus.SUCCEEDED
    [(method, path, headers, body)] = receiver.requests
    assert (method, path) == ("POST", "/hooks/milepost")
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == d.message_id
    assert body == d.event.body.encode()
    payload = Webhook(subscription.secret).verify(body, headers)
    assert payload["type"] == "shipment.updated"
    assert payload["data"] == {"n": 1, "text": "Zürich → Köln"}
    assert payload["timestamp"].endswith("Z")
    done = _state(acme.tenant, d)
    assert done.status == DeliveryStatus.SUCCEEDED and done.delivered_at is not None
    [attempt] = done.attempt_log.all()
    assert attempt.status_code == 200 and attempt.latency_ms is not None


def test_failures_are_retried_on_the_schedule_with_the_same_id_and_bytes(acme, receiver):
    receiver.answer(500, 502, 200)
    subscription = subscription_for(acme.tenant, receiver.url)
    d = _record(acme.tenant, subscription)
    first = _send(acme.tenant, d)
    assert first.status == DeliveryStatus.PENDING
    assert 4.5 <= first.retry_in_s <= 5.5
    assert _send(acme.tenant, d) is None  # not due yet: nothing is sent
    _due_now(acme.tenant, d)
    second = _send(acme.tenant, d)
    assert second.status == DeliveryStatus.PENDING and 270 <= second.retry_in_s <= 330
    _due_now(acme.tenant, d)
    assert _send(acme.tenant, d).status == DeliveryStatus.SUCCEEDED
    ids = {headers["webhook-id"] for _, _, headers, _ in receiver.requests}
    bodies = {body for *_, body in receiver.requests}
    assert ids == {d.message_id} and len(bodies) == 1 and len(receiver.requests) == 3
    log = list(_state(acme.tenant, d).attempt_log.all())
    assert [a.status_code for a in log] == [500, 502, 200]
    assert log[0].error == "HTTP 500 Internal Server Error"


def test_after_the_tenth_failure_the_delivery_fails_and_can_be_replayed(acme, receiver):
    receiver.answer(500)
    subscription = subscription_for(acme.tenant, receiver.url)
    d = _record(acme.tenant, subscription)
    waits = []
    for _ in range(10):
        _due_now(acme.tenant, d)
        result = _send(acme.tenant, d)
        waits.append(result.retry_in_s)
    assert result.status == DeliveryStatus.FAILED and waits[-1] is None
    bases = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert all(b * 0.9 <= w <= b * 1.1 for b, w in zip(bases, waits[:-1], strict=True))
    assert _send(acme.tenant, d) is None  # failed: nothing more goes out by itself
    receiver.answer(200)
    with tenant_context(acme.tenant.pk):
        replayed = services.delivery_replay(delivery=_state(acme.tenant, d))
    assert replayed.status == DeliveryStatus.PENDING
    assert _send(acme.tenant, d).status == DeliveryStatus.SUCCEEDED
    assert {h["webhook-id"] for _, _, h, _ in receiver.requests} == {d.message_id}
    assert len(receiver.requests) == 11


def test_410_gone_disables_the_subscription_and_stops_its_deliveries(acme, receiver):
    receiver.answer(410)
    subscription = subscription_for(acme.tenant, receiver.url)
    gone, waiting = _record(acme.tenant, subscription), _record(acme.tenant, subscription)
    assert _send(acme.tenant, gone).status == DeliveryStatus.FAILED
    with tenant_context(acme.tenant.pk):
        subscription.refresh_from_db()
        assert not subscription.is_active
        assert "410" in subscription.disabled_reason
        # No new events for it.
        assert outbox_record(items=[OutboxItem(event_type="shipment.updated", data={})]) == []
    assert _send(acme.tenant, waiting) is None
    assert _state(acme.tenant, waiting).status == DeliveryStatus.FAILED
    assert _state(acme.tenant, waiting).last_error == "the subscription is disabled"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_wait_at_least_retry_after(acme, receiver, status):
    receiver.answer((status, {"Retry-After": "600"}), 200)
    subscription = subscription_for(acme.tenant, receiver.url)
    d = _record(acme.tenant, subscription)
    result = _send(acme.tenant, d)
    assert result.status == DeliveryStatus.PENDING and result.retry_in_s == 600
    state = _state(acme.tenant, d)
    [attempt] = state.attempt_log.all()
    assert attempt.status_code == status and attempt.retry_after_s == 600
    assert timedelta(seconds=590) < state.next_attempt_at - timezone.now() <= timedelta(seconds=600)


def test_a_slow_receiver_is_cut_off_at_the_timeout(acme, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT_S", 0.5)
    release = threading.Event()

    def stall(handler):
        release.wait(5)
        send(handler, 200, b"late")

    server = StubServer(stall)
    try:
        subscription = subscription_for(acme.tenant, f"{server.url}/slow")
        d = _record(acme.tenant, subscription)
        started = time.monotonic()
        result = _send(acme.tenant, d)
        assert time.monotonic() - started < 2
    finally:
        release.set()
        server.close()
    assert result.status == DeliveryStatus.PENDING
    assert "timed out" in _state(acme.tenant, d).last_error


def test_redirects_are_not_followed(acme, receiver):
    receiver.answer((307, {"Location": "http://127.0.0.1:9/elsewhere"}))
    d = _record(acme.tenant, subscription_for(acme.tenant, receiver.url))
    assert _send(acme.tenant, d).status == DeliveryStatus.PENDING
    assert "redirect" in _state(acme.tenant, d).last_error
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "192.168.1.1", "::1"])
def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(
    acme, edge, address
):
    edge.answer("hooks.partner.example", address)
    subscription = subscription_for(acme.tenant, "https://hooks.partner.example/in")
    d = _record(acme.tenant, subscription)
    assert _send(acme.tenant, d).status == DeliveryStatus.PENDING
    assert edge.lookups == ["hooks.partner.example"]
    assert edge.connects == []  # refused before any connection
    assert "destination refused" in _state(acme.tenant, d).last_error


def test_plain_http_outside_the_allowed_networks_is_refused_before_connecting(acme, edge, settings):
    edge.answer("hooks.partner.example", "93.184.216.34")
    subscription = subscription_for(acme.tenant, "http://hooks.partner.example/in")
    d = _record(acme.tenant, subscription)
    assert _send(acme.tenant, d).status == DeliveryStatus.PENDING
    assert edge.connects == []
    assert "http" in _state(acme.tenant, d).last_error


def test_loopback_is_refused_when_not_allowed(acme, receiver, edge, settings):
    subscription = subscription_for(acme.tenant, receiver.url)
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    d = _record(acme.tenant, subscription)
    assert _send(acme.tenant, d).status == DeliveryStatus.PENDING
    assert edge.connects == [] and receiver.requests == []


def test_a_rotation_signs_with_both_secrets_until_the_old_one_expires(acme, receiver):
    subscription = subscription_for(acme.tenant, receiver.url)
    old = subscription.secret
    with tenant_context(acme.tenant.pk):
        rotated = services.subscription_rotate_secret(subscription=subscription)
    assert rotated.secret != old
    _send(acme.tenant, _record(acme.tenant, subscription))
    *_, headers, body = receiver.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) and Webhook(rotated.secret).verify(body, headers)
    with tenant_context(acme.tenant.pk):
        Subscription.objects.filter(pk=subscription.pk).update(
            previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
        )
    _send(acme.tenant, _record(acme.tenant, subscription))
    *_, headers, body = receiver.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert Webhook(rotated.secret).verify(body, headers)


def test_a_lost_worker_is_retried_by_the_sweep_with_the_same_id(acme, receiver):
    subscription = subscription_for(acme.tenant, receiver.url)
    d = _record(acme.tenant, subscription)
    with tenant_context(acme.tenant.pk):
        job = delivery.delivery_claim(delivery_id=d.pk)  # … and the worker dies here
        assert delivery.delivery_claim(delivery_id=d.pk) is None  # nobody else takes it
        Delivery.objects.filter(pk=d.pk).update(
            claimed_at=timezone.now() - timedelta(seconds=delivery.STALE_AFTER_S + 1)
        )
    assert job is not None
    counts = tasks.sweep.apply(kwargs={"overdue_s": -60}).get()
    assert counts[acme.tenant.pk] == 1
    state = _state(acme.tenant, d)
    assert state.status == DeliveryStatus.PENDING
    assert [a.error for a in state.attempt_log.all()] == [delivery.WORKER_LOST]
    _due_now(acme.tenant, d)
    assert _send(acme.tenant, d).status == DeliveryStatus.SUCCEEDED
    assert [h["webhook-id"] for _, _, h, _ in receiver.requests] == [d.message_id]


def test_replay_failed_sends_every_failed_delivery_again(acme, receiver):
    receiver.answer(200)
    subscription = subscription_for(acme.tenant, receiver.url)
    failed = [_record(acme.tenant, subscription) for _ in range(3)]
    fine = _record(acme.tenant, subscription)
    with tenant_context(acme.tenant.pk):
        Delivery.objects.filter(pk__in=[f.pk for f in failed]).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None
        )
        assert services.deliveries_replay_failed(subscription=subscription) == 3
        assert services.deliveries_replay_failed(subscription=subscription) == 0
    for d in (*failed, fine):
        assert _send(acme.tenant, d).status == DeliveryStatus.SUCCEEDED
    assert len({h["webhook-id"] for _, _, h, _ in receiver.requests}) == 4


def test_the_task_sends_after_commit_and_a_lost_enqueue_is_found_by_the_sweep(
    acme, receiver, eager_celery, django_capture_on_commit_callbacks, monkeypatch
):
    subscription = subscription_for(acme.tenant, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        d = _record(acme.tenant, subscription)
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0][3])["data"] == {"hello": "partner"}

    def broker_down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(tasks.deliver, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        lost = _record(acme.tenant, subscription)  # the enqueue fails after commit
    assert len(receiver.requests) == 1
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep.apply(kwargs={"overdue_s": -60})
    assert len(receiver.requests) == 2
    assert receiver.requests[1][2]["webhook-id"] == lost.message_id != d.message_id


def test_old_events_are_purged_by_the_sweep_unless_still_under_way(acme, receiver):
    from integrations.subscriptions.models import WebhookEvent

    subscription = subscription_for(acme.tenant, receiver.url)
    done, under_way, recent = (_record(acme.tenant, subscription) for _ in range(3))
    with tenant_context(acme.tenant.pk):
        Delivery.objects.filter(pk=done.pk).update(status=DeliveryStatus.SUCCEEDED)
        old = timezone.now() - timedelta(days=31)
        WebhookEvent.objects.filter(pk__in=[done.event_id, under_way.event_id]).update(
            created_at=old
        )
    tasks.sweep.apply(kwargs={"overdue_s": 3600})
    with tenant_context(acme.tenant.pk):
        left = set(WebhookEvent.objects.values_list("pk", flat=True))
        assert left == {under_way.event_id, recent.event_id}
        assert not Delivery.objects.filter(pk=done.pk).exists()

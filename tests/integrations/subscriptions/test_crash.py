"""A worker killed in the middle of a delivery loses nothing and sends nothing under another id.

A real Celery worker (the one of tests/integrations/test_crash.py) sends a shipment.created
event to a local receiver that holds the first request open; the test kills the whole worker
with SIGKILL while the receiver has the request, starts a new one, and runs the beat sweep as
beat would. The delivery ends delivered, the receiver saw the same webhook-id and the same
bytes both times, and the log shows the lost attempt.
"""

from __future__ import annotations

import threading
import time

import pytest

from config.celery import app
from integrations.subscriptions import delivery, tasks
from integrations.subscriptions.models import Delivery, DeliveryStatus, WebhookEvent
from tenancy.context import tenant_context
from tenancy.services import tenant_create
from tests.integrations.netstub import StubServer, send
from tests.integrations.subscriptions.factories import subscription_for
from tests.integrations.test_crash import Worker
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def test_a_worker_killed_mid_delivery_loses_nothing_and_resends_under_the_same_id():
    held = threading.Event()
    first = threading.Event()

    def respond(handler):
        if not first.is_set():
            first.set()
            held.wait(30)  # the worker dies while this request is open
        send(handler, 200, b"ok")

    receiver = StubServer(respond)
    tenant = tenant_create(slug="webhook-crash", name="Webhook crash")
    subscription_for(tenant, f"{receiver.url}/in", ["shipment.created"])
    app.control.purge()
    worker = Worker()
    worker.env["WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
    worker.start()
    try:
        ShipmentFactory(tenant=tenant, reference="CRASH-1")  # commits: the task is queued
        assert _wait(first.is_set, 60), "the worker never sent the delivery"
        worker.kill_all()
        held.set()
        worker.start()
        with tenant_context(tenant.pk):
            [sending] = Delivery.objects.all()
            assert sending.status == DeliveryStatus.SENDING  # nothing recorded its outcome

        def delivered() -> bool:
            worker.supervise()
            # What beat does every 30 s, with a short lease for the test.
            tasks.sweep.apply(kwargs={"stale_after_s": 1, "overdue_s": 0})
            with tenant_context(tenant.pk):
                return Delivery.objects.get().status == DeliveryStatus.SUCCEEDED

        assert _wait(delivered, 90, step=1), "the delivery was never completed"
    finally:
        worker.stop()
        held.set()
        receiver.close()
    with tenant_context(tenant.pk):
        [done] = Delivery.objects.prefetch_related("attempt_log").all()
        [event] = WebhookEvent.objects.all()
        log = [(a.status_code, a.error) for a in done.attempt_log.all()]
    ids = [headers["webhook-id"] for _, _, headers, _ in receiver.requests]
    bodies = {body for *_, body in receiver.requests}
    assert ids == [done.message_id, done.message_id], ids
    assert bodies == {event.body.encode()}
    assert log == [(None, delivery.WORKER_LOST), (200, "")]
    assert done.attempts == 2

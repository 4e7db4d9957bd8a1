"""Interactive messages (one shipment's events from the API, a driver's scan) take their own
queue and are processed alone: never behind, nor inside, a bulk batch (integrations.tasks).

The queues are real (the test broker's Redis); nothing of the pipeline or the tasks is patched.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from integrations.models import InboundMessage, MessageStatus
from integrations.services import message_store
from integrations.tasks import process_message, requeue_stale
from tenancy.context import tenant_context
from tests.shipments.api_fixtures import Api
from tests.shipments.api_fixtures import api as api

EVENT = {"milestone": "picked_up", "occurred_at": "2026-03-02T09:00:00+01:00", "classifier": "ACT"}


@pytest.fixture
def queues(settings):
    """Private names for both queues; what was sent to each, as task kwargs."""
    run = uuid.uuid4().hex[:8]
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-bulk-{run}"
    settings.CELERY_INTERACTIVE_QUEUE = f"test-interactive-{run}"
    names = {"bulk": settings.CELERY_TASK_DEFAULT_QUEUE}
    names["interactive"] = settings.CELERY_INTERACTIVE_QUEUE

    def sent(which: str) -> list[dict]:
        with app.connection_for_write() as connection:
            raw = connection.default_channel.client.lrange(names[which], 0, -1)
        out = []
        for item in raw:
            message = json.loads(item)
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            out.append(kwargs)
        return out

    yield sent
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(*names.values())


def _message(api: Api, response) -> InboundMessage:
    assert response.status_code == 202, response.content
    with tenant_context(api.personas.tenant.pk):
        return InboundMessage.objects.get(pk=response.json()["message_id"])


@pytest.mark.django_db
def test_one_shipments_events_go_to_the_interactive_queue_and_bulk_events_do_not(
    api: Api, queues, django_capture_on_commit_callbacks
):
    client = api.client("full")
    with django_capture_on_commit_callbacks(execute=True):
        one = client.post(
            f"/api/v1/shipments/{api.mine.public_id}/events/",
            {"events": [EVENT | {"dedupe_key": "i-1"}]},
            format="json",
        )
    with tenant_context(api.personas.tenant.pk):
        reference = api.mine.references.values_list("value", flat=True).first()
    with django_capture_on_commit_callbacks(execute=True):
        many = client.post(
            "/api/v1/events/",
            {"events": [EVENT | {"reference": reference, "dedupe_key": "b-1"}]},
            format="json",
        )
    interactive, bulk = _message(api, one), _message(api, many)
    assert interactive.interactive and not bulk.interactive
    assert queues("interactive") == [
        {"tenant_id": interactive.tenant_id, "message_id": interactive.pk, "interactive": True}
    ]
    assert queues("bulk") == [
        {"tenant_id": bulk.tenant_id, "message_id": bulk.pk, "interactive": False}
    ]


@pytest.mark.django_db
def test_many_events_of_one_shipment_are_a_bulk_load(
    api: Api, queues, django_capture_on_commit_callbacks
):
    from integrations.events.services import INTERACTIVE_MAX_EVENTS

    events = [EVENT | {"dedupe_key": f"m-{n}"} for n in range(INTERACTIVE_MAX_EVENTS + 1)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.client("full").post(
            f"/api/v1/shipments/{api.mine.public_id}/events/", {"events": events}, format="json"
        )
    assert not _message(api, response).interactive
    assert queues("interactive") == [] and len(queues("bulk")) == 1


def _store(tenant_id: int, *, interactive: bool, key: str) -> int:
    body = json.dumps({"events": [EVENT | {"dedupe_key": key}]}).encode()
    with tenant_context(tenant_id):
        return message_store(
            integration=None,
            channel="upload",
            body=body,
            format_hint="api_events",
            interactive=interactive,
        ).pk


def _statuses(tenant_id: int, *ids: int) -> list[str]:
    with tenant_context(tenant_id):
        found = dict(InboundMessage.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [found[pk] for pk in ids]


@pytest.mark.django_db
def test_an_interactive_message_is_processed_alone_and_never_joins_a_bulk_batch(api: Api):
    tenant_id = api.personas.tenant.pk
    bulk = [_store(tenant_id, interactive=False, key=f"bulk-{n}") for n in range(3)]
    mine = _store(tenant_id, interactive=True, key="mine")
    # The interactive task takes nothing else of the tenant's into its batch...
    process_message.apply(
        kwargs={"tenant_id": tenant_id, "message_id": mine, "interactive": True}
    ).get()
    assert _statuses(tenant_id, mine) != [MessageStatus.RECEIVED]
    assert _statuses(tenant_id, *bulk) == [MessageStatus.RECEIVED] * 3
    # ...and a bulk task takes every waiting bulk message, but no interactive one.
    other = _store(tenant_id, interactive=True, key="other")
    process_message.apply(kwargs={"tenant_id": tenant_id, "message_id": bulk[0]}).get()
    assert MessageStatus.RECEIVED not in _statuses(tenant_id, *bulk)
    assert _statuses(tenant_id, other) == [MessageStatus.RECEIVED]


@pytest.mark.django_db
def test_stale_interactive_messages_are_requeued_on_the_interactive_queue(api: Api, queues):
    tenant_id = api.personas.tenant.pk
    mine = _store(tenant_id, interactive=True, key="stale-i")
    bulk = _store(tenant_id, interactive=False, key="stale-b")
    with tenant_context(tenant_id):
        InboundMessage.objects.filter(pk__in=[mine, bulk]).update(
            received_at=timezone.now() - timedelta(minutes=30)
        )
    requeue_stale.apply().get()
    assert {m["message_id"] for m in queues("interactive")} == {mine}
    assert bulk in {m["message_id"] for m in queues("bulk")}

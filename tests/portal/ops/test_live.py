"""The dashboard's websockets: permission before any join, one shipment's group, the customer
account groups, and resuming after a reconnect from the last sequence number."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.asgi import application
from shipments.live import customer_group, shipment_group
from tenancy.consumers import tenant_group
from tenancy.realtime import send_now
from tests.portal.ops.conftest import make_board

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(client=None):
    headers = [(b"origin", b"http://localhost")]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


async def _open(path, client):
    communicator = WebsocketCommunicator(application, path, headers=_headers(client))
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _hello(communicator) -> int:
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] == "hello"
    return first["seq"]


@pytest.fixture
def live_board(transactional_db):
    return make_board()


def test_ops_feed_refuses_anonymous_customer_and_driver(live_board):
    async def scenario():
        _, connected, code = await _open("/ws/ops/", None)
        assert (connected, code) == (False, 4401)
        for who in ("customer", "driver"):
            client = await sync_to_async(live_board.personas.client)(who)
            _, connected, code = await _open("/ws/ops/", client)
            assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


def test_another_tenants_shipment_closes_like_a_missing_one(live_board):
    async def scenario():
        member = await sync_to_async(live_board.personas.client)("member")
        for public_id in (live_board.theirs.public_id, "shp_0000000000000000"):
            communicator, connected, _ = await _open(f"/ws/ops/?shipment={public_id}", member)
            assert connected  # accepted, then closed before joining anything
            closed = await communicator.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": 4404}

    async_to_sync(scenario)()


def test_shipment_group_gets_its_shipment_only_and_tenant_b_nothing(live_board):
    board = live_board
    tenant_id = board.personas.tenant.pk

    async def scenario():
        member = await sync_to_async(board.personas.client)("member")
        outsider = await sync_to_async(board.personas.client)("outsider")
        mine, connected, _ = await _open(f"/ws/ops/?shipment={board.mine.public_id}", member)
        assert connected
        await _hello(mine)
        theirs, connected, _ = await _open("/ws/ops/", outsider)
        assert connected
        await _hello(theirs)
        await sync_to_async(send_now)(
            shipment_group(tenant_id, board.late.public_id), {"type": "timeline.changed"}
        )
        assert await mine.receive_nothing(timeout=0.3)
        await sync_to_async(send_now)(
            shipment_group(tenant_id, board.mine.public_id),
            {"type": "timeline.changed", "public_ids": [board.mine.public_id]},
        )
        got = await mine.receive_json_from(timeout=5)
        assert got["public_ids"] == [board.mine.public_id] and got["seq"] >= 1
        await sync_to_async(send_now)(tenant_group(tenant_id), {"type": "timeline.changed"})
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_reconnect_with_since_replays_what_was_missed(live_board):
    board = live_board
    group = tenant_group(board.personas.tenant.pk)

    async def scenario():
        member = await sync_to_async(board.personas.client)("member")
        first, connected, _ = await _open("/ws/ops/", member)
        assert connected
        seq = await _hello(first)
        await sync_to_async(send_now)(group, {"type": "timeline.changed", "n": 1})
        one = await first.receive_json_from(timeout=5)
        assert one["seq"] == seq + 1
        await first.disconnect()
        # published while the client was away
        await sync_to_async(send_now)(group, {"type": "timeline.changed", "n": 2})
        await sync_to_async(send_now)(group, {"type": "timeline.changed", "n": 3})
        again, connected, _ = await _open(f"/ws/ops/?since={one['seq']}", member)
        assert connected
        replayed = [await again.receive_json_from(timeout=5) for _ in range(2)]
        assert [m["n"] for m in replayed] == [2, 3]
        marker = await again.receive_json_from(timeout=5)
        assert marker == {"type": "resumed", "gap": False, "count": 2}
        # the outsider asking for the same numbers gets its own tenant's group: nothing
        outsider = await sync_to_async(board.personas.client)("outsider")
        theirs, connected, _ = await _open(f"/ws/ops/?since={seq}", outsider)
        assert connected
        marker = await theirs.receive_json_from(timeout=5)
        assert marker["type"] == "resumed" and marker["count"] == 0
        await again.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_customer_feed_joins_only_its_accounts(live_board):
    board = live_board
    tenant_id = board.personas.tenant.pk

    async def scenario():
        customer = await sync_to_async(board.personas.client)("customer")
        feed, connected, _ = await _open("/ws/customer/", customer)
        assert connected
        await sync_to_async(send_now)(
            customer_group(tenant_id, board.personas.other_customer_account.pk), {"n": 1}
        )
        assert await feed.receive_nothing(timeout=0.3)
        await sync_to_async(send_now)(
            customer_group(tenant_id, board.personas.customer_account.pk), {"n": 2}
        )
        assert (await feed.receive_json_from(timeout=5))["n"] == 2
        await feed.disconnect()
        member = await sync_to_async(board.personas.client)("member")
        _, connected, code = await _open("/ws/customer/", member)
        assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


def test_a_committed_event_reaches_the_shipment_and_customer_groups(live_board):
    from datetime import UTC, datetime

    from shipments.models import Classifier, SourceKind
    from shipments.services import NewEvent, events_record
    from tenancy.context import tenant_context

    board = live_board

    def record():
        with tenant_context(board.personas.tenant.pk):
            events_record(
                events=[
                    NewEvent(
                        shipment_id=board.mine.pk,
                        milestone="picked_up",
                        occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
                        classifier=Classifier.ACTUAL,
                        source_kind=SourceKind.INTEGRATION,
                        source_name="test",
                        dedupe_key="live-ops-1",
                    )
                ]
            )

    async def scenario():
        member = await sync_to_async(board.personas.client)("member")
        customer = await sync_to_async(board.personas.client)("customer")
        page, _, _ = await _open(f"/ws/ops/?shipment={board.mine.public_id}", member)
        await _hello(page)
        feed, connected, _ = await _open("/ws/customer/", customer)
        assert connected
        await sync_to_async(record)()
        got = await page.receive_json_from(timeout=5)
        assert got["public_ids"] == [board.mine.public_id]
        pushed = await feed.receive_json_from(timeout=5)
        assert pushed == {
            "type": "timeline.changed",
            "public_ids": [board.mine.public_id],
            "seq": pushed["seq"],
        }
        await page.disconnect()
        await feed.disconnect()

    async_to_sync(scenario)()


def test_an_idle_socket_still_gets_its_updates_after_the_redis_read_timeout(live_board):
    """redis-py 8 gives up on a read after 5 s by default: a consumer idle for longer must
    still be subscribed and get the next update (the channel layer's connection settings)."""
    board = live_board
    group = tenant_group(board.personas.tenant.pk)

    async def scenario():
        import asyncio

        member = await sync_to_async(board.personas.client)("member")
        feed, connected, _ = await _open("/ws/ops/", member)
        assert connected
        seq = await _hello(feed)
        await asyncio.sleep(6)
        await sync_to_async(send_now)(group, {"type": "timeline.changed", "n": 1})
        message = await feed.receive_json_from(timeout=5)
        assert message["seq"] == seq + 1 and message["n"] == 1
        await feed.disconnect()

    async_to_sync(scenario)()


def test_a_group_send_is_one_publish_whatever_the_group_size():
    """Redis pub/sub: a group send is one PUBLISH, which each server process receives once and
    hands to its own consumers in the group (the list-based layer wrote and popped one entry
    per consumer: 50 round trips for 50 dashboards of a tenant)."""
    import redis
    from channels.layers import get_channel_layer

    from tenancy.realtime import layer_redis_url

    server = redis.Redis.from_url(layer_redis_url())

    def publishes() -> int:
        return int(server.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))

    async def scenario():
        layer = get_channel_layer()
        channels = [await layer.new_channel() for _ in range(5)]
        for channel in channels:
            await layer.group_add("fanout-test", channel)
        before = publishes()
        await layer.group_send("fanout-test", {"type": "tenant.event", "payload": {"n": 1}})
        got = [await layer.receive(channel) for channel in channels]
        assert publishes() - before == 1
        assert [m["payload"] for m in got] == [{"n": 1}] * 5
        for channel in channels:
            await layer.group_discard("fanout-test", channel)

    async_to_sync(scenario)()

"""Live updates of customer pages: a nudge into the shipment's own tenant group, after commit.

The message carries no shipment data at all: each connected page's consumer re-reads
``tracking_view`` with its own token's level, so a websocket can never get more than the
page itself (portal.tracking.consumers).
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from shipments.models import Shipment
from tenancy.consumers import tenant_group
from tenancy.context import current_tenant_id
from tenancy.realtime import publish_on_commit

MAX_PER_BATCH = 200  # an ingest batch larger than that: pages catch up on their next poll
CHANGED = {"type": "shipment.changed"}


def shipment_topic(public_id: str) -> str:
    return f"track-{public_id}"


def publish_shipment(shipment: Shipment) -> None:
    publish_on_commit(
        tenant_id=shipment.tenant_id,
        topic=shipment_topic(shipment.public_id),
        payload={"type": "shipment.changed"},
    )


def publish_shipments_changed(shipment_ids: list[int]) -> None:
    """shipments.hooks.on_timeline_changed: nudge the pages of these shipments."""
    ids = sorted(set(shipment_ids))[:MAX_PER_BATCH]
    tenant_id = current_tenant_id()
    groups = [
        tenant_group(tenant_id, shipment_topic(public_id))
        for public_id in Shipment.objects.filter(pk__in=ids).values_list("public_id", flat=True)
    ]

    async def send_all() -> None:
        layer = get_channel_layer()
        for group in groups:
            await layer.group_send(group, {"type": "tenant.event", "payload": CHANGED})

    # One callback and one event loop for the whole batch (not one round of async_to_sync per
    # shipment); robust like tenancy.realtime: a layer outage costs the nudge, not the batch.
    transaction.on_commit(lambda: async_to_sync(send_all)(), robust=True)


def publish_ops(*, payload: dict) -> None:
    publish_on_commit(tenant_id=current_tenant_id(), payload=payload)

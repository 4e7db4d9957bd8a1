"""Publishing live updates: always after commit, always into a tenant-scoped group."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tenancy.consumers import tenant_group


def publish_on_commit(*, tenant_id: int, payload: dict, topic: str = "ops") -> None:
    def send() -> None:
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(
            tenant_group(tenant_id, topic), {"type": "tenant.event", "payload": payload}
        )

    # robust: the change is committed; a channel layer that is down costs the live update,
    # never the request or the worker's batch (pages catch up when they reload).
    transaction.on_commit(send, robust=True)

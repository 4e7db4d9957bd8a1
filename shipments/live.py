"""Live updates of timelines: after commit, into tenant-scoped groups (tenancy.realtime).

Subscribed to ``shipments.hooks.on_timeline_changed`` in ``shipments.apps``. One message per
refreshed batch to the tenant's ops group, not one per shipment: an ingest batch touches
hundreds of shipments and each group send is a Redis round trip. Small batches (at most
``PER_SHIPMENT_MAX`` shipments) also go to each shipment's own group (its page) and to each
customer account's group, the latter with nothing but that account's public ids.
"""

from __future__ import annotations

from tenancy.consumers import tenant_group
from tenancy.context import current_tenant_id
from tenancy.realtime import publish_on_commit

MAX_IDS = 500  # more than that: the page reloads its list instead of picking rows
PER_SHIPMENT_MAX = 20


def shipment_topic(public_id: str) -> str:
    return f"shipment.{public_id}"


def customer_topic(customer_account_id: int) -> str:
    return f"customer.{customer_account_id}"


def shipment_group(tenant_id: int, public_id: str) -> str:
    return tenant_group(tenant_id, shipment_topic(public_id))


def customer_group(tenant_id: int, customer_account_id: int) -> str:
    return tenant_group(tenant_id, customer_topic(customer_account_id))


def publish_timelines_changed(shipment_ids: list[int]) -> None:
    from shipments.models import Shipment

    ids = sorted(set(shipment_ids))
    tenant_id = current_tenant_id()
    rows = list(
        Shipment.objects.filter(pk__in=ids[:MAX_IDS]).values_list(
            "pk", "public_id", "customer_account_id"
        )
    )
    payload = {
        "type": "timeline.changed",
        "count": len(ids),
        "shipment_ids": ids[:MAX_IDS],
        "public_ids": sorted(public_id for _, public_id, _ in rows),
        "truncated": len(ids) > MAX_IDS,
    }
    publish_on_commit(tenant_id=tenant_id, payload=payload)
    if len(ids) > PER_SHIPMENT_MAX:
        return
    by_account: dict[int, list[str]] = {}
    for _, public_id, account_id in rows:
        one = {"type": "timeline.changed", "public_ids": [public_id]}
        publish_on_commit(tenant_id=tenant_id, payload=one, topic=shipment_topic(public_id))
        if account_id is not None:
            by_account.setdefault(account_id, []).append(public_id)
    for account_id, public_ids in by_account.items():
        publish_on_commit(
            tenant_id=tenant_id,
            payload={"type": "timeline.changed", "public_ids": sorted(public_ids)},
            topic=customer_topic(account_id),
        )

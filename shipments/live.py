"""Live updates of timelines: after commit, to the tenant's ops group (tenancy.realtime).

Subscribed to ``shipments.hooks.on_timeline_changed`` in ``shipments.apps``. One message per
refreshed batch, not one per shipment: an ingest batch touches hundreds of shipments and each
group send is a Redis round trip. Pages re-read what they show of the listed shipments.
"""

from __future__ import annotations

from tenancy.context import current_tenant_id
from tenancy.realtime import publish_on_commit

MAX_IDS = 500  # more than that: the page reloads its list instead of picking rows


def publish_timelines_changed(shipment_ids: list[int]) -> None:
    ids = sorted(set(shipment_ids))
    payload = {
        "type": "timeline.changed",
        "count": len(ids),
        "shipment_ids": ids[:MAX_IDS],
        "truncated": len(ids) > MAX_IDS,
    }
    publish_on_commit(tenant_id=current_tenant_id(), payload=payload)

"""The outbox: ``outbox_record`` writes events and their deliveries in the caller's transaction.

Every source of partner events calls it, inside the transaction of the change it reports:
the timeline hook (shipment events), document processing (``document.added``), the exceptions
app (``exception.opened`` / ``exception.resolved``, connected where that app fires its hooks),
the workflow "webhook" action and the test endpoint. A change that commits has its deliveries
(and a worker is asked, after commit, to send them; if the broker is down the beat sweep
finds them), one that rolls back has none.

Set-based: one query to find the tenant's listeners (the whole cost when nobody listens),
then a fixed handful per call whatever the number of items (ids, COPY and INSERT … SELECT of
the events, the same of the deliveries).

For another app, e.g. the exceptions app when an exception opens::

    outbox_record(items=[OutboxItem(
        event_type="exception.opened",
        data={"exception": {"id": …, "kind": …, "opened_at": …}},
        shipment_id=exception.shipment_id,
        key=f"exception.opened:{exception.pk}",
    )])

``data`` gets the shipment (``data["shipment"]``, the same object every event shows) and the
event its customer account from ``shipment_id``, unless ``data`` already has a "shipment", in
which case ``customer_account_id`` must be given (None: the shipment has no account).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from integrations.subscriptions import payloads, selectors, tasks
from integrations.subscriptions.models import TEST_EVENT, DeliveryStatus, new_message_id
from integrations.subscriptions.selectors import Listener
from shipments.bulk import Stage
from tenancy.context import current_tenant_id

EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "type",
    "occurred_at",
    "body",
    "key",
    "shipment_id",
    "customer_account_id",
    "created_at",
)
DELIVERY_COLUMNS = (
    "tenant_id",
    "subscription_id",
    "event_id",
    "message_id",
    "status",
    "next_attempt_at",
    "created_at",
)
# COPY into session temp tables, then one INSERT … SELECT each (shipments/bulk.py): Django's
# bulk_create spent more time building the statement than PostgreSQL took to run it.
EVENT_STAGE = Stage("stage_webhook_event", "subscriptions_webhookevent", EVENT_COLUMNS)
DELIVERY_STAGE = Stage("stage_webhook_delivery", "subscriptions_delivery", DELIVERY_COLUMNS)
NEXT_EVENT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('subscriptions_webhookevent', 'id')) "
    "FROM generate_series(1, %s)"
)
INSERT_EVENTS = (
    f"INSERT INTO subscriptions_webhookevent ({EVENT_STAGE.column_list}) "  # noqa: S608
    f"SELECT {EVENT_STAGE.column_list} FROM {EVENT_STAGE.name} ORDER BY id "
    "ON CONFLICT DO NOTHING RETURNING id"
)
# The defaults of the columns not staged (attempts, step, last_error) are Django's, not the
# database's: given here.
INSERT_DELIVERIES = (
    f"INSERT INTO subscriptions_delivery ({DELIVERY_STAGE.column_list}, attempts, step, "  # noqa: S608
    f"last_error) SELECT {DELIVERY_STAGE.column_list}, 0, 0, '' FROM {DELIVERY_STAGE.name} "
    "RETURNING id, subscription_id"
)


@dataclass(frozen=True)
class OutboxItem:
    event_type: str
    data: Mapping[str, Any]
    shipment_id: int | None = None
    customer_account_id: int | None = None
    key: str = ""  # idempotency: an item whose key was recorded before is dropped
    occurred_at: datetime | None = None


def outbox_record(
    *,
    items: Sequence[OutboxItem],
    subscription_ids: Collection[int] | None = None,
    listening: Sequence[Listener] | None = None,
) -> list[int]:
    """Record events and their deliveries; return the new delivery ids.

    ``subscription_ids``: deliver to these subscriptions only, whatever event types they
    chose (a test event, a rule's webhook action); otherwise to every active subscription
    that chose the item's type. Customer scope applies either way: a subscription made by a
    caller limited to customer accounts gets only events of those accounts' shipments.
    ``listening``: the tenant's listeners when the caller already read them.
    """
    if not items:
        return []
    found = list(listening) if listening is not None else selectors.listeners()
    if subscription_ids is not None:
        targets = set(subscription_ids)
        found = [listener for listener in found if listener.id in targets]
    if not found:
        return []
    targeted = subscription_ids is not None
    wanted = [
        item
        for item in items
        if targeted or any(item.event_type in listener.event_types for listener in found)
    ]
    resolved = _with_shipments(wanted)
    if not resolved:
        return []
    tenant_id = current_tenant_id()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(NEXT_EVENT_IDS, [len(resolved)])
        ids = [row[0] for row in cursor.fetchall()]
        rows = [
            (
                event_id,
                tenant_id,
                item.event_type,
                item.occurred_at or now,
                payloads.render(item.event_type, item.occurred_at or now, data),
                item.key[:200],
                item.shipment_id,
                account,
                now,
            )
            for event_id, (item, data, account) in zip(ids, resolved, strict=True)
        ]
        EVENT_STAGE.load(cursor.cursor, rows)
        # A key recorded before (or twice in this batch) inserts nothing: idempotent sources.
        cursor.execute(INSERT_EVENTS)
        inserted = {row[0] for row in cursor.fetchall()}
        deliveries = [
            (tenant_id, listener.id, event_id, new_message_id(), DeliveryStatus.PENDING, now, now)
            for event_id, event_type, account in (
                (row[0], row[2], row[7]) for row in rows if row[0] in inserted
            )
            for listener in found
            if (targeted or event_type in listener.event_types)
            and (event_type == TEST_EVENT or listener.sees(account))
        ]
        if not deliveries:
            return []
        DELIVERY_STAGE.load(cursor.cursor, deliveries)
        cursor.execute(INSERT_DELIVERIES)
        created = cursor.fetchall()
    by_subscription: dict[int, list[int]] = {}
    for delivery_id, subscription_id in sorted(created):
        by_subscription.setdefault(subscription_id, []).append(delivery_id)
    transaction.on_commit(lambda: tasks.enqueue(tenant_id, by_subscription), robust=True)
    return [delivery_id for delivery_id, _ in sorted(created)]


def _with_shipments(
    items: list[OutboxItem],
) -> list[tuple[OutboxItem, Mapping[str, Any], int | None]]:
    """Each item with its data (the shipment added) and its customer account."""
    missing = {
        item.shipment_id
        for item in items
        if item.shipment_id is not None and "shipment" not in item.data
    }
    summaries = payloads.shipment_summaries(missing) if missing else {}
    resolved: list[tuple[OutboxItem, Mapping[str, Any], int | None]] = []
    for item in items:
        data, account = item.data, item.customer_account_id
        if item.shipment_id is not None and "shipment" not in data:
            summary = summaries.get(item.shipment_id)
            if summary is None:
                continue  # not a shipment of this tenant: nothing to tell anyone
            data, account = {"shipment": summary[0], **data}, summary[1]
        resolved.append((item, data, account))
    return resolved

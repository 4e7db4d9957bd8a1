"""The outbox: ``outbox_record`` writes events and their deliveries in the caller's transaction.

Every source of partner events calls it, inside the transaction of the change it reports:
the timeline hook (shipment events), document processing (``document.added``), the exceptions
app (``exception.opened`` / ``exception.resolved``, connected where that app fires its hooks),
the workflow "webhook" action and the test endpoint. A change that commits has its deliveries
(and a worker is asked, after commit, to send them; if the broker is down the beat sweep
finds them), one that rolls back has none.

Set-based: one query to find the tenant's listeners (the whole cost when nobody listens),
then one INSERT of events and one of deliveries per call, whatever the number of items.

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

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.subscriptions import payloads, selectors, tasks
from integrations.subscriptions.models import TEST_EVENT, Delivery, WebhookEvent
from integrations.subscriptions.selectors import Listener
from tenancy.context import current_tenant_id


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
    wanted = _drop_recorded(wanted)
    if not wanted:
        return []
    resolved = _with_shipments(wanted)
    tenant_id = current_tenant_id()
    now = timezone.now()
    events = [
        WebhookEvent(
            tenant_id=tenant_id,
            type=item.event_type,
            occurred_at=item.occurred_at or now,
            body=payloads.render(item.event_type, item.occurred_at or now, data),
            key=item.key[:200],
            shipment_id=item.shipment_id,
            customer_account_id=account,
            created_at=now,
        )
        for item, data, account in resolved
    ]
    if any(event.key for event in events):
        try:
            with transaction.atomic():
                WebhookEvent.objects.bulk_create(events)
        except IntegrityError:
            # A concurrent transaction recorded one of the keys meanwhile: keep what is left.
            return outbox_record(items=_drop_recorded(wanted), subscription_ids=subscription_ids)
    else:
        WebhookEvent.objects.bulk_create(events)
    deliveries = [
        Delivery(
            tenant_id=tenant_id,
            subscription_id=listener.id,
            event_id=event.pk,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for listener in found
        if (targeted or event.type in listener.event_types)
        and (event.type == TEST_EVENT or listener.sees(event.customer_account_id))
    ]
    Delivery.objects.bulk_create(deliveries)
    by_subscription: dict[int, list[int]] = {}
    for delivery in deliveries:
        by_subscription.setdefault(delivery.subscription_id, []).append(delivery.pk)
    transaction.on_commit(lambda: tasks.enqueue(tenant_id, by_subscription), robust=True)
    return [delivery.pk for delivery in deliveries]


def _drop_recorded(items: list[OutboxItem]) -> list[OutboxItem]:
    keys = {item.key[:200] for item in items if item.key}
    if not keys:
        return items
    seen = set(WebhookEvent.objects.filter(key__in=keys).values_list("key", flat=True))
    kept: list[OutboxItem] = []
    for item in items:
        key = item.key[:200]
        if key and key in seen:
            continue
        if key:
            seen.add(key)  # the same key twice in one call: the first wins
        kept.append(item)
    return kept


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

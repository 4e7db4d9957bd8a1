"""Celery tasks of partner webhooks: send deliveries, and the beat sweep that finds the due
and the lost ones. Thin: the work is in ``delivery.py``; acked late, idempotent (a delivery
is claimed before it is sent, so a task that runs twice sends nothing twice)."""

from __future__ import annotations

from typing import cast

from celery import shared_task
from django.db import transaction

from integrations.subscriptions import delivery, retention, selectors
from tenancy.context import for_each_tenant
from tenancy.models import Tenant

# Retries due this soon are queued with a countdown; later ones are the sweep's.
COUNTDOWN_MAX_S = 60
# The sweep takes pending deliveries only once they are this late, so that it does not
# queue again what a task just queued after commit is about to send.
OVERDUE_S = 30
SWEEP_LIMIT = 1000
TASK_CHUNK = 20


@shared_task(name="subscriptions.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver(*, tenant_id: int, delivery_ids: list[int]) -> list[str]:
    outcomes: list[str] = []
    for delivery_id in delivery_ids:
        result = delivery.delivery_send(tenant_id=int(tenant_id), delivery_id=int(delivery_id))
        outcomes.append(result.status if result else "skipped")
        retry_in = result.retry_in_s if result is not None else None
        if retry_in is not None and retry_in <= COUNTDOWN_MAX_S:
            deliver.apply_async(
                kwargs={"tenant_id": tenant_id, "delivery_ids": [delivery_id]}, countdown=retry_in
            )
    return outcomes


@shared_task(name="subscriptions.sweep")
def sweep(
    stale_after_s: float = delivery.STALE_AFTER_S,
    overdue_s: float = OVERDUE_S,
    limit: int = SWEEP_LIMIT,
) -> dict[int, int]:
    """Every tenant: give up attempts whose worker died (they are retried), forget what is
    past its retention, then queue what is due. The database, not the broker, is the record
    of what must be sent."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    queued = for_each_tenant(
        tenant_ids, lambda tenant_id: _sweep_tenant(tenant_id, stale_after_s, overdue_s, limit)
    )
    return cast(dict[int, int], queued)


def _sweep_tenant(tenant_id: int, stale_after_s: float, overdue_s: float, limit: int) -> int:
    delivery.deliveries_recover_stale(stale_after_s=stale_after_s)
    retention.events_purge()
    by_subscription = selectors.due_deliveries(overdue_s=overdue_s, limit=limit)
    transaction.on_commit(lambda: enqueue(tenant_id, by_subscription), robust=True)
    return sum(len(ids) for ids in by_subscription.values())


def enqueue(tenant_id: int, by_subscription: dict[int, list[int]]) -> None:
    """One task per subscription and chunk: a subscription's deliveries go out in order."""
    for ids in by_subscription.values():
        for start in range(0, len(ids), TASK_CHUNK):
            deliver.delay(tenant_id=tenant_id, delivery_ids=ids[start : start + TASK_CHUNK])

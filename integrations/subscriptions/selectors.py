"""Reads of partner webhooks, in the current tenant context."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from integrations.subscriptions.models import (
    TEST_EVENT,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Subscription,
)

LIST_LIMIT = 100  # subscriptions per tenant (services refuse more)


@dataclass(frozen=True)
class Listener:
    """What fan-out needs of an active subscription."""

    id: int
    event_types: frozenset[str]
    customer_account_ids: frozenset[int]  # empty: every account
    watching_since: datetime

    def accepts(self, event_type: str, customer_account_id: int | None) -> bool:
        return event_type in self.event_types and self.sees(customer_account_id)

    def sees(self, customer_account_id: int | None) -> bool:
        if not self.customer_account_ids:
            return True
        return customer_account_id is not None and customer_account_id in self.customer_account_ids


def listeners() -> list[Listener]:
    """The tenant's active subscriptions (one query; the whole cost of an event nobody wants)."""
    rows = Subscription.objects.filter(is_active=True).values_list(
        "pk", "event_types", "customer_account_ids", "watching_since"
    )
    return [
        Listener(pk, frozenset(types), frozenset(accounts), since)
        for pk, types, accounts, since in rows
    ]


def subscription_list() -> QuerySet[Subscription]:
    return Subscription.objects.all().order_by("-created_at", "-id")


def delivery_list(
    *,
    subscription: Subscription,
    status: str | None = None,
    event_type: str | None = None,
    customer_account_ids: Collection[int] | None = None,
) -> QuerySet[Delivery]:
    """A subscription's delivery log, newest first, with each delivery's attempts (one more
    query per page, not per delivery). ``customer_account_ids``: only those accounts' events
    (fan-out already kept others away; this says it again for customer-limited callers)."""
    deliveries = (
        Delivery.objects.filter(subscription=subscription)
        .select_related("event")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("-id")
    )
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if customer_account_ids is not None:
        deliveries = deliveries.filter(
            Q(event__customer_account_id__in=sorted(customer_account_ids))
            | Q(event__type=TEST_EVENT)  # about no shipment: the caller's own test
        )
    return deliveries


def failed_deliveries(
    *, subscription: Subscription, since: datetime | None = None
) -> QuerySet[Delivery]:
    failed = Delivery.objects.filter(subscription=subscription, status=DeliveryStatus.FAILED)
    if since is not None:
        failed = failed.filter(created_at__gte=since)
    return failed


def due_deliveries(*, overdue_s: float, limit: int) -> dict[int, list[int]]:
    """Pending deliveries due at least ``overdue_s`` ago: subscription id -> delivery ids,
    the oldest first."""
    due = (
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=timezone.now() - timedelta(seconds=overdue_s),
        )
        .order_by("next_attempt_at", "pk")
        .values_list("subscription_id", "pk")[:limit]
    )
    found: dict[int, list[int]] = {}
    for subscription_id, delivery_id in due:
        found.setdefault(subscription_id, []).append(delivery_id)
    return found

"""How long the outbox keeps what it sent: events (with their deliveries and attempts) are
deleted RETENTION_DAYS after they were recorded, a batch per tenant per sweep, unless one of
their deliveries is still under way (a replay of an old one)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.subscriptions.models import DeliveryStatus, WebhookEvent

RETENTION_DAYS = 30
BATCH = 1000


def events_purge(
    *, older_than: timedelta = timedelta(days=RETENTION_DAYS), limit: int = BATCH
) -> int:
    """Delete up to ``limit`` events older than ``older_than``; returns how many."""
    old = (
        WebhookEvent.objects.filter(created_at__lt=timezone.now() - older_than)
        .exclude(deliveries__status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(old)
    if ids:
        WebhookEvent.objects.filter(pk__in=ids).delete()
    return len(ids)

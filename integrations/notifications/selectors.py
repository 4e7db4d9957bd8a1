"""Reads of notifications (current tenant context)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from integrations.notifications.models import (
    Channel,
    Notification,
    NotificationPreference,
    NotificationTemplate,
)

LIST_LIMIT = 500


def preference_list(
    *, customer_account_id: int | None = None, tracking_number: str | None = None
) -> QuerySet[NotificationPreference]:
    preferences = NotificationPreference.objects.order_by("pk")
    if customer_account_id is not None:
        preferences = preferences.filter(customer_account_id=customer_account_id)
    if tracking_number:
        preferences = preferences.filter(tracking_number=tracking_number.strip())
    return preferences


def delivery_list(
    *,
    status: str | None = None,
    channel: str | None = None,
    shipment_id: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Notification]:
    """Delivery records, newest first (in-app messages included: stored is delivered)."""
    records = Notification.objects.order_by("-created_at", "-id")
    if status:
        records = records.filter(status=status)
    if channel:
        records = records.filter(channel=channel)
    if shipment_id is not None:
        records = records.filter(shipment_id=shipment_id)
    if created_after is not None:
        records = records.filter(created_at__gte=created_after)
    if created_before is not None:
        records = records.filter(created_at__lt=created_before)
    return records


def inbox(*, user_id: int, unread_only: bool = False) -> QuerySet[Notification]:
    """The in-app notifications of one user (served by notification_inbox_idx)."""
    messages = Notification.objects.filter(user_id=user_id, channel=Channel.IN_APP).order_by(
        "-created_at", "-id"
    )
    if unread_only:
        messages = messages.filter(read_at__isnull=True)
    return messages


def template_list() -> QuerySet[NotificationTemplate]:
    return NotificationTemplate.objects.order_by("topic", "channel", "locale")

"""Reads for ingestion, always in the current tenant context."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet

from integrations.models import DeadLetter, HeldEvent, InboundMessage, Integration


def integration_by_token(*, token: uuid.UUID | str) -> Integration | None:
    """The active integration with this webhook token, in the current tenant only."""
    return Integration.objects.filter(token=token, is_active=True).first()


def integration_get(*, integration_id: int) -> Integration:
    return Integration.objects.get(pk=integration_id)


def message_get(*, message_id: int) -> InboundMessage:
    """Raises InboundMessage.DoesNotExist for missing and for another tenant's alike."""
    return InboundMessage.objects.select_related("integration").get(pk=message_id)


def message_dead_letters(*, message: InboundMessage) -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(message=message).order_by("created_at", "id")


def dead_letter_list(*, unresolved_only: bool = False) -> QuerySet[DeadLetter]:
    """Unresolved first, newest first within each group."""
    letters = DeadLetter.objects.select_related("message", "message__integration")
    if unresolved_only:
        letters = letters.filter(resolved_at__isnull=True)
    return letters.order_by(F("resolved_at").desc(nulls_first=True), "-created_at", "-id")


def held_event_list(*, pending_only: bool = True) -> QuerySet[HeldEvent]:
    held = HeldEvent.objects.all()
    if pending_only:
        held = held.filter(applied_at__isnull=True)
    return held

"""Reads for ingestion, always in the current tenant context."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F, QuerySet

from integrations.models import DeadLetter, InboundMessage, Integration
from integrations.parsers.base import MILESTONES
from milestones.default_templates import LABELS
from milestones.models import MilestoneDefinition
from shipments.selectors import shipment_accounts
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiKeyCustomerAccount

LIST_LIMIT = 500


def integration_by_token(*, token: uuid.UUID | str) -> Integration | None:
    """The active integration with this webhook token, in the current tenant only."""
    return Integration.objects.filter(token=token, is_active=True).first()


def integration_get(*, integration_id: int) -> Integration:
    """NotFound for missing and for another tenant's alike."""
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise NotFound()
    return integration


def integration_named(value: object, *, field: str = "integration") -> Integration | None:
    """The integration a request parameter names (None when absent); a 400 naming the field
    when it is not one of the tenant's (an empty value names none, so it is refused too)."""
    if value is None:
        return None
    try:
        integration_id = int(str(value))
    except ValueError:
        integration_id = 0
    integration = Integration.objects.filter(pk=integration_id).first() if integration_id else None
    if integration is None:
        raise DomainError("Unknown integration.", code="unknown_integration", field=field)
    return integration


def integration_list() -> QuerySet[Integration]:
    return Integration.objects.order_by("name", "pk")


def message_list() -> QuerySet[InboundMessage]:
    return InboundMessage.objects.select_related("integration")


def message_dead_letters(*, message: InboundMessage) -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(message=message).order_by("created_at", "id")


def dead_letter_list(*, unresolved_only: bool = False) -> QuerySet[DeadLetter]:
    """Unresolved first, newest first within each group."""
    letters = DeadLetter.objects.select_related("message", "message__integration")
    if unresolved_only:
        letters = letters.filter(resolved_at__isnull=True)
    return letters.order_by(F("resolved_at").desc(nulls_first=True), "-created_at", "-id")


def sender_limits(messages: Iterable[InboundMessage]) -> dict[int, frozenset[int]]:
    """message id -> the customer accounts its sending API key is limited to (only for
    messages sent by a limited key), in one query."""
    senders = {m.pk: m.sent_by_key_id for m in messages if m.sent_by_key_id}
    if not senders:
        return {}
    per_key: dict[int, set[int]] = defaultdict(set)
    rows = ApiKeyCustomerAccount.objects.filter(api_key_id__in=set(senders.values()))
    for key_id, account_id in rows.values_list("api_key_id", "customer_account_id"):
        per_key[key_id].add(account_id)
    return {pk: frozenset(per_key[key]) for pk, key in senders.items() if key in per_key}


class SenderScope:
    """Which shipments each message of a batch may reach: all of them, or for a message sent
    by an API key limited to customer accounts, only those accounts' shipments. Two queries
    per batch, and only when a limited key sent one of its messages."""

    def __init__(self, messages: Iterable[InboundMessage], shipment_ids: Iterable[int]) -> None:
        self.limits = sender_limits(messages)
        self.accounts = shipment_accounts(shipment_ids) if self.limits else {}

    def allowed(self, message: InboundMessage, shipment_ids: set[int]) -> set[int]:
        limit = self.limits.get(message.pk)
        if limit is None:
            return shipment_ids
        return {s for s in shipment_ids if self.accounts.get(s) in limit}


def known_milestones() -> set[str]:
    """Template milestone codes of the current tenant plus the built-in ones."""
    codes = set(LABELS) | {m for m in MILESTONES if m not in ("estimated", "other")}
    codes.update(MilestoneDefinition.objects.values_list("code", flat=True).distinct())
    return codes

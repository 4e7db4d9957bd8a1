"""Subscriptions made through the service, as the API makes them."""

from __future__ import annotations

from collections.abc import Iterable

from integrations.subscriptions.models import EventType, Subscription
from integrations.subscriptions.services import subscription_create
from tenancy.context import tenant_context
from tenancy.models import Tenant

ALL_TYPES = tuple(EventType.values)


def subscription_for(
    tenant: Tenant,
    url: str,
    event_types: Iterable[str] = ALL_TYPES,
    customer_account_ids: Iterable[int] | None = None,
) -> Subscription:
    with tenant_context(tenant.pk):
        return subscription_create(
            url=url,
            event_types=list(event_types),
            customer_account_ids=list(customer_account_ids)
            if customer_account_ids is not None
            else None,
        )

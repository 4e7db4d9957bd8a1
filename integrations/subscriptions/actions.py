"""The workflow rule action "webhook": when a rule fires, send a ``rule.fired`` event to one
subscription (registered into ``integrations.workflow.actions`` from this app's ready()).

The workflow app hands ``run`` a firing object; this side needs only what ``Firing`` says.
Config on the rule: ``{"subscription": <webhook id>}``. Idempotent: the event's key is the
firing's id, so a replayed firing records nothing new. Customer scope holds as for every
event: a subscription limited to customer accounts gets only firings about their shipments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from integrations.subscriptions import outbox
from integrations.subscriptions.models import RULE_EVENT, Subscription
from integrations.workflow.actions import Action
from tenancy.errors import DomainError

CONFIG_FIELD = "subscription"


class Firing(Protocol):
    """What a rule firing must offer the "webhook" action."""

    @property
    def id(self) -> int | str: ...  # unique per firing: the idempotency key

    @property
    def rule_id(self) -> int: ...

    @property
    def rule_name(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...  # this action's config, as validate returned it

    @property
    def shipment_id(self) -> int | None: ...

    @property
    def context(self) -> Mapping[str, Any]: ...  # JSON-able facts: trigger, milestone, …


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"subscription": <id of one of the tenant's webhooks>}`` (run in the tenant context)."""
    value = config.get(CONFIG_FIELD)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise DomainError("Name the webhook to send to.", code="invalid", field=CONFIG_FIELD)
    if not Subscription.objects.filter(pk=value).exists():
        raise DomainError("Unknown webhook.", code="unknown_webhook", field=CONFIG_FIELD)
    return {CONFIG_FIELD: value}


def run(firing: Firing) -> None:
    config = validate(firing.config)
    outbox.outbox_record(
        items=[
            outbox.OutboxItem(
                event_type=RULE_EVENT,
                data={
                    "rule": {"id": str(firing.rule_id), "name": firing.rule_name},
                    "firing": str(firing.id),
                    "context": dict(firing.context),
                },
                shipment_id=firing.shipment_id,
                key=f"rule-firing:{firing.id}",
            )
        ],
        subscription_ids=[config[CONFIG_FIELD]],
    )


WEBHOOK_ACTION = Action(name="webhook", label="Send a webhook", validate=validate, run=run)

"""The workflow rule action "charge": when a rule fires (e.g. an exception of some type
opens), create the charge of one of the tenant's charge rules for the firing's shipment.

Config on the rule: ``{"rule": <charge rule id>}`` (a rule with trigger ``exception``).
Idempotent: the charge's period is ``firing-<firing id>``, so a replayed firing charges
nothing new (billing.services.charge_for_firing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from billing import services
from billing.models import ChargeRule
from integrations.workflow.actions import Action
from tenancy.errors import DomainError

CONFIG_FIELD = "rule"


class Firing(Protocol):
    @property
    def id(self) -> int | str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def shipment_id(self) -> int | None: ...

    @property
    def context(self) -> Mapping[str, Any]: ...


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    value = config.get(CONFIG_FIELD)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise DomainError("Name the charge rule.", code="invalid", field=CONFIG_FIELD)
    if not ChargeRule.objects.filter(pk=value, is_active=True).exists():
        raise DomainError("Unknown charge rule.", code="unknown_charge_rule", field=CONFIG_FIELD)
    return {CONFIG_FIELD: value}


def run(firing: Firing) -> None:
    config = validate(firing.config)
    if firing.shipment_id is None:
        return
    services.charge_for_firing(
        rule_id=config[CONFIG_FIELD],
        shipment_id=firing.shipment_id,
        firing_id=str(firing.id),
        context=dict(firing.context),
    )


CHARGE_ACTION = Action(name="charge", label="Create a charge", validate=validate, run=run)

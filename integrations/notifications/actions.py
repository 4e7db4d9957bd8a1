"""The workflow rules' "notify" action (registered from apps.py into the workflow app's action
registry, the only piece of the workflow app this app imports).

Config (validated on save; errors name the field, the workflow prefixes its path)::

    {"channel": "sms" | "email" | "in_app",          # "webhook" once the API issue sends it
     "recipients": "customer" | "role:<member role>", # default "customer"
     "template": "milestone" | "out_for_delivery" | "delivered" | "exception" | "message",
     "message": "free text for {{ message }}"}        # optional, at most 500 characters

``run(firing)`` sends for the firing's shipment; the firing's id is the idempotency key, so
a replayed firing sends nothing twice. The firing object belongs to the workflow app; all
this needs of it is :class:`Firing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from integrations.notifications import services, wording
from integrations.notifications.models import Channel
from integrations.workflow.actions import Action
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tenancy.models import Role

MAX_MESSAGE = 500


class Firing(Protocol):
    """What "notify" reads of a rule firing."""

    @property
    def pk(self) -> int: ...

    @property
    def tenant_id(self) -> int: ...

    @property
    def shipment_id(self) -> int | None: ...

    @property
    def config(self) -> Mapping[str, Any]:
        """This action's validated config (see the module docstring)."""
        ...

    @property
    def cause(self) -> Mapping[str, Any]:
        """Why the rule fired, e.g. {"trigger": "milestone_reached", "milestone": "delivered"}."""
        ...


class NotifyConfigInvalid(DomainError):
    code = "invalid_action_config"


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise NotifyConfigInvalid("The config must be an object.", field="config")
    channel = config.get("channel")
    if channel not in services.available_channels():
        raise NotifyConfigInvalid(
            f"Choose one of {', '.join(services.available_channels())}.", field="channel"
        )
    recipients = config.get("recipients", services.AUDIENCE_CUSTOMER)
    roles = {f"{services.ROLE_PREFIX}{role}" for role in Role.values if role != Role.CUSTOMER}
    if recipients != services.AUDIENCE_CUSTOMER and recipients not in roles:
        raise NotifyConfigInvalid(
            f"Use 'customer' or one of {', '.join(sorted(roles))}.", field="recipients"
        )
    if recipients != services.AUDIENCE_CUSTOMER and channel == Channel.SMS:
        raise NotifyConfigInvalid("Members get email or in-app messages.", field="channel")
    template = config.get("template", "message")
    if template not in wording.TOPICS:
        raise NotifyConfigInvalid(f"Choose one of {', '.join(wording.TOPICS)}.", field="template")
    message = config.get("message", "")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE or "\x00" in message:
        raise NotifyConfigInvalid(f"Text of at most {MAX_MESSAGE} characters.", field="message")
    return {"channel": channel, "recipients": recipients, "template": template, "message": message}


def run(firing: Firing) -> None:
    if firing.shipment_id is None:
        return  # nothing to tell anyone about
    config = validate(firing.config)
    with tenant_context(int(firing.tenant_id)):
        services.notifications_send(
            shipment_id=firing.shipment_id,
            channel=config["channel"],
            topic=config["template"],
            audience=config["recipients"],
            message=config["message"],
            cause=dict(firing.cause) | {"firing": firing.pk},
            key=f"firing:{firing.pk}",
        )


NOTIFY = Action(name="notify", label="Notify recipients", validate=validate, run=run)

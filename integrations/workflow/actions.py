"""The registry of rule actions: what a workflow rule can do when it fires.

The workflow app registers its own actions (create a task, set a tag); other apps register
theirs from their ``apps.py`` (notifications: "notify"; the partner API: "webhook"; billing:
"charge"), so the rules engine never imports them. An action is:

* ``validate(config) -> config``: the action's settings as saved on a rule, normalised, or a
  DomainError naming the field (``actions[0].config.channel``);
* ``run(firing) -> None``: do it, idempotently (a replayed firing must not act twice; the
  firing's id is the idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tenancy.errors import DomainError


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    run: Callable[[Any], None]


_ACTIONS: dict[str, Action] = {}


def register_action(action: Action) -> Action:
    _ACTIONS[action.name] = action
    return action


def action_named(name: str) -> Action:
    try:
        return _ACTIONS[name]
    except KeyError:
        raise DomainError(
            f"Unknown action {name!r}; available: {', '.join(sorted(_ACTIONS)) or 'none'}",
            code="unknown_action",
        ) from None


def registered_actions() -> Mapping[str, Action]:
    return dict(_ACTIONS)

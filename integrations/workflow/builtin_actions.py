"""The workflow app's own rule actions: "create_task" and "set_tag" (registered in apps.py).

create_task config: ``{"title": str, "assignee_role": role | "assignee_user": id,
"due_in_minutes": int, "note": str}``; the title may use {milestone}, {exception_type},
{severity}, {status} of the firing's cause. set_tag config: ``{"tag": str}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations.workflow.actions import Action
from integrations.workflow.services import create_task, shipment_tag_set
from tenancy.errors import DomainError
from tenancy.models import Membership, Role

MAX_TITLE = 200


def _validate_create_task(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"title": str, "assignee_role": role | "assignee_user": id, "due_in_minutes": int,
    "note": str}``; the title may use {milestone}, {exception_type} and {severity}."""
    if not isinstance(config, Mapping):
        raise DomainError("The config must be an object.", field="config")
    title = config.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise DomainError(f"A title of at most {MAX_TITLE} characters.", field="title")
    role = config.get("assignee_role") or ""
    user = config.get("assignee_user")
    if not role and user is None:
        raise DomainError("Assign to a role or a user.", field="assignee_role")
    if role and (role not in Role.values or role == Role.CUSTOMER):
        raise DomainError("Unknown staff role.", field="assignee_role")
    if user is not None:
        if not isinstance(user, int) or isinstance(user, bool):
            raise DomainError("A user id.", field="assignee_user")
        if not Membership.objects.filter(user_id=user, is_active=True).exists():
            raise DomainError("Not a member of this tenant.", field="assignee_user")
    due = config.get("due_in_minutes", 60)
    if not isinstance(due, int) or isinstance(due, bool) or not 0 <= due <= 60 * 24 * 60:
        raise DomainError("Whole minutes from 0 to 86400.", field="due_in_minutes")
    note = config.get("note", "")
    if not isinstance(note, str) or len(note) > 2000:
        raise DomainError("Text of at most 2000 characters.", field="note")
    return {
        "title": title.strip(),
        "assignee_role": role,
        "assignee_user": user,
        "due_in_minutes": due,
        "note": note,
    }


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _run_create_task(firing: Any) -> None:
    config = _validate_create_task(firing.config)
    cause = dict(firing.cause)
    create_task(
        tenant_id=int(firing.tenant_id),
        title=config["title"].format_map(_SafeDict(cause))[:MAX_TITLE],
        shipment_id=firing.shipment_id,
        exception_id=getattr(firing, "exception_id", None),
        assignee_user_id=config["assignee_user"],
        assignee_role=config["assignee_role"] or None,
        due_at=timezone.now() + timedelta(minutes=config["due_in_minutes"]),
        source=f"rule:{firing.rule_id}",
        note=config["note"],
        source_key=f"{firing.pk}:{getattr(firing, 'action_index', 0)}",
    )


def _validate_set_tag(config: Mapping[str, Any]) -> dict[str, Any]:
    tag = config.get("tag") if isinstance(config, Mapping) else None
    if not isinstance(tag, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.:-]{0,39}", tag):
        raise DomainError("Lower-case letters, digits, _ . : - (at most 40).", field="tag")
    return {"tag": tag}


def _run_set_tag(firing: Any) -> None:
    if firing.shipment_id is None:
        return
    shipment_tag_set(shipment_id=firing.shipment_id, tag=_validate_set_tag(firing.config)["tag"])


CREATE_TASK = Action(
    name="create_task", label="Create a task", validate=_validate_create_task, run=_run_create_task
)
SET_TAG = Action(
    name="set_tag", label="Tag the shipment", validate=_validate_set_tag, run=_run_set_tag
)

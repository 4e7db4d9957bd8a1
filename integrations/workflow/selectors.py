"""Reads of workflow: tasks (overdue ones first-class), rules and their firings."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from integrations.workflow.models import Firing, Rule, Task, TaskStatus


def task_list(
    *,
    status: str | None = None,
    overdue: bool = False,
    shipment_id: int | None = None,
    exception_id: int | None = None,
    assignee_user_id: int | None = None,
    assignee_role: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Task]:
    found = Task.objects.select_related("shipment", "exception", "assignee_user")
    if status:
        found = found.filter(status=status)
    if overdue:
        found = found.filter(status=TaskStatus.OPEN, due_at__lt=now or timezone.now())
    if shipment_id is not None:
        found = found.filter(shipment_id=shipment_id)
    if exception_id is not None:
        found = found.filter(exception_id=exception_id)
    if assignee_user_id is not None:
        found = found.filter(assignee_user_id=assignee_user_id)
    if assignee_role:
        found = found.filter(assignee_role=assignee_role)
    return found.order_by("status", "due_at", "id")


def tasks_overdue(*, now: datetime | None = None) -> QuerySet[Task]:
    """Open tasks past their due time (task_open_due_idx)."""
    return task_list(overdue=True, now=now)


def overdue_task_count(*, now: datetime | None = None) -> int:
    return tasks_overdue(now=now).count()


def rule_list() -> QuerySet[Rule]:
    return Rule.objects.order_by("name", "id")


def firing_list(*, rule_id: int | None = None) -> QuerySet[Firing]:
    found = Firing.objects.select_related("rule")
    if rule_id is not None:
        found = found.filter(rule_id=rule_id)
    return found.order_by("-created_at", "-id")

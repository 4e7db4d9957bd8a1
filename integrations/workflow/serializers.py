"""Serializers of the workflow API (tasks, rules)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from integrations.workflow.models import Task, Trigger
from integrations.workflow.services import MAX_ACTIONS
from tenancy.api.fields import AwareDateTimeField


class TaskOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    note = serializers.CharField()
    status = serializers.CharField()
    shipment = serializers.SerializerMethodField()
    exception = serializers.SerializerMethodField()
    assignee_user = serializers.IntegerField(source="assignee_user_id", allow_null=True)
    assignee_role = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.SerializerMethodField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.source
    created_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)
    reopened_at = serializers.DateTimeField(allow_null=True)

    def get_shipment(self, task: Task) -> str | None:
        return task.shipment.public_id if task.shipment_id and task.shipment else None

    def get_exception(self, task: Task) -> str | None:
        return task.exception.public_id if task.exception_id and task.exception else None

    def get_overdue(self, task: Task) -> bool:
        from django.utils import timezone

        return task.status == "open" and task.due_at is not None and task.due_at < timezone.now()


class TaskIn(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    shipment = serializers.CharField(required=False, max_length=24)
    exception = serializers.CharField(required=False, max_length=24)
    assignee_user = serializers.IntegerField(required=False, min_value=1, max_value=10**18 - 1)
    assignee_role = serializers.CharField(required=False, max_length=16)
    due_at = AwareDateTimeField(required=False)


class RuleOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    trigger = serializers.CharField()
    when = serializers.JSONField()
    filters = serializers.JSONField()
    actions = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)
    is_active = serializers.BooleanField(required=False, default=True)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    when = serializers.DictField(required=False, default=dict)
    filters = serializers.DictField(required=False, default=dict)
    # Each {"type", "config"}: the type a registered action, the config that action's own
    # (validated by the registry, errors naming actions[i].config.<field>).
    actions = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_ACTIONS
    )

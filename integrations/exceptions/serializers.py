"""Serializers of the exceptions API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from integrations.exceptions import selectors
from integrations.exceptions.models import ShipmentException


class ExceptionOut(serializers.Serializer[Any]):
    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    milestone = serializers.SerializerMethodField()
    severity = serializers.CharField()
    status = serializers.CharField()
    shipment = serializers.SerializerMethodField()
    opened_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    sla_due_at = serializers.SerializerMethodField()
    details = serializers.JSONField()
    assignee = serializers.SerializerMethodField()
    resolution_note = serializers.CharField()
    auto_resolved = serializers.BooleanField()

    def get_milestone(self, x: ShipmentException) -> str | None:
        return x.milestone or None

    def get_shipment(self, x: ShipmentException) -> str | None:
        return x.shipment.public_id if x.shipment_id and x.shipment else None

    def get_sla_due_at(self, x: ShipmentException) -> str:
        return selectors.sla_due_at(x).isoformat()

    def get_assignee(self, x: ShipmentException) -> dict[str, Any] | None:
        user = x.assignee_user
        if user is not None:
            return {"user": user.pk, "email": user.email, "role": None}
        if x.assignee_role:
            return {"user": None, "email": None, "role": x.assignee_role}
        return None


class AssignIn(serializers.Serializer[Any]):
    user = serializers.IntegerField(required=False, min_value=1, max_value=10**18 - 1)
    role = serializers.CharField(required=False, max_length=16)


class ResolveIn(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, trim_whitespace=True)

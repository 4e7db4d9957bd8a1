"""What the partner-webhook API reads and writes. The secret appears only in the answers of
create and rotate-secret; nothing a receiver answered is shown besides its status code."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.subscriptions.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    Subscription,
)
from tenancy.text import check_text


class JSONBooleanField(serializers.BooleanField):
    """true or false, as the schema says (DRF would also take 0, 1, "yes", "on"…)."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")  # fail() raises


class JSONCharField(serializers.CharField):
    """A JSON string, as the schema says (DRF would turn 0 into "0")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class JSONURLField(JSONCharField, serializers.URLField):
    pass


class WebhookIn(serializers.Serializer[Any]):
    url = JSONURLField(
        max_length=2000,
        help_text="https://… (plain http only to addresses inside WEBHOOK_ALLOWED_NETWORKS).",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        min_length=1,
        max_length=len(EventType.values),
    )
    description = JSONCharField(max_length=200, required=False, allow_blank=True)
    is_active = JSONBooleanField(required=False)

    def validate_url(self, value: str) -> str:
        check_text(value, "url")
        return value

    def validate_description(self, value: str) -> str:
        check_text(value, "description")
        return value


class WebhookOut(serializers.ModelSerializer[Subscription]):
    customer_accounts = serializers.ListField(
        source="customer_account_ids", child=serializers.IntegerField(), read_only=True
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "customer_accounts",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]


class WebhookWithSecretOut(WebhookOut):
    secret = serializers.CharField(read_only=True, help_text="whsec_…: shown only now.")

    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]


class AttemptOut(serializers.ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "status_code",
            "latency_ms",
            "error",
            "retry_after_s",
            "next_attempt_at",
        ]


class WebhookDeliveryOut(serializers.ModelSerializer[Delivery]):
    webhook_id = serializers.CharField(source="message_id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    event_timestamp = serializers.DateTimeField(source="event.occurred_at", read_only=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)
    attempt_log = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "event_timestamp",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "delivered_at",
            "failed_at",
            "created_at",
            "attempt_log",
        ]

    @extend_schema_field(AttemptOut(many=True))
    def get_attempt_log(self, delivery: Delivery) -> Any:
        return AttemptOut(delivery.attempt_log.all(), many=True).data


class ReplayFailedIn(serializers.Serializer[Any]):
    since = serializers.DateTimeField(required=False, help_text="Only deliveries created since.")


class ReplayFailedOut(serializers.Serializer[Any]):
    replayed = serializers.IntegerField()


class DeliveryPage(serializers.Serializer[Any]):
    results = WebhookDeliveryOut(many=True)
    next = serializers.URLField(allow_null=True)

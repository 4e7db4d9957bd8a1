"""Serializers of the notifications API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.notifications import wording
from integrations.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
    NotificationTemplate,
)

TEMPLATE_CHANNELS = [(c.value, c.label) for c in (Channel.EMAIL, Channel.SMS, Channel.IN_APP)]


class PreferenceOut(serializers.ModelSerializer[NotificationPreference]):
    class Meta:
        model = NotificationPreference
        fields = [
            "id",
            "customer_account",
            "tracking_number",
            "email",
            "phone",
            "locale",
            "timezone",
            "email_enabled",
            "sms_enabled",
            "in_app_enabled",
            "email_milestones",
            "sms_milestones",
            "quiet_hours_start",
            "quiet_hours_end",
            "updated_at",
        ]


class PreferenceIn(serializers.Serializer[Any]):
    """Either ``customer_account`` or ``tracking_number`` names whose preferences these are;
    the row is created or replaced (fields left out take their defaults)."""

    customer_account = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    tracking_number = serializers.CharField(
        required=False, allow_blank=True, max_length=80, default=""
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="", max_length=254)
    phone = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20, help_text="E.164"
    )
    locale = serializers.CharField(required=False, allow_blank=True, default="", max_length=16)
    timezone = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    email_enabled = serializers.BooleanField(required=False, default=False)
    sms_enabled = serializers.BooleanField(required=False, default=False)
    in_app_enabled = serializers.BooleanField(required=False, default=True)
    email_milestones = serializers.ListField(
        child=serializers.CharField(max_length=40), max_length=30, required=False, default=list
    )
    sms_milestones = serializers.ListField(
        child=serializers.CharField(max_length=40), max_length=30, required=False, default=list
    )
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True, default=None)
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True, default=None)


class DeliveryOut(serializers.ModelSerializer[Notification]):
    cause = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "shipment",
            "channel",
            "recipient",
            "topic",
            "locale",
            "subject",
            "body",
            "status",
            "provider",
            "provider_message_id",
            "attempts",
            "last_error",
            "cause",
            "created_at",
            "send_after",
            "sent_at",
            "delivered_at",
            "failed_at",
        ]

    @extend_schema_field(serializers.DictField())
    def get_cause(self, notification: Notification) -> dict[str, Any]:
        # The unsubscribe token is the recipient's own: never shown to anyone else.
        return {k: v for k, v in (notification.cause or {}).items() if k != "unsubscribe_token"}


class InboxOut(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "shipment", "topic", "subject", "body", "created_at", "read_at"]


class TemplateOut(serializers.ModelSerializer[NotificationTemplate]):
    class Meta:
        model = NotificationTemplate
        fields = ["id", "topic", "channel", "locale", "subject", "body", "updated_at"]


class TemplateIn(serializers.Serializer[Any]):
    topic = serializers.ChoiceField(choices=list(wording.TOPICS))
    channel = serializers.ChoiceField(choices=TEMPLATE_CHANNELS)
    locale = serializers.CharField(max_length=16)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=4000)


class UnsubscribeOut(serializers.Serializer[Any]):
    tenant = serializers.CharField()
    channel = serializers.ChoiceField(choices=[Channel.EMAIL.value, Channel.SMS.value])
    recipient = serializers.CharField(help_text="masked")
    subscribed = serializers.BooleanField()


STATUS_CHOICES = DeliveryStatus.values

"""Serializers of the notifications API."""

from __future__ import annotations

import re
from datetime import time
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


class _StrictText:
    """JSON strings only: DRF's text fields would turn 0 or true into "0" / "True"."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise serializers.ValidationError("Not a valid string.", code="invalid")
        return super().to_internal_value(data)  # type: ignore[misc]


class Text(_StrictText, serializers.CharField):
    pass


class Pattern(_StrictText, serializers.RegexField):
    pass


class Email(_StrictText, serializers.EmailField):
    pass


class Flag(serializers.BooleanField):
    """JSON true/false only (DRF would take "yes", "1", 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Must be true or false.", code="invalid")
        return data


class WholeNumber(serializers.IntegerField):
    """JSON integers only (DRF would take "5" and 5.0)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("A valid integer is required.", code="invalid")
        return int(super().to_internal_value(data))


LOCALE_PATTERN = r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


@extend_schema_field({"type": "string", "pattern": TIME_PATTERN, "example": "21:00"})
class LocalTimeField(Text):
    """A wall-clock time in the recipient's zone, HH:MM[:SS] (no offset: it is local)."""

    def to_internal_value(self, data: Any) -> Any:
        text = super().to_internal_value(data)
        if not re.match(TIME_PATTERN, text):
            raise serializers.ValidationError("Use HH:MM or HH:MM:SS (local time, no offset).")
        hours, minutes, *seconds = (int(part) for part in text.split(":"))
        return time(hours, minutes, seconds[0] if seconds else 0)


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

    quiet_hours_start = LocalTimeField(read_only=True, allow_null=True)
    quiet_hours_end = LocalTimeField(read_only=True, allow_null=True)


class PreferenceIn(serializers.Serializer[Any]):
    """Either ``customer_account`` or ``tracking_number`` names whose preferences these are;
    the row is created or replaced (fields left out take their defaults)."""

    customer_account = WholeNumber(required=False, allow_null=True, min_value=1)
    tracking_number = Text(required=False, allow_blank=True, max_length=80, default="")
    email = Email(required=False, allow_blank=True, default="", max_length=254)
    phone = Pattern(
        r"^(\+[1-9][0-9]{6,14})?$",
        required=False,
        allow_blank=True,
        default="",
        max_length=16,
        help_text="E.164, e.g. +4915112345678",
    )
    locale = Pattern(LOCALE_PATTERN, required=False, allow_blank=True, default="", max_length=16)
    timezone = Text(required=False, allow_blank=True, default="", max_length=64)
    email_enabled = Flag(required=False, default=False)
    sms_enabled = Flag(required=False, default=False)
    in_app_enabled = Flag(required=False, default=True)
    email_milestones = serializers.ListField(
        child=Text(max_length=40), max_length=30, required=False, default=list
    )
    sms_milestones = serializers.ListField(
        child=Text(max_length=40), max_length=30, required=False, default=list
    )
    quiet_hours_start = LocalTimeField(required=False, allow_null=True, default=None)
    quiet_hours_end = LocalTimeField(required=False, allow_null=True, default=None)


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
        # The token is the recipient's: kept out of the cause (the body shows the link sent).
        return {k: v for k, v in (notification.cause or {}).items() if k != "unsubscribe_token"}


class InboxOut(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "shipment", "topic", "subject", "body", "created_at", "read_at"]


class NotificationTemplateOut(serializers.ModelSerializer[NotificationTemplate]):
    class Meta:
        model = NotificationTemplate
        fields = ["id", "topic", "channel", "locale", "subject", "body", "updated_at"]


class NotificationTemplateIn(serializers.Serializer[Any]):
    topic = serializers.ChoiceField(choices=list(wording.TOPICS))
    channel = serializers.ChoiceField(choices=TEMPLATE_CHANNELS)
    locale = Pattern(LOCALE_PATTERN, max_length=16)
    subject = Text(max_length=200, required=False, allow_blank=True, default="")
    body = Text(max_length=4000)


class UnsubscribeOut(serializers.Serializer[Any]):
    tenant = serializers.CharField()
    channel = serializers.ChoiceField(choices=[Channel.EMAIL.value, Channel.SMS.value])
    recipient = serializers.CharField(help_text="masked")
    subscribed = serializers.BooleanField()


STATUS_CHOICES = DeliveryStatus.values

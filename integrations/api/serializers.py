"""Serializers of the core ingestion API: messages, dead letters, integrations."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from integrations import outbound, selectors
from integrations.inbox.services import inbox_path
from integrations.models import (
    DeadLetter,
    InboundMessage,
    Integration,
    IntegrationKind,
    PollAdapter,
)
from integrations.polling.adapters.dcsa import validate_base_url
from integrations.services import redacted_config
from tenancy.text import check_document

MIN_POLL_INTERVAL_S = 30

ACCEPTED = inline_serializer(
    "IngestAccepted", {"message_id": serializers.IntegerField(), "status": serializers.CharField()}
)


class DeadLetterOut(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "message",
            "stage",
            "reason",
            "position",
            "unit",
            "created_at",
            "resolved_at",
            "replay_count",
        ]


class MessageOut(serializers.ModelSerializer):
    dead_letters = serializers.SerializerMethodField()

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "integration",
            "channel",
            "received_at",
            "content_type",
            "size",
            "sha256",
            "status",
            "attempts",
            "format",
            "events_parsed",
            "events_applied",
            "events_held",
            "last_error",
            "processed_at",
            "dead_letters",
        ]

    def get_dead_letters(self, message: InboundMessage) -> list[dict]:
        return DeadLetterOut(selectors.message_dead_letters(message=message), many=True).data


class IntegrationIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=IntegrationKind.choices)
    partner_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    code_overrides = serializers.DictField(child=serializers.CharField(), required=False)
    poll_adapter = serializers.ChoiceField(
        choices=PollAdapter.choices, required=False, allow_blank=True
    )
    poll_config = serializers.DictField(required=False)
    poll_interval_s = serializers.IntegerField(
        min_value=MIN_POLL_INTERVAL_S, max_value=7 * 24 * 3600, required=False
    )
    inbox_enabled = serializers.BooleanField(required=False)

    def validate_code_overrides(self, value: dict) -> dict:
        check_document(value, path="code_overrides")  # stored as jsonb: no NUL, keys too
        return value

    def validate_poll_config(self, value: dict) -> dict:
        check_document(value, path="poll_config")
        if "base_url" in value:
            # No DNS here: a literal address in a refused range or localhost is refused now,
            # a name that resolves to one when the poll connects (integrations.outbound).
            try:
                value["base_url"] = validate_base_url(value["base_url"])
            except ValueError as error:
                # -> fields {"poll_config": ["base_url: <why>"]}
                raise serializers.ValidationError({"base_url": [str(error)]}) from None
        headers = value.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise serializers.ValidationError("headers must be an object of strings")
        try:
            outbound.check_headers(headers)
        except outbound.OutboundError as error:
            raise serializers.ValidationError({"headers": [error.message]}) from None
        for key in ("limit", "max_pages", "max_events", "timeout_s"):
            if key in value and (
                not isinstance(value[key], int | float)
                or isinstance(value[key], bool)
                or value[key] <= 0
            ):
                raise serializers.ValidationError(f"{key} must be a positive number")
        if "timeout_s" in value and value["timeout_s"] > outbound.MAX_TIMEOUT_S:
            raise serializers.ValidationError(
                {"timeout_s": [f"must be at most {outbound.MAX_TIMEOUT_S:g} seconds"]}
            )
        return value

    def validate(self, data: dict) -> dict:
        instance = self.instance
        adapter = data.get("poll_adapter", instance.poll_adapter if instance else "")
        config = data.get("poll_config", instance.poll_config if instance else {})
        if adapter == PollAdapter.DCSA_V2 and not (config or {}).get("base_url"):
            raise serializers.ValidationError(
                {"poll_config": ["base_url is required for the dcsa_v2 adapter"]}
            )
        return data


class IntegrationOut(serializers.ModelSerializer):
    poll_config = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    inbox_path = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "name",
            "kind",
            "partner_name",
            "is_active",
            "token",
            "code_overrides",
            "poll_adapter",
            "poll_config",
            "poll_cursor",
            "poll_interval_s",
            "last_polled_at",
            "last_poll_error",
            "inbox_enabled",
            "created_at",
            "webhook_url",
            "inbox_path",
        ]

    def get_poll_config(self, integration: Integration) -> dict:
        return redacted_config(integration.poll_config)

    def get_webhook_url(self, integration: Integration) -> str:
        path = reverse("ingest-webhook", args=[integration.tenant_id, integration.token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_inbox_path(self, integration: Integration) -> str | None:
        tenant = self.context.get("tenant")
        return str(inbox_path(tenant, integration)) if tenant else None

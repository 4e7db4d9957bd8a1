"""Integration management for tenant admins and ops: list/create, read/update, rotate the
webhook secret, poll now. The secret is shown only when created and when rotated; poll
credentials (poll_config.headers) are never shown back."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations.adapters.dcsa import validate_base_url
from integrations.inbox import inbox_path
from integrations.models import Integration, IntegrationKind, PollAdapter
from integrations.services import (
    IngestError,
    integration_create,
    integration_poll_now,
    integration_rotate_secret,
    integration_update,
    redacted_config,
)
from tenancy.api.errors import ApiError
from tenancy.api.views import TenantAPIView
from tenancy.models import ApiScope, Role

STAFF = frozenset({Role.ADMIN, Role.OPS})
READ_SCOPES = frozenset({ApiScope.INGEST})
MIN_POLL_INTERVAL_S = 30


# --- serializers -----------------------------------------------------------------------------


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

    def validate_poll_config(self, value: dict) -> dict:
        if "base_url" in value:
            try:
                value["base_url"] = validate_base_url(value["base_url"])
            except ValueError as error:
                raise serializers.ValidationError(str(error)) from None
        headers = value.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise serializers.ValidationError("headers must be an object of strings")
        for key in ("limit", "max_pages", "max_events", "timeout_s"):
            if key in value and (
                not isinstance(value[key], int | float)
                or isinstance(value[key], bool)
                or value[key] <= 0
            ):
                raise serializers.ValidationError(f"{key} must be a positive number")
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


def _out(view, integration: Integration, *, secret: bool = False) -> dict:
    data = IntegrationOut(
        integration, context={"request": view.request, "tenant": view.tenant}
    ).data
    if secret:
        data["secret"] = integration.secret
    return data


SECRET_OUT = inline_serializer(
    "IntegrationWithSecret", {"id": serializers.IntegerField(), "secret": serializers.CharField()}
)


# --- views -----------------------------------------------------------------------------------


class IntegrationListView(TenantAPIView):
    role_map = {"GET": STAFF, "POST": STAFF}
    scope_map = {"GET": READ_SCOPES}

    @extend_schema(responses=IntegrationOut(many=True))
    def get(self, request):
        integrations = Integration.objects.order_by("name", "pk")
        return Response({"results": [_out(self, i) for i in integrations]})

    @extend_schema(request=IntegrationIn, responses={201: IntegrationOut})
    def post(self, request):
        data = IntegrationIn(data=request.data)
        data.is_valid(raise_exception=True)
        integration = integration_create(actor=self.actor, **data.validated_data)
        return Response(_out(self, integration, secret=True), status=status.HTTP_201_CREATED)


class IntegrationDetailView(TenantAPIView):
    role_map = {"GET": STAFF, "PATCH": STAFF}
    scope_map = {"GET": READ_SCOPES}

    @extend_schema(responses=IntegrationOut)
    def get(self, request, integration_id: int):
        integration = get_object_or_404(Integration.objects.all(), pk=integration_id)
        return Response(_out(self, integration))

    @extend_schema(request=IntegrationIn(partial=True), responses=IntegrationOut)
    def patch(self, request, integration_id: int):
        integration = get_object_or_404(Integration.objects.all(), pk=integration_id)
        data = IntegrationIn(integration, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        integration = integration_update(
            integration=integration, actor=self.actor, **data.validated_data
        )
        return Response(_out(self, integration))


class IntegrationRotateSecretView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(request=None, responses=SECRET_OUT)
    def post(self, request, integration_id: int):
        integration = get_object_or_404(Integration.objects.all(), pk=integration_id)
        integration = integration_rotate_secret(integration=integration, actor=self.actor)
        return Response(_out(self, integration, secret=True))


class IntegrationPollView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "PollQueued",
                {"integration": serializers.IntegerField(), "queued": serializers.BooleanField()},
            )
        },
    )
    def post(self, request, integration_id: int):
        integration = get_object_or_404(Integration.objects.all(), pk=integration_id)
        try:
            integration_poll_now(integration=integration)
        except IngestError as error:
            raise ApiError(error.message, code=error.code, status_code=error.status) from error
        return Response(
            {"integration": integration.pk, "queued": True}, status=status.HTTP_202_ACCEPTED
        )

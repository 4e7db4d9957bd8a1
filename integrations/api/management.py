"""Integration management for tenant admins and ops: list/create, read/update, rotate the
webhook secret, poll now. The secret is shown only when created and when rotated; poll
credentials (poll_config.headers) are never shown back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors, services
from integrations.api.serializers import IntegrationIn, IntegrationOut
from integrations.models import Integration
from integrations.polling import tasks as polling
from tenancy.api.base import NO_KEYS, STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.models import ApiScope

READ_SCOPES = frozenset({ApiScope.INGEST})
SECRET_OUT = inline_serializer(
    "IntegrationWithSecret", {"id": serializers.IntegerField(), "secret": serializers.CharField()}
)
POLL_QUEUED = inline_serializer(
    "PollQueued", {"integration": serializers.IntegerField(), "queued": serializers.BooleanField()}
)


class IntegrationAPIView(TenantAPIView):
    customer_scope = None

    def out(self, integration: Integration, *, secret: bool = False) -> dict:
        data = dict(
            IntegrationOut(
                integration, context={"request": self.request, "tenant": self.tenant}
            ).data
        )
        if secret:
            data["secret"] = integration.secret
        return data


class IntegrationListView(IntegrationAPIView):
    role_map = {"GET": STAFF, "POST": STAFF}
    scope_map = {"GET": READ_SCOPES}

    @extend_schema(
        operation_id="ingest_integrations_list",
        responses=list_of(IntegrationOut, "IntegrationList"),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": [self.out(i) for i in selectors.integration_list()]})

    @extend_schema(request=IntegrationIn, responses={201: IntegrationOut})
    def post(self, request: Request) -> Response:
        data = IntegrationIn(data=request.data)
        data.is_valid(raise_exception=True)
        integration = services.integration_create(actor=self.actor, **data.validated_data)
        return Response(self.out(integration, secret=True), status=status.HTTP_201_CREATED)


class IntegrationDetailView(IntegrationAPIView):
    role_map = {"GET": STAFF, "PATCH": STAFF}
    scope_map = {"GET": READ_SCOPES}

    @extend_schema(responses=IntegrationOut)
    def get(self, request: Request, integration_id: int) -> Response:
        return Response(self.out(selectors.integration_get(integration_id=integration_id)))

    @extend_schema(request=IntegrationIn(partial=True), responses=IntegrationOut)
    def patch(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        data = IntegrationIn(integration, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        integration = services.integration_update(
            integration=integration, changes=data.validated_data, actor=self.actor
        )
        return Response(self.out(integration))


class IntegrationRotateSecretView(IntegrationAPIView):
    role_map = {"POST": STAFF}
    scope_map = NO_KEYS

    @extend_schema(request=None, responses=SECRET_OUT)
    def post(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        integration = services.integration_rotate_secret(integration=integration, actor=self.actor)
        return Response(self.out(integration, secret=True))


class IntegrationPollView(IntegrationAPIView):
    role_map = {"POST": STAFF}
    scope_map = NO_KEYS

    @extend_schema(request=None, responses={202: POLL_QUEUED})
    def post(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        polling.integration_poll_now(integration=integration)
        return Response(
            {"integration": integration.pk, "queued": True}, status=status.HTTP_202_ACCEPTED
        )

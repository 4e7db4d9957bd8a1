"""Partner webhooks API (``/api/v1/webhooks/``): subscriptions, their test event, their
delivery log and replays.

Who: tenant staff (admin, ops) in a session; API keys with ``read`` (or ``write``) to look,
``write`` to change. Customer scope: a key limited to customer accounts sees and manages only
the subscriptions it made itself (``SENT_BY_CALLER``), and those receive only events of its
accounts' shipments (fixed when made); the delivery log shows it nothing else either.
"""

from __future__ import annotations

import base64
import binascii

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.subscriptions import selectors, services
from integrations.subscriptions.models import (
    TEST_EVENT,
    Delivery,
    DeliveryStatus,
    EventType,
    Subscription,
)
from integrations.subscriptions.serializers import (
    DeliveryPage,
    ReplayFailedIn,
    ReplayFailedOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookWithSecretOut,
)
from tenancy.api.base import SENT_BY_CALLER, STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope

READ = frozenset({ApiScope.READ, ApiScope.WRITE})
WRITE = frozenset({ApiScope.WRITE})
PAGE_SIZE = 50


class WebhookAPIView(TenantAPIView):
    customer_scope = SENT_BY_CALLER

    def subscription(self, webhook_id: int) -> Subscription:
        return self.get_scoped(selectors.subscription_list(), pk=webhook_id)


class WebhookListView(WebhookAPIView):
    role_map = {"GET": STAFF, "POST": STAFF}
    scope_map = {"GET": READ, "POST": WRITE}

    @extend_schema(operation_id="webhooks_list", responses=list_of(WebhookOut, "WebhookList"))
    def get(self, request: Request) -> Response:
        subscriptions = self.scoped(selectors.subscription_list())[: selectors.LIST_LIMIT]
        return Response({"results": WebhookOut(subscriptions, many=True).data})

    @extend_schema(request=WebhookIn, responses={201: WebhookWithSecretOut})
    def post(self, request: Request) -> Response:
        data = WebhookIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subscription = services.subscription_create(
            url=values["url"],
            event_types=values["event_types"],
            description=values.get("description", ""),
            customer_account_ids=self.customer_account_ids,
            api_key=self.api_key,
            actor=self.actor,
        )
        return Response(WebhookWithSecretOut(subscription).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(WebhookAPIView):
    role_map = {"GET": STAFF, "PATCH": STAFF, "DELETE": STAFF}
    scope_map = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=WebhookOut)
    def get(self, request: Request, webhook_id: int) -> Response:
        return Response(WebhookOut(self.subscription(webhook_id)).data)

    @extend_schema(request=WebhookIn(partial=True), responses=WebhookOut)
    def patch(self, request: Request, webhook_id: int) -> Response:
        subscription = self.subscription(webhook_id)
        data = WebhookIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_update(
            subscription=subscription,
            changes=data.validated_data,
            api_key=self.api_key,
            actor=self.actor,
        )
        return Response(WebhookOut(subscription).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, webhook_id: int) -> Response:
        services.subscription_delete(
            subscription=self.subscription(webhook_id), api_key=self.api_key, actor=self.actor
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(WebhookAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}

    @extend_schema(request=None, responses=WebhookWithSecretOut)
    def post(self, request: Request, webhook_id: int) -> Response:
        subscription = services.subscription_rotate_secret(
            subscription=self.subscription(webhook_id), api_key=self.api_key, actor=self.actor
        )
        return Response(WebhookWithSecretOut(subscription).data)


class WebhookTestView(WebhookAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}

    @extend_schema(request=None, responses={202: WebhookDeliveryOut})
    def post(self, request: Request, webhook_id: int) -> Response:
        delivery = services.subscription_test(
            subscription=self.subscription(webhook_id), api_key=self.api_key, actor=self.actor
        )
        return Response(WebhookDeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListView(WebhookAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": READ}

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=DeliveryStatus.values, required=False),
            OpenApiParameter(
                "event_type", str, enum=[*EventType.values, TEST_EVENT], required=False
            ),
            OpenApiParameter("cursor", str, required=False, description="From `next`."),
        ],
        responses=DeliveryPage,
    )
    def get(self, request: Request, webhook_id: int) -> Response:
        subscription = self.subscription(webhook_id)
        params = request.query_params
        deliveries = selectors.delivery_list(
            subscription=subscription,
            status=_choice(params, "status", DeliveryStatus.values),
            event_type=_choice(params, "event_type", [*EventType.values, TEST_EVENT]),
            customer_account_ids=self.customer_account_ids,
        )
        before = _cursor(params.get("cursor"))
        if before is not None:
            deliveries = deliveries.filter(pk__lt=before)
        page = list(deliveries[: PAGE_SIZE + 1])
        more = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        following = None
        if more:
            query = params.copy()
            query["cursor"] = _encode_cursor(page[-1].pk)
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"results": WebhookDeliveryOut(page, many=True).data, "next": following})


class WebhookDeliveryReplayView(WebhookAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}

    @extend_schema(request=None, responses={202: WebhookDeliveryOut})
    def post(self, request: Request, webhook_id: int, delivery_id: int) -> Response:
        subscription = self.subscription(webhook_id)
        found = selectors.delivery_list(
            subscription=subscription, customer_account_ids=self.customer_account_ids
        )
        delivery: Delivery | None = found.filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound()
        delivery = services.delivery_replay(
            delivery=delivery, api_key=self.api_key, actor=self.actor
        )
        return Response(WebhookDeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookReplayFailedView(WebhookAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}

    @extend_schema(request=ReplayFailedIn, responses={202: ReplayFailedOut})
    def post(self, request: Request, webhook_id: int) -> Response:
        subscription = self.subscription(webhook_id)
        data = ReplayFailedIn(data=request.data)
        data.is_valid(raise_exception=True)
        replayed = services.deliveries_replay_failed(
            subscription=subscription,
            since=data.validated_data.get("since"),
            api_key=self.api_key,
            actor=self.actor,
        )
        return Response({"replayed": replayed}, status=status.HTTP_202_ACCEPTED)


def _choice(params: QueryDict, name: str, allowed: list[str]) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if value not in allowed:
        raise DomainError(f"Expected one of {', '.join(allowed)}.", code="invalid", field=name)
    return value


def _encode_cursor(delivery_id: int) -> str:
    return base64.urlsafe_b64encode(f"d{delivery_id}".encode()).decode().rstrip("=")


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not (text.startswith("d") and text[1:].isdigit() and len(text) <= 20):
        raise DomainError("Not a cursor from this list.", code="invalid_cursor", field="cursor")
    return int(text[1:])

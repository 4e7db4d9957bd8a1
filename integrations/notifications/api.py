"""Notifications API: preferences, delivery records, the caller's in-app inbox, templates
(tenant admins), and the public unsubscribe endpoint (a signed token, no session)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors as ingest_selectors
from integrations.notifications import selectors, services
from integrations.notifications.models import Channel, DeliveryStatus
from integrations.notifications.serializers import (
    DeliveryOut,
    InboxOut,
    NotificationTemplateIn,
    NotificationTemplateOut,
    PreferenceIn,
    PreferenceOut,
    UnsubscribeOut,
)
from tenancy.api.base import ADMIN_ONLY, CALLER_ONLY, NO_KEYS, TenantAPIView
from tenancy.api.fields import query_time
from tenancy.api.parsers import JSONParser, query_flag
from tenancy.api.schema import list_of
from tenancy.context import tenant_context
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope, Role, Tenant

STAFF_AND_CUSTOMERS = frozenset({Role.ADMIN, Role.OPS, Role.CUSTOMER})
EVERY_ROLE = frozenset(Role.values)
READ = frozenset({ApiScope.READ})
WRITE = frozenset({ApiScope.WRITE})
MAX_LIMIT = selectors.LIST_LIMIT
ID_MAX = 10**18 - 1  # ids are bigints; the schema says so, larger ones are refused


def _id_param(name: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, {"type": "integer", "minimum": 1, "maximum": ID_MAX}, required=False
    )


def _int(
    request: Request, name: str, *, default: int | None = None, high: int = ID_MAX
) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 18 or not 1 <= int(value) <= high:
        raise DomainError(
            f"{name} must be a whole number from 1 to {high}.",
            code="invalid_parameter",
            field=name,
        )
    return int(value)


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise DomainError(
            f"{name} must be one of {', '.join(choices)}.", code="invalid_parameter", field=name
        )
    return value


# --- preferences ---------------------------------------------------------------------------


class PreferenceListView(TenantAPIView):
    """GET the preferences (of an account or a tracking number); POST sets them."""

    role_map = {"GET": STAFF_AND_CUSTOMERS, "POST": STAFF_AND_CUSTOMERS}
    scope_map = {"GET": READ, "POST": WRITE}
    customer_scope = "customer_account_id"

    @extend_schema(
        parameters=[
            _id_param("customer_account"),
            OpenApiParameter("tracking_number", str, required=False),
        ],
        responses=list_of(PreferenceOut, "NotificationPreferenceList"),
    )
    def get(self, request: Request) -> Response:
        preferences = selectors.preference_list(
            customer_account_id=_int(request, "customer_account"),
            tracking_number=request.query_params.get("tracking_number"),
        )
        found = self.scoped(preferences)[:MAX_LIMIT]
        return Response({"results": PreferenceOut(found, many=True).data})

    @extend_schema(request=PreferenceIn, responses={200: PreferenceOut})
    def post(self, request: Request) -> Response:
        data = PreferenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        preference = services.preference_set(
            values=services.PreferenceValues(
                **{
                    k: values[k]
                    for k in services.PreferenceValues.__dataclass_fields__
                    if k in values
                }
            ),
            known_milestones=ingest_selectors.known_milestones(),
            customer_account_id=values.get("customer_account"),
            tracking_number=values.get("tracking_number") or "",
            allowed_accounts=self.customer_account_ids,
            actor=self.actor,
        )
        return Response(PreferenceOut(preference).data)


# --- delivery records ----------------------------------------------------------------------


class DeliveryListView(TenantAPIView):
    """Every notification and what became of it, newest first (ops; customers: theirs)."""

    role_map = {"GET": STAFF_AND_CUSTOMERS}
    scope_map = {"GET": READ}
    customer_scope = "shipment__customer_account_id"

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, required=False, enum=DeliveryStatus.values),
            OpenApiParameter("channel", str, required=False, enum=Channel.values),
            _id_param("shipment"),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, required=False
            ),
        ],
        responses=list_of(DeliveryOut, "NotificationDeliveryList"),
        operation_id="notifications_deliveries_list",
    )
    def get(self, request: Request) -> Response:
        records = selectors.delivery_list(
            status=_choice(request, "status", DeliveryStatus.values),
            channel=_choice(request, "channel", Channel.values),
            shipment_id=_int(request, "shipment"),
            created_after=query_time(request, "created_after"),
            created_before=query_time(request, "created_before"),
        )
        limit = _int(request, "limit", default=100, high=MAX_LIMIT) or 100
        found = self.scoped(records)[:limit]
        return Response({"results": DeliveryOut(found, many=True).data})


class DeliveryDetailView(TenantAPIView):
    role_map = {"GET": STAFF_AND_CUSTOMERS}
    scope_map = {"GET": READ}
    customer_scope = "shipment__customer_account_id"

    @extend_schema(responses=DeliveryOut, operation_id="notifications_delivery_retrieve")
    def get(self, request: Request, notification_id: int) -> Response:
        record = self.get_scoped(selectors.delivery_list(), pk=notification_id)
        return Response(DeliveryOut(record).data)


# --- in-app inbox --------------------------------------------------------------------------


class InboxView(TenantAPIView):
    """The caller's own in-app notifications (a member; keys have no inbox)."""

    role_map = {"GET": EVERY_ROLE}
    scope_map = NO_KEYS
    customer_scope = CALLER_ONLY

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, required=False)],
        responses=list_of(InboxOut, "NotificationInbox"),
    )
    def get(self, request: Request) -> Response:
        actor = self.actor
        assert actor is not None  # a member (NO_KEYS)
        messages = selectors.inbox(user_id=actor.pk, unread_only=query_flag(request, "unread"))
        return Response({"results": InboxOut(messages[:MAX_LIMIT], many=True).data})


class InboxReadView(TenantAPIView):
    role_map = {"POST": EVERY_ROLE}
    scope_map = NO_KEYS
    customer_scope = CALLER_ONLY

    @extend_schema(request=None, responses=InboxOut)
    def post(self, request: Request, notification_id: int) -> Response:
        actor = self.actor
        assert actor is not None
        message = selectors.inbox(user_id=actor.pk).filter(pk=notification_id).first()
        if message is None:
            raise NotFound()
        return Response(InboxOut(services.notification_mark_read(notification=message)).data)


# --- templates -----------------------------------------------------------------------------


class TemplateListView(TenantAPIView):
    """The tenant's own wording (GET); POST creates or replaces one topic/channel/locale.
    Without one, the built-in English or German default is used."""

    role_map = {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(
        responses=list_of(NotificationTemplateOut, "NotificationTemplateList"),
        operation_id="notifications_templates_list",
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"results": NotificationTemplateOut(selectors.template_list(), many=True).data}
        )

    @extend_schema(request=NotificationTemplateIn, responses={200: NotificationTemplateOut})
    def post(self, request: Request) -> Response:
        data = NotificationTemplateIn(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.template_set(**data.validated_data, actor=self.actor)
        return Response(NotificationTemplateOut(template).data)


class TemplateDetailView(TenantAPIView):
    role_map = {"GET": ADMIN_ONLY, "DELETE": ADMIN_ONLY}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(
        responses=NotificationTemplateOut, operation_id="notifications_template_retrieve"
    )
    def get(self, request: Request, template_id: int) -> Response:
        return Response(
            NotificationTemplateOut(self.get_scoped(selectors.template_list(), pk=template_id)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, template_id: int) -> Response:
        template = self.get_scoped(selectors.template_list(), pk=template_id)
        services.template_delete(template=template, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- unsubscribe (public) ------------------------------------------------------------------


def _masked(address: str) -> str:
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{address[:3]}***{address[-3:]}" if len(address) > 6 else "***"


TOKEN = OpenApiParameter(
    "token", str, required=True, description="the signed token of the unsubscribe link"
)


class UnsubscribeView(APIView):
    """The link in every email and SMS: GET says what it unsubscribes, POST does it (also
    RFC 8058 one-click, a form POST to the same URL). Authenticated by the signed, expiring
    token alone, so it is not a tenant view (tests/tenancy/test_api_base.py lists it); the
    tenant comes from the token."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]
    parser_classes: list[type[BaseParser]] = [JSONParser, FormParser]  # the body is ignored

    def _claim(self, request: Request) -> tuple[services.UnsubscribeClaim, Tenant]:
        token = request.query_params.get("token") or ""
        if not token or len(token) > 1000:
            raise services.TokenInvalid("This unsubscribe link is not valid.", field="token")
        claim = services.unsubscribe_token_read(token)
        tenant = Tenant.objects.filter(pk=claim.tenant_id).first()
        if tenant is None:
            raise services.TokenInvalid("This unsubscribe link is not valid.", field="token")
        return claim, tenant

    @extend_schema(
        operation_id="notifications_unsubscribe_show",
        auth=[],
        parameters=[TOKEN],
        responses=UnsubscribeOut,
    )
    def get(self, request: Request) -> Response:
        claim, tenant = self._claim(request)
        with tenant_context(tenant.pk):
            preference = selectors.preference_list().filter(pk=claim.preference_id).first()
            if preference is None:
                raise services.TokenInvalid("This unsubscribe link is not valid.", field="token")
            return Response(_unsubscribe_out(tenant, claim, preference))

    @extend_schema(
        operation_id="notifications_unsubscribe",
        auth=[],
        parameters=[TOKEN],
        request=None,
        responses=UnsubscribeOut,
    )
    def post(self, request: Request) -> Response:
        claim, tenant = self._claim(request)
        with tenant_context(tenant.pk):
            preference = services.unsubscribe_apply(claim=claim)
            return Response(_unsubscribe_out(tenant, claim, preference))


def _unsubscribe_out(tenant: Tenant, claim: services.UnsubscribeClaim, preference: Any) -> Any:
    address = preference.phone if claim.channel == Channel.SMS else preference.email
    return UnsubscribeOut(
        {
            "tenant": tenant.name,
            "channel": claim.channel,
            "recipient": _masked(address or ""),
            "subscribed": bool(getattr(preference, f"{claim.channel}_enabled")),
        }
    ).data

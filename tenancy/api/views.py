"""Tenancy API: who am I, and API key management for tenant admins."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenancy import selectors, services
from tenancy.api.base import ADMIN_ONLY, CALLER_ONLY, NO_KEYS, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import DomainError
from tenancy.models import ApiKey, ApiScope, Role


class MeView(TenantAPIView):
    role_map = {"GET": frozenset(Role.values)}
    scope_map = {"GET": frozenset(ApiScope.values)}
    customer_scope = CALLER_ONLY

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "tenant": serializers.DictField(),
                "user": serializers.EmailField(allow_null=True),
                "role": serializers.CharField(allow_null=True),
                "api_key": serializers.CharField(allow_null=True),
                "scopes": serializers.ListField(child=serializers.CharField(), allow_null=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        api_key, membership, actor = self.api_key, self.membership, self.actor
        return Response(
            {
                "tenant": {"slug": self.tenant.slug, "name": self.tenant.name},
                "user": actor.email if actor and not api_key else None,
                "role": membership.role if membership else None,
                "api_key": api_key.prefix if api_key else None,
                "scopes": api_key.scopes if api_key else None,
            }
        )


class ApiKeyOut(serializers.ModelSerializer):
    customer_accounts = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "revoked_at",
            "customer_accounts",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_customer_accounts(self, key: ApiKey) -> list[int]:
        return key.customer_account_ids()


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiScope.choices), allow_empty=False
    )
    customer_accounts = serializers.ListField(child=serializers.IntegerField(), default=list)


class ApiKeyListView(TenantAPIView):
    role_map = {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(responses=list_of(ApiKeyOut, "ApiKeyList"))
    def get(self, request: Request) -> Response:
        keys = selectors.api_key_list().order_by("-created_at")
        return Response({"results": ApiKeyOut(keys, many=True).data})

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyOut})
    def post(self, request: Request) -> Response:
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = set(data.validated_data["customer_accounts"])
        accounts = selectors.customer_accounts(ids=wanted)
        if len(accounts) != len(wanted):
            raise DomainError(
                "Unknown customer account.",
                code="unknown_customer_account",
                field="customer_accounts",
            )
        issued = services.api_key_issue(
            name=data.validated_data["name"],
            scopes=data.validated_data["scopes"],
            customer_accounts=accounts,
            actor=self.actor,
        )
        body = ApiKeyOut(issued.api_key).data | {"key": issued.raw_key}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(TenantAPIView):
    role_map = {"POST": ADMIN_ONLY}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(request=None, responses=ApiKeyOut)
    def post(self, request: Request, key_id: int) -> Response:
        key = self.get_scoped(selectors.api_key_list(), pk=key_id)
        services.api_key_revoke(api_key=key, actor=self.actor)
        return Response(ApiKeyOut(key).data)

"""Tenancy API: who am I, and API key management for tenant admins."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy import selectors, services
from tenancy.api.errors import ApiError
from tenancy.models import ApiKey, ApiScope, CustomerAccount, Role


class TenantAPIView(APIView):
    """Base for tenant APIs: the tenant is resolved once (middleware), role/scope per method."""

    role_map = {"GET": frozenset(Role.values)}
    scope_map = {"GET": frozenset({ApiScope.READ})}

    @property
    def tenant(self):
        return self.request._request.tenant

    @property
    def actor(self):
        user = self.request.user
        return user if getattr(user, "pk", None) else None


class MeView(TenantAPIView):
    scope_map = {"GET": frozenset(ApiScope.values)}

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
    def get(self, request):
        api_key = request._request.api_key
        membership = request._request.membership
        return Response(
            {
                "tenant": {"slug": self.tenant.slug, "name": self.tenant.name},
                "user": None if api_key else request.user.email,
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


ADMIN_ONLY = frozenset({Role.ADMIN})


class ApiKeyListView(TenantAPIView):
    role_map = {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY}
    scope_map: dict = {}

    @extend_schema(responses=ApiKeyOut(many=True))
    def get(self, request):
        keys = selectors.api_key_list().order_by("-created_at")
        return Response({"results": ApiKeyOut(keys, many=True).data})

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyOut})
    def post(self, request):
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        accounts = list(
            CustomerAccount.objects.filter(pk__in=data.validated_data["customer_accounts"])
        )
        if len(accounts) != len(set(data.validated_data["customer_accounts"])):
            raise ApiError("Unknown customer account.", code="unknown_customer_account")
        try:
            issued = services.api_key_issue(
                name=data.validated_data["name"],
                scopes=data.validated_data["scopes"],
                customer_accounts=accounts,
                actor=self.actor,
            )
        except services.TenancyError as error:
            raise ApiError(str(error)) from error
        body = ApiKeyOut(issued.api_key).data | {"key": issued.raw_key}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(TenantAPIView):
    role_map = {"POST": ADMIN_ONLY}
    scope_map: dict = {}

    @extend_schema(request=None, responses=ApiKeyOut)
    def post(self, request, key_id: int):
        key = get_object_or_404(ApiKey.objects.all(), pk=key_id)
        services.api_key_revoke(api_key=key, actor=self.actor)
        return Response(ApiKeyOut(key).data)

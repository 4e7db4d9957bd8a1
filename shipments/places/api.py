"""Places API: search the registry and the tenant's places; register the tenant's own."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shipments.places import selectors, services
from shipments.places.models import TenantPlace
from shipments.places.serializers import SearchHitOut, TenantPlaceIn, TenantPlaceOut
from tenancy.api.base import STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope

MAX_RESULTS = 50


class SearchQuery(serializers.Serializer[dict[str, object]]):
    q = serializers.CharField(min_length=1, max_length=100, help_text="name, prefix or code")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_RESULTS, default=10)


class PlaceSearchView(TenantAPIView):
    """GET ?q=rott: places by name prefix or infix, or by code (the tenant's, then the
    registry's)."""

    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ})}
    customer_scope = None

    @extend_schema(parameters=[SearchQuery], responses=list_of(SearchHitOut, "PlaceSearchList"))
    def get(self, request: Request) -> Response:
        params = SearchQuery(data=request.query_params)
        if not params.is_valid():
            first = next(iter(params.errors))
            raise DomainError(
                f"{first}: {params.errors[first][0]}", code="invalid_query", fields=params.errors
            )
        query, limit = params.validated_data["q"], params.validated_data["limit"]
        hits = [
            asdict(hit) | {"scope": "tenant" if hit.source == selectors.TENANT else "registry"}
            for hit in selectors.places_search(query=query, limit=limit)
        ]
        return Response({"results": SearchHitOut(hits, many=True).data})


class TenantPlaceListView(TenantAPIView):
    """GET the tenant's places; POST one (name, the codes partners send for it, where)."""

    role_map = {"GET": STAFF, "POST": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ}), "POST": frozenset({ApiScope.WRITE})}
    customer_scope = None

    @extend_schema(
        operation_id="places_tenant_list", responses=list_of(TenantPlaceOut, "TenantPlaceList")
    )
    def get(self, request: Request) -> Response:
        places = selectors.tenant_place_list()
        return Response({"results": TenantPlaceOut(places, many=True).data})

    @extend_schema(request=TenantPlaceIn, responses={201: TenantPlaceOut})
    def post(self, request: Request) -> Response:
        data = TenantPlaceIn(data=request.data)
        data.is_valid(raise_exception=True)
        place = services.tenant_place_create(**data.validated_data)
        return Response(TenantPlaceOut(place).data, status=status.HTTP_201_CREATED)


class TenantPlaceDetailView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ})}
    customer_scope = None

    @extend_schema(responses=TenantPlaceOut)
    def get(self, request: Request, place_id: int) -> Response:
        try:
            place = selectors.tenant_place_get(place_id=place_id)
        except TenantPlace.DoesNotExist:
            raise NotFound("No such place.") from None
        return Response(TenantPlaceOut(place).data)

"""Places API: search the registry and the tenant's places; register the tenant's own."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shipments.places import selectors, services
from shipments.places.models import TenantPlace
from shipments.places.serializers import SearchHitOut, TenantPlaceIn, TenantPlaceOut
from tenancy.api.base import STAFF, TenantAPIView
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope

MAX_RESULTS = 50


class PlaceSearchView(TenantAPIView):
    """GET ?q=rott: places by name prefix or infix, or by code (the tenant's, then the
    registry's)."""

    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ})}
    customer_scope = None

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=SearchHitOut(many=True),
    )
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            raise DomainError("q is required", code="invalid_query", field="q")
        try:
            limit = max(1, min(MAX_RESULTS, int(request.query_params.get("limit", "10"))))
        except ValueError:
            raise DomainError(
                "limit must be a number", code="invalid_query", field="limit"
            ) from None
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

    @extend_schema(responses=TenantPlaceOut(many=True))
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

"""Dispatcher endpoints: sequence a route with the solver, or put its stops in an order (the
visited ones first); both push the change to the driver's page (portal.routing.live)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.routing import services
from portal.routing.models import Route, RouteStop
from tenancy.api.base import STAFF, TenantAPIView
from tenancy.models import ApiScope

ORDER_IN = inline_serializer(
    "RouteOrderIn", {"stop_ids": serializers.ListField(child=serializers.IntegerField())}
)
ROUTE_OUT = inline_serializer(
    "RouteOut",
    {
        "id": serializers.IntegerField(),
        "sequenced_by": serializers.CharField(),
        "planned_km": serializers.FloatField(),
        "stops": serializers.ListField(child=serializers.DictField()),
    },
)


def route_out(route: Route, stops: list[RouteStop]) -> dict:
    return {
        "id": route.pk,
        "sequenced_by": route.sequenced_by,
        "planned_km": route.planned_km,
        "stops": [
            {
                "id": s.pk,
                "sequence": s.sequence,
                "shipment": s.shipment.public_id,
                "kind": s.kind,
                "status": s.status,
                "eta": s.eta.isoformat() if s.eta else None,
            }
            for s in stops
        ],
    }


class RouteSequenceView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": frozenset({ApiScope.WRITE})}
    customer_scope = None

    @extend_schema(request=None, responses=ROUTE_OUT)
    def post(self, request: Request, route_id: int) -> Response:
        route = self.get_scoped(Route.objects.all(), pk=route_id)
        services.route_resequence(route=route, actor=self.actor)
        return Response(route_out(route, list(route.stops.select_related("shipment"))))


class RouteOrderView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": frozenset({ApiScope.WRITE})}
    customer_scope = None

    @extend_schema(request=ORDER_IN, responses=ROUTE_OUT)
    def post(self, request: Request, route_id: int) -> Response:
        route = self.get_scoped(Route.objects.all(), pk=route_id)
        ids = request.data.get("stop_ids") if isinstance(request.data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise services.RouteError("stop_ids must be a list of stop ids.", field="stop_ids")
        services.route_order_set(route=route, stop_ids=ids, actor=self.actor)
        return Response(route_out(route, list(route.stops.select_related("shipment"))))

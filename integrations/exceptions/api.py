"""Exceptions API: the list (filters type, severity, status, shipment), one exception, and
its lifecycle steps (acknowledge, assign, resolve). Ops and admins act; customers and
customer-limited keys read their accounts' shipments' exceptions."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.exceptions import selectors, services
from integrations.exceptions.models import (
    ExceptionStatus,
    ExceptionType,
    Severity,
    ShipmentException,
)
from integrations.exceptions.serializers import AssignIn, ExceptionOut, ResolveIn
from shipments.models import Shipment
from tenancy.api.base import STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope, Role

READERS = frozenset({Role.ADMIN, Role.OPS, Role.SALES, Role.FINANCE, Role.CUSTOMER})
READ = frozenset({ApiScope.READ})
WRITE = frozenset({ApiScope.WRITE})
CUSTOMER_PATH = "shipment__customer_account_id"
LIMIT = 500
STATUSES = [*ExceptionStatus.values, "unresolved"]


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise DomainError(
            f"{name} must be one of {', '.join(choices)}.", code="invalid_parameter", field=name
        )
    return value


class _ExceptionView(TenantAPIView):
    customer_scope = CUSTOMER_PATH

    def exception(self, exception_id: str) -> ShipmentException:
        return self.get_scoped(selectors.exception_list(), public_id=exception_id)

    def out(self, x: ShipmentException) -> Response:
        return Response(ExceptionOut(x).data)


class ExceptionListView(_ExceptionView):
    role_map = {"GET": READERS}
    scope_map = {"GET": READ}
    customer_scope = CUSTOMER_PATH

    @extend_schema(
        operation_id="exceptions_list",
        parameters=[
            OpenApiParameter("type", str, enum=ExceptionType.values),
            OpenApiParameter("severity", str, enum=Severity.values),
            OpenApiParameter("status", str, enum=STATUSES),
            OpenApiParameter("shipment", str, description="A shipment's id (shp_…)"),
        ],
        responses=list_of(ExceptionOut, "ExceptionList"),
    )
    def get(self, request: Request) -> Response:
        shipment_id = None
        public = request.query_params.get("shipment")
        found: QuerySet[ShipmentException]
        if public is not None:
            shipment = self.scoped(Shipment.objects.all(), "customer_account_id").filter(
                public_id=public
            )
            shipment_id = shipment.values_list("pk", flat=True).first()
            if shipment_id is None:
                raise NotFound()
        found = selectors.exception_list(
            type=_choice(request, "type", ExceptionType.values),
            severity=_choice(request, "severity", Severity.values),
            status=_choice(request, "status", STATUSES),
            shipment_id=shipment_id,
        )
        rows = self.scoped(found)[:LIMIT]
        return Response({"results": ExceptionOut(rows, many=True).data})


class ExceptionDetailView(_ExceptionView):
    role_map = {"GET": READERS}
    scope_map = {"GET": READ}
    customer_scope = CUSTOMER_PATH

    @extend_schema(operation_id="exceptions_retrieve", responses=ExceptionOut)
    def get(self, request: Request, exception_id: str) -> Response:
        return self.out(self.exception(exception_id))


class ExceptionAcknowledgeView(_ExceptionView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(operation_id="exceptions_acknowledge", request=None, responses=ExceptionOut)
    def post(self, request: Request, exception_id: str) -> Response:
        x = services.exception_acknowledge(
            exception=self.exception(exception_id), actor=self.actor, api_key=self.api_key
        )
        return self.out(x)


class ExceptionAssignView(_ExceptionView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(operation_id="exceptions_assign", request=AssignIn, responses=ExceptionOut)
    def post(self, request: Request, exception_id: str) -> Response:
        exception = self.exception(exception_id)  # first: another tenant's id is a 404
        data = AssignIn(data=request.data)
        data.is_valid(raise_exception=True)
        x = services.exception_assign(
            exception=exception,
            user_id=data.validated_data.get("user"),
            role=data.validated_data.get("role"),
            actor=self.actor,
            api_key=self.api_key,
        )
        return self.out(x)


class ExceptionResolveView(_ExceptionView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(operation_id="exceptions_resolve", request=ResolveIn, responses=ExceptionOut)
    def post(self, request: Request, exception_id: str) -> Response:
        exception = self.exception(exception_id)  # first: another tenant's id is a 404
        data = ResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        x = services.exception_resolve(
            exception=exception,
            note=data.validated_data["note"],
            actor=self.actor,
            api_key=self.api_key,
        )
        return self.out(x)

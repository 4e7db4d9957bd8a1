"""Positions API: GPS ping batches, a shipment's geofenced stops and its positions."""

from __future__ import annotations

import re
from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors as ingest_selectors
from integrations.api.serializers import ACCEPTED
from integrations.limits import check_size, max_body_bytes
from integrations.models import Channel
from integrations.parsers.base import ParseError
from integrations.parsers.jsonutil import parse_iso_datetime
from integrations.positions import selectors, services
from integrations.positions.parse import pings_from_body
from integrations.positions.serializers import (
    PingsIn,
    ShipmentPositionsOut,
    StopOut,
    StopsIn,
)
from integrations.services import message_refuse, message_store
from shipments.models import Shipment
from shipments.selectors import shipment_list
from tenancy.api.base import FIELD, SENT_BY_CALLER, STAFF, TenantAPIView
from tenancy.api.parsers import RawBodyParser
from tenancy.api.schema import list_of
from tenancy.errors import DomainError
from tenancy.models import ApiScope

SHIPMENT_SCOPE = "customer_account_id"
STOP_LIST = list_of(StopOut, "StopList")


class PositionsIngestView(TenantAPIView):
    """A JSON batch of pings (up to 5000), stored raw as one message and processed async."""

    role_map = {"POST": FIELD}
    scope_map = {"POST": frozenset({ApiScope.INGEST})}
    customer_scope = SENT_BY_CALLER
    parser_classes = [RawBodyParser]
    body_limit = staticmethod(max_body_bytes)

    @extend_schema(request=PingsIn, responses={202: ACCEPTED})
    def post(self, request: Request) -> Response:
        limit = max_body_bytes()
        raw = self.raw_body()
        body, size = raw.data, raw.size
        content_type = self.django_request.content_type or "application/json"
        try:
            check_size(size, limit)
            pings = pings_from_body(body)
        except DomainError as error:
            if isinstance(error, ParseError):
                code = "too_many_pings" if error.reason.startswith("too many") else "invalid_json"
                error = DomainError(str(error), code=code)
            raise message_refuse(
                channel=Channel.POSITION,
                body=body,
                size=size,
                content_type=content_type,
                error=error,
            ) from None
        message = message_store(
            integration=None,
            channel=Channel.POSITION,
            body=body,
            content_type=content_type,
            sent_by_key=self.api_key,
        )
        return Response(
            {"message_id": message.pk, "status": message.status, "pings": len(pings)},
            status=status.HTTP_202_ACCEPTED,
        )


class ShipmentScopedView(TenantAPIView):
    """Views under shipments/<id>/: the shipment must be one the caller may see."""

    customer_scope = SHIPMENT_SCOPE

    def shipment(self, shipment_id: int) -> Shipment:
        return self.get_scoped(shipment_list(), pk=shipment_id)


class StopsView(ShipmentScopedView):
    """GET a shipment's stops; POST {"stops": [...]} (or a list) replaces them."""

    role_map = {"GET": FIELD, "POST": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ}), "POST": frozenset({ApiScope.WRITE})}

    @extend_schema(responses=STOP_LIST)
    def get(self, request: Request, shipment_id: int) -> Response:
        stops = selectors.stop_list(shipment=self.shipment(shipment_id))
        return Response({"results": StopOut(stops, many=True).data})

    @extend_schema(request=StopsIn, responses={201: STOP_LIST})
    def post(self, request: Request, shipment_id: int) -> Response:
        shipment = self.shipment(shipment_id)
        data = request.data
        built = services.stops_set(
            shipment=shipment,
            stops=data.get("stops") if isinstance(data, dict) else data,
            known=ingest_selectors.known_milestones(),
            actor=self.actor,
        )
        return Response({"results": StopOut(built, many=True).data}, status=status.HTTP_201_CREATED)


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    # An unencoded "+01:00" arrives as " 01:00".
    value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip())
    try:
        moment = parse_iso_datetime(value, "since")
    except ParseError as error:
        raise DomainError(error.reason, code="invalid_since", field="since") from None
    if timezone.is_naive(moment):
        raise DomainError(
            "since needs a UTC offset.",
            code="invalid_since",
            fields={"since": "Needs a UTC offset."},
        )
    return moment


class ShipmentPositionsView(ShipmentScopedView):
    """The latest position and the trail (oldest first, at most 1000; ?since=ISO-with-offset)."""

    role_map = {"GET": FIELD}
    scope_map = {"GET": frozenset({ApiScope.READ})}

    @extend_schema(responses=ShipmentPositionsOut)
    def get(self, request: Request, shipment_id: int) -> Response:
        shipment = self.shipment(shipment_id)
        since = _since(request.query_params.get("since"))
        trail, truncated = selectors.position_trail(shipment=shipment, since=since)
        latest = selectors.latest_position(shipment=shipment)
        return Response(
            ShipmentPositionsOut(
                {
                    "latest": (
                        {"lat": latest.lat, "lon": latest.lon, "at": latest.at.isoformat()}
                        if latest
                        else None
                    ),
                    "trail": trail,
                    "truncated": truncated,
                }
            ).data
        )

"""Events intake of the partner API: ``POST /api/v1/shipments/{id}/events/`` (all about one
shipment) and ``POST /api/v1/events/`` (each event names its shipment by reference).

Both check the events at the door (a 400 names the field, e.g. ``events[2].occurred_at``),
store them raw as one inbound message, and answer 202: the pipeline applies them after
commit, exactly as it applies an EDI or DCSA message (matching, customer scope of the key,
dead letters, the holding list for references not known yet). A refused body is kept as a
dead message too, like every channel's.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.events import services
from integrations.events.serializers import (
    EVENTS_ACCEPTED,
    EVENTS_EXAMPLE,
    SHIPMENT_EVENTS_EXAMPLE,
    EventsIn,
    ShipmentEventsIn,
)
from integrations.models import Channel, InboundMessage
from integrations.parsers.jsonutil import canonical_json
from integrations.selectors import known_milestones
from integrations.services import message_refuse
from shipments.selectors import shipment_by_public_id, shipment_list
from tenancy.api.base import SENT_BY_CALLER, STAFF, TenantAPIView
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope

# Pushing events is writing to shipments; ingest keys (which send EDI) may push them too.
PUSH = frozenset({ApiScope.WRITE, ApiScope.INGEST})


class InvalidEvents(DomainError):
    code = "invalid_events"


def _flatten(detail: Any, path: str) -> dict[str, list[str]]:
    """DRF's nested errors as {"events[2].milestone": [...]}: every error names its field."""
    if isinstance(detail, dict):
        found: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                name = f"{path}[{key}]"  # an item of a list
            else:
                name = f"{path}.{key}" if path else str(key)
            found |= _flatten(value, "" if key == "non_field_errors" and not path else name)
        return found
    if isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        found = {}
        for index, value in enumerate(detail):
            if value:
                found |= _flatten(value, f"{path}[{index}]")
        return found
    messages = detail if isinstance(detail, list) else [detail]
    return {path or "events": [str(m) for m in messages]}


class EventsIntakeView(TenantAPIView):
    def accept(self, serializer: serializers.Serializer[Any], shipment: Any = None) -> Response:
        try:
            events = self._checked(serializer)
            message = services.events_submit(
                events=events, shipment=shipment, sent_by_key=self.api_key
            )
        except DomainError as error:
            raise self._refused(error) from None
        return Response(self._accepted(message, len(events)), status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _checked(serializer: serializers.Serializer[Any]) -> list[dict[str, Any]]:
        if not serializer.is_valid():
            fields = _flatten(serializer.errors, "")
            raise InvalidEvents("; ".join(f"{k}: {v[0]}" for k, v in fields.items()), fields=fields)
        known = known_milestones()
        unknown = {
            f"events[{n}].milestone": [f"Unknown milestone {e['milestone']!r}."]
            for n, e in enumerate(serializer.validated_data["events"])
            if e["milestone"] not in known
        }
        if unknown:
            raise InvalidEvents(next(iter(unknown.values()))[0], fields=unknown)
        return [_stored(event) for event in serializer.validated_data["events"]]

    def _refused(self, error: DomainError) -> DomainError:
        body = _as_bytes(self.request.data)  # the stream is read: what it held, as JSON
        return message_refuse(
            channel=Channel.UPLOAD,
            body=body,
            size=len(body),
            content_type="application/json; milepost-api-events",
            error=error,
        )

    @staticmethod
    def _accepted(message: InboundMessage, count: int) -> dict[str, Any]:
        return {"message_id": message.pk, "status": message.status, "events": count}


def _as_bytes(data: Any) -> bytes:
    try:
        return canonical_json(data).encode("utf-8")
    except (TypeError, ValueError):
        return repr(data).encode("utf-8", "replace")


def _stored(event: dict[str, Any]) -> dict[str, Any]:
    """An event as stored: JSON types only, empty optional fields left out."""
    out: dict[str, Any] = {}
    for name, value in event.items():
        if value in (None, ""):
            continue
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


class ShipmentEventsView(EventsIntakeView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": PUSH}
    # The shipment must be one the caller may see; what it sends reaches only that one.
    customer_scope = "customer_account_id"

    @extend_schema(
        operation_id="shipments_events_create",
        request=ShipmentEventsIn,
        responses={202: EVENTS_ACCEPTED},
        examples=[SHIPMENT_EVENTS_EXAMPLE],
    )
    def post(self, request: Request, shipment_id: str) -> Response:
        shipment = shipment_by_public_id(
            public_id=shipment_id, queryset=self.scoped(shipment_list())
        )
        if shipment is None:
            raise NotFound()
        return self.accept(ShipmentEventsIn(data=request.data), shipment)


class EventsView(EventsIntakeView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": PUSH}
    # Like every inbound message: a customer-limited key's events reach only its accounts'
    # shipments (the pipeline's sender scope); others become dead letters.
    customer_scope = SENT_BY_CALLER

    @extend_schema(
        operation_id="events_create",
        request=EventsIn,
        responses={202: EVENTS_ACCEPTED},
        examples=[EVENTS_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        return self.accept(EventsIn(data=request.data))

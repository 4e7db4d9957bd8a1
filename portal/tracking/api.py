"""Staff and field API of the portal's customer-facing records: a shipment's message thread
(ops answer as support, drivers as driver) and the delivery ratings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.tracking import services
from portal.tracking.models import Rating, ThreadMessage
from shipments.selectors import shipment_by_public_id
from tenancy.api.base import FIELD, STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import NotFound
from tenancy.models import ApiScope, Role


class ThreadMessageOut(serializers.Serializer):
    author = serializers.CharField()
    addressed_to = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class RatingOut(serializers.Serializer):
    shipment = serializers.CharField()
    stars = serializers.IntegerField()
    comment = serializers.CharField()
    followup_answer = serializers.CharField()
    task_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


MESSAGE_IN = inline_serializer("ThreadMessageIn", {"body": serializers.CharField()})


def _message(m: ThreadMessage) -> dict:
    return {
        "author": m.author_kind,
        "addressed_to": m.addressed_to,
        "body": m.body,
        "created_at": m.created_at.isoformat(),
    }


class ShipmentThreadView(TenantAPIView):
    """GET the thread of a shipment; POST a reply (ops: as support, drivers: as driver)."""

    role_map = {"GET": FIELD, "POST": FIELD}
    scope_map = {"GET": frozenset({ApiScope.READ}), "POST": frozenset({ApiScope.WRITE})}
    customer_scope = None

    def _shipment(self, shipment_id: str):
        shipment = shipment_by_public_id(public_id=shipment_id)
        if shipment is None:
            raise NotFound()
        return shipment

    @extend_schema(responses=list_of(ThreadMessageOut, "ThreadMessageList"))
    def get(self, request: Request, shipment_id: str) -> Response:
        shipment = self._shipment(shipment_id)
        messages = ThreadMessage.objects.filter(shipment=shipment).order_by("created_at", "id")
        return Response({"results": [_message(m) for m in messages]})

    @extend_schema(request=MESSAGE_IN, responses={201: ThreadMessageOut})
    def post(self, request: Request, shipment_id: str) -> Response:
        shipment = self._shipment(shipment_id)
        body = request.data.get("body", "") if isinstance(request.data, dict) else ""
        membership = self.membership
        kind = "driver" if membership is not None and membership.role == Role.DRIVER else "support"
        message = services.message_post(
            shipment=shipment, author_kind=kind, body=str(body), author=self.actor
        )
        return Response(_message(message), status=status.HTTP_201_CREATED)


class RatingListView(TenantAPIView):
    """The tenant's delivery ratings, newest first (at most 200)."""

    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ})}
    customer_scope = None

    @extend_schema(responses=list_of(RatingOut, "RatingList"))
    def get(self, request: Request) -> Response:
        ratings = Rating.objects.select_related("shipment").order_by("-created_at", "-id")[:200]
        return Response(
            {
                "results": [
                    {
                        "shipment": r.shipment.public_id,
                        "stars": r.stars,
                        "comment": r.comment,
                        "followup_answer": r.followup_answer,
                        "task_id": r.task_id,
                        "created_at": r.created_at.isoformat(),
                    }
                    for r in ratings
                ]
            }
        )

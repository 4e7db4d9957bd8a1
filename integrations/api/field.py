"""Field API: driver/warehouse scans, position pings, shipment stops and positions."""

from __future__ import annotations

import json
import re

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations import feeds, positions, scans
from integrations.api.views import ACCEPTED, STAFF, _ingest_error, _read_body
from integrations.models import Channel, LatestPosition, PositionPing, Stop
from integrations.parsers import ParseError
from integrations.parsers.jsonutil import parse_iso_datetime
from integrations.services import IngestError, max_body_bytes, message_store
from shipments.models import Shipment
from tenancy.api.errors import ApiError
from tenancy.api.views import TenantAPIView
from tenancy.models import ApiScope, Role

FIELD_ROLES = frozenset({Role.ADMIN, Role.OPS, Role.DRIVER})
INGEST = frozenset({ApiScope.INGEST})
TRAIL_LIMIT = 1000


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"Invalid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError("Send a JSON object.", code="invalid_json")
    return data


def _shipment(shipment_id: int) -> Shipment:
    try:
        return Shipment.objects.get(pk=shipment_id)
    except Shipment.DoesNotExist:
        raise ApiError("Not found.", code="not_found", status_code=404) from None


class ScanView(TenantAPIView):
    """A scan: JSON, or multipart with optional "photo" and "signature" images (5 MB each)."""

    role_map = {"POST": FIELD_ROLES}
    scope_map = {"POST": INGEST}

    @extend_schema(request=None, responses={202: ACCEPTED})
    def post(self, request):
        django_request = request._request
        uploads: list[scans.Upload] = []
        if django_request.content_type == "multipart/form-data":
            data = django_request.POST.dict()
            for kind in ("photo", "signature"):
                upload = django_request.FILES.get(kind)
                if upload is not None:
                    uploads.append(
                        scans.Upload(
                            kind=kind,
                            name=upload.name,
                            content_type=upload.content_type or "",
                            data=upload.read(scans.MAX_ATTACHMENT_BYTES + 1),
                            size=upload.size,
                        )
                    )
        else:
            body, size = _read_body(django_request, max_body_bytes())
            if size > max_body_bytes():
                raise ApiError("Body too large.", code="body_too_large", status_code=413)
            data = _json_object(body)
        api_key = getattr(django_request, "api_key", None)
        if api_key is not None:
            scanned_by = {"api_key": api_key.prefix}
        else:
            scanned_by = {"user_id": request.user.pk, "email": request.user.email}
        try:
            message = scans.scan_submit(
                data=data, uploads=uploads, known=feeds.known_milestones(), scanned_by=scanned_by
            )
        except scans.ScanInvalid as error:
            raise ApiError(
                str(error),
                code=error.code,
                status_code=error.status,
                fields={k: [v] for k, v in error.fields.items()},
            ) from error
        except IngestError as error:
            raise _ingest_error(error) from error
        attachments = list(message.attachments.order_by("pk").values("id", "kind", "size"))
        return Response(
            {"message_id": message.pk, "status": message.status, "attachments": attachments},
            status=status.HTTP_202_ACCEPTED,
        )


class PositionsIngestView(TenantAPIView):
    """A JSON batch of pings (up to 5000), stored raw as one message and processed async."""

    role_map = {"POST": FIELD_ROLES}
    scope_map = {"POST": INGEST}

    @extend_schema(request=None, responses={202: ACCEPTED})
    def post(self, request):
        django_request = request._request
        limit = max_body_bytes()
        body, size = _read_body(django_request, limit)
        if size > limit:
            raise ApiError("Body too large.", code="body_too_large", status_code=413)
        try:
            pings = positions.pings_from_body(body)
        except ParseError as error:
            code = "too_many_pings" if error.reason.startswith("too many") else "invalid_json"
            raise ApiError(str(error), code=code) from None
        try:
            message = message_store(
                integration=None,
                channel=Channel.POSITION,
                body=body,
                content_type=django_request.content_type or "application/json",
            )
        except IngestError as error:
            raise _ingest_error(error) from error
        return Response(
            {"message_id": message.pk, "status": message.status, "pings": len(pings)},
            status=status.HTTP_202_ACCEPTED,
        )


class StopOut(serializers.ModelSerializer):
    class Meta:
        model = Stop
        fields = [
            "id",
            "sequence",
            "name",
            "lat",
            "lon",
            "radius_m",
            "arriving_soon_m",
            "arrive_milestone",
            "depart_milestone",
            "state",
            "approaching_at",
            "entered_at",
            "left_at",
        ]


class StopsView(TenantAPIView):
    """GET a shipment's stops; POST {"stops": [...]} (or a list) replaces them."""

    role_map = {"GET": FIELD_ROLES, "POST": STAFF}
    scope_map = {"GET": frozenset({ApiScope.READ}), "POST": frozenset({ApiScope.WRITE})}

    @extend_schema(responses=StopOut(many=True))
    def get(self, request, shipment_id: int):
        shipment = _shipment(shipment_id)
        stops = Stop.objects.filter(shipment=shipment).order_by("sequence")
        return Response({"results": StopOut(stops, many=True).data})

    @extend_schema(request=None, responses={201: StopOut(many=True)})
    def post(self, request, shipment_id: int):
        shipment = _shipment(shipment_id)
        data = request.data
        stops = data.get("stops") if isinstance(data, dict) else data
        try:
            built = positions.stops_set(
                shipment=shipment, stops=stops, known=feeds.known_milestones(), actor=self.actor
            )
        except positions.StopInvalid as error:
            raise ApiError(
                f"{error.field}: {error.message}",
                code="invalid_stop",
                fields={error.field: [error.message]},
            ) from error
        return Response({"results": StopOut(built, many=True).data}, status=status.HTTP_201_CREATED)


class PositionOut(serializers.ModelSerializer):
    class Meta:
        model = PositionPing
        fields = ["lat", "lon", "at", "speed_kmh", "heading", "accuracy_m", "vehicle_ref"]


class ShipmentPositionsView(TenantAPIView):
    """The latest position and the trail (oldest first, at most 1000; ?since=ISO-with-offset)."""

    role_map = {"GET": FIELD_ROLES}
    scope_map = {"GET": frozenset({ApiScope.READ})}

    @extend_schema(
        responses=inline_serializer(
            "ShipmentPositions",
            {
                "latest": serializers.DictField(allow_null=True),
                "trail": PositionOut(many=True),
                "truncated": serializers.BooleanField(),
            },
        )
    )
    def get(self, request, shipment_id: int):
        shipment = _shipment(shipment_id)
        pings = PositionPing.objects.filter(shipment=shipment)
        since = request.query_params.get("since")
        if since:
            # An unencoded "+01:00" arrives as " 01:00".
            since = re.sub(r" (\d{2}:?\d{2})$", r"+\1", since.strip())
            try:
                moment = parse_iso_datetime(since, "since")
            except ParseError as error:
                raise ApiError(
                    error.reason, code="invalid_since", fields={"since": [error.reason]}
                ) from None
            if timezone.is_naive(moment):
                raise ApiError(
                    "since needs a UTC offset.",
                    code="invalid_since",
                    fields={"since": ["Needs a UTC offset."]},
                )
            trail = list(pings.filter(at__gt=moment).order_by("at", "id")[: TRAIL_LIMIT + 1])
            truncated = len(trail) > TRAIL_LIMIT
            trail = trail[:TRAIL_LIMIT]
        else:
            trail = list(pings.order_by("-at", "-id")[: TRAIL_LIMIT + 1])
            truncated = len(trail) > TRAIL_LIMIT
            trail = trail[:TRAIL_LIMIT][::-1]
        latest = LatestPosition.objects.filter(
            subject_kind="shipment", subject=str(shipment.pk)
        ).first()
        return Response(
            {
                "latest": (
                    {"lat": latest.lat, "lon": latest.lon, "at": latest.at.isoformat()}
                    if latest
                    else None
                ),
                "trail": PositionOut(trail, many=True).data,
                "truncated": truncated,
            }
        )

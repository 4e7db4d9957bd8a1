"""Scans API: a driver or warehouse scan, JSON or multipart with photo and signature."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors
from integrations.api.serializers import ACCEPTED
from integrations.limits import check_size, json_object, max_body_bytes
from integrations.models import Channel
from integrations.scans import services
from integrations.scans.parse import MAX_ATTACHMENT_BYTES, Upload
from integrations.services import message_refuse
from tenancy.api.base import FIELD, SENT_BY_CALLER, TenantAPIView
from tenancy.api.parsers import RawBodyParser
from tenancy.errors import DomainError
from tenancy.models import ApiScope


def _scan_fields() -> dict[str, Any]:
    """Fresh fields each time: a DRF field belongs to one serializer."""
    return {
        "reference": serializers.CharField(
            max_length=120, help_text="Any reference of the shipment"
        ),
        "milestone": serializers.CharField(help_text="A milestone code of the tenant's templates"),
        "occurred_at": serializers.DateTimeField(
            required=False, help_text="ISO 8601 with offset, not in the future; default: now"
        ),
        "lat": serializers.FloatField(required=False, min_value=-90, max_value=90),
        "lon": serializers.FloatField(required=False, min_value=-180, max_value=180),
        "accuracy_m": serializers.FloatField(required=False, min_value=0),
        "note": serializers.CharField(required=False, max_length=2000),
        "location": serializers.CharField(required=False, max_length=200),
    }


SCAN_JSON = inline_serializer("ScanIn", _scan_fields())
SCAN_FORM = inline_serializer(
    "ScanUpload",
    _scan_fields()
    | {
        "photo": serializers.ImageField(required=False, help_text="JPEG, PNG, WebP or GIF, 5 MB"),
        "signature": serializers.ImageField(required=False, help_text="an image, 5 MB"),
    },
)


class ScanView(TenantAPIView):
    """A scan: JSON, or multipart with optional "photo" and "signature" images (5 MB each)."""

    role_map = {"POST": FIELD}
    scope_map = {"POST": frozenset({ApiScope.INGEST})}
    customer_scope = SENT_BY_CALLER
    parser_classes = [MultiPartParser, RawBodyParser]
    body_limit = staticmethod(max_body_bytes)

    @extend_schema(
        request={"application/json": SCAN_JSON, "multipart/form-data": SCAN_FORM},
        responses={202: ACCEPTED},
    )
    def post(self, request: Request) -> Response:
        data, uploads, received = self._read()
        scanned_by = self._scanned_by()
        try:
            message = services.scan_submit(
                data=data,
                uploads=uploads,
                known=selectors.known_milestones(),
                scanned_by=scanned_by,
                sent_by_key=self.api_key,
            )
        except DomainError as error:
            raise self._refused(received, error) from None
        attachments = list(message.attachments.order_by("pk").values("id", "kind", "size"))
        return Response(
            {"message_id": message.pk, "status": message.status, "attachments": attachments},
            status=status.HTTP_202_ACCEPTED,
        )

    def _read(self) -> tuple[dict[str, Any], list[Upload], tuple[bytes, int, str]]:
        """(fields, files, (bytes to keep if refused, size, content type))."""
        django_request = self.django_request
        if django_request.content_type != "multipart/form-data":
            limit = max_body_bytes()
            raw = self.raw_body()
            body, size = raw.data, raw.size
            received = (body, size, django_request.content_type or "application/json")
            try:
                check_size(size, limit)
                return json_object(body), [], received
            except DomainError as error:
                raise self._refused(received, error) from None
        data = django_request.POST.dict()
        uploads = [
            Upload(
                kind=kind,
                name=upload.name or "",
                content_type=upload.content_type or "",
                data=upload.read(MAX_ATTACHMENT_BYTES + 1),
                size=upload.size or 0,
            )
            for kind in ("photo", "signature")
            if (upload := django_request.FILES.get(kind)) is not None
        ]
        # What is kept of a refused multipart scan: its fields and what the files were.
        summary = data | {
            "files": [{"kind": u.kind, "name": u.name, "size": u.size} for u in uploads]
        }
        kept = json.dumps(summary, sort_keys=True, ensure_ascii=True).encode()
        return data, uploads, (kept, len(kept), "application/json; multipart-summary")

    def _scanned_by(self) -> dict[str, Any]:
        if self.api_key is not None:
            return {"api_key": self.api_key.prefix}
        user = self.actor
        return {"user_id": user.pk if user else None, "email": user.email if user else ""}

    @staticmethod
    def _refused(received: tuple[bytes, int, str], error: DomainError) -> DomainError:
        body, size, content_type = received
        return message_refuse(
            channel=Channel.SCAN, body=body, size=size, content_type=content_type, error=error
        )

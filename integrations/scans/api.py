"""Scans API: a driver or warehouse scan, JSON or multipart with photo and signature."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors
from integrations.api.serializers import ACCEPTED
from integrations.limits import json_object, read_limited_body
from integrations.scans import services
from integrations.scans.parse import MAX_ATTACHMENT_BYTES, Upload
from tenancy.api.base import FIELD, TenantAPIView
from tenancy.models import ApiScope


class ScanView(TenantAPIView):
    """A scan: JSON, or multipart with optional "photo" and "signature" images (5 MB each)."""

    role_map = {"POST": FIELD}
    scope_map = {"POST": frozenset({ApiScope.INGEST})}
    customer_scope = None

    @extend_schema(request=None, responses={202: ACCEPTED})
    def post(self, request: Request) -> Response:
        django_request = self.django_request
        uploads: list[Upload] = []
        if django_request.content_type == "multipart/form-data":
            data = django_request.POST.dict()
            for kind in ("photo", "signature"):
                upload = django_request.FILES.get(kind)
                if upload is not None:
                    uploads.append(
                        Upload(
                            kind=kind,
                            name=upload.name or "",
                            content_type=upload.content_type or "",
                            data=upload.read(MAX_ATTACHMENT_BYTES + 1),
                            size=upload.size or 0,
                        )
                    )
        else:
            data = json_object(read_limited_body(django_request))
        if self.api_key is not None:
            scanned_by: dict = {"api_key": self.api_key.prefix}
        else:
            user = self.actor
            scanned_by = {"user_id": user.pk if user else None, "email": user.email if user else ""}
        message = services.scan_submit(
            data=data,
            uploads=uploads,
            known=selectors.known_milestones(),
            scanned_by=scanned_by,
        )
        attachments = list(message.attachments.order_by("pk").values("id", "kind", "size"))
        return Response(
            {"message_id": message.pk, "status": message.status, "attachments": attachments},
            status=status.HTTP_202_ACCEPTED,
        )

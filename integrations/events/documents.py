"""Documents of one shipment through the partner API: upload (stored first and read in the
background, exactly as /api/v1/ingest/documents/ with the shipment given) and list."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.documents import extraction, services
from integrations.documents.selectors import shipment_documents
from integrations.limits import max_document_bytes
from integrations.models import Attachment
from shipments.models import Shipment
from shipments.selectors import shipment_by_public_id, shipment_list
from tenancy.api.base import STAFF, TenantAPIView
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope, Role

READERS = frozenset({Role.ADMIN, Role.OPS, Role.SALES, Role.FINANCE, Role.CUSTOMER})

DOCUMENT_IN = inline_serializer(
    "ShipmentDocumentUpload",
    {
        "file": serializers.FileField(help_text="PDF, PNG, JPEG or TIFF, at most 20 MB"),
        "document_type": serializers.ChoiceField(choices=extraction.DOCUMENT_TYPES, required=False),
    },
)
DOCUMENT_OUT = inline_serializer(
    "ShipmentDocument",
    {
        "id": serializers.IntegerField(),
        "message_id": serializers.IntegerField(),
        "content_type": serializers.CharField(),
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "document_type": serializers.CharField(),
        "status": serializers.CharField(help_text="The stored message's processing status"),
        "created_at": serializers.DateTimeField(),
    },
)
DOCUMENT_LIST = inline_serializer(
    "ShipmentDocumentList", {"results": serializers.ListField(child=DOCUMENT_OUT)}
)
ACCEPTED = inline_serializer(
    "ShipmentDocumentAccepted",
    {"message_id": serializers.IntegerField(), "status": serializers.CharField()},
)


def _out(attachment: Attachment) -> dict[str, object]:
    hints = dict(
        part.strip().split("=", 1)
        for part in attachment.message.content_type.split(";")[1:]
        if "=" in part
    )
    created = attachment.created_at
    return {
        "id": attachment.pk,
        "message_id": attachment.message_id,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "document_type": hints.get("document-type", ""),
        "status": attachment.message.status,
        "created_at": created.isoformat().replace("+00:00", "Z"),
    }


class ShipmentDocumentsView(TenantAPIView):
    role_map = {"GET": READERS, "POST": STAFF}
    scope_map = {
        "GET": frozenset({ApiScope.READ}),
        "POST": frozenset({ApiScope.INGEST, ApiScope.WRITE}),
    }
    customer_scope = "customer_account_id"
    parser_classes = [MultiPartParser]

    def _shipment(self, shipment_id: str) -> Shipment:
        shipment = shipment_by_public_id(
            public_id=shipment_id, queryset=self.scoped(shipment_list())
        )
        if shipment is None:
            raise NotFound()
        return shipment

    @extend_schema(operation_id="shipments_documents_list", responses=DOCUMENT_LIST)
    def get(self, request: Request, shipment_id: str) -> Response:
        shipment = self._shipment(shipment_id)
        return Response({"results": [_out(a) for a in shipment_documents(shipment_id=shipment.pk)]})

    @extend_schema(
        operation_id="shipments_documents_create",
        request={"multipart/form-data": DOCUMENT_IN},
        responses={202: ACCEPTED},
    )
    def post(self, request: Request, shipment_id: str) -> Response:
        shipment = self._shipment(shipment_id)
        django_request = self.django_request
        upload = django_request.FILES.get("file")
        if upload is None:
            raise DomainError(
                "Send the document as the multipart field 'file'.",
                code="file_required",
                fields={"file": "This field is required."},
            )
        message = services.document_store(
            body=upload.read(max_document_bytes() + 1),
            filename=upload.name or "",
            declared_size=upload.size,
            document_type=django_request.POST.get("document_type", ""),
            shipment=shipment,
            sent_by_key=self.api_key,
        )
        return Response(
            {"message_id": message.pk, "status": message.status}, status=status.HTTP_202_ACCEPTED
        )

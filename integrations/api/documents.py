"""Document ingestion API: upload a shipping document, review what it proves (ops)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations import documents
from integrations.api.views import ACCEPTED, STAFF
from integrations.models import ProposalStatus, ProposedUpdate
from integrations.services import IngestError
from shipments.models import Shipment
from tenancy.api.errors import ApiError
from tenancy.api.views import TenantAPIView
from tenancy.models import ApiScope

INGEST_SCOPE = frozenset({ApiScope.INGEST})
LIST_LIMIT = 500


def _api_error(error: IngestError, field: str | None = None) -> ApiError:
    extra = {"fields": {field: [error.message]}} if field else {}
    return ApiError(error.message, code=error.code, status_code=error.status, **extra)


def _shipment(value, *, field: str = "shipment_id") -> Shipment | None:
    """The current tenant's shipment of this id (another tenant's is unknown), or None."""
    if value in (None, ""):
        return None
    try:
        return Shipment.objects.get(pk=int(value))
    except (TypeError, ValueError, Shipment.DoesNotExist):
        raise ApiError(
            "Unknown shipment.", code="unknown_shipment", fields={field: ["Unknown shipment."]}
        ) from None


class ProposalOut(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = ProposedUpdate
        fields = [
            "id",
            "message",
            "attachment",
            "shipment",
            "document_type",
            "references",
            "milestone",
            "occurred_at",
            "confidence",
            "status",
            "fields",
            "decided_by",
            "decided_at",
            "event_id",
            "reason",
            "created_at",
        ]


class ProposalDetailOut(ProposalOut):
    class Meta(ProposalOut.Meta):
        fields = [*ProposalOut.Meta.fields, "extracted_text"]


class DocumentUploadView(TenantAPIView):
    """Multipart: "file" (PDF, PNG, JPEG or TIFF, told by its bytes; at most 20 MB), optional
    "shipment_id" and "document_type" (bill_of_lading, air_waybill, proof_of_delivery,
    customs_release) hints. Stored at once; read and proposed in the background."""

    role_map = {"POST": STAFF}
    scope_map = {"POST": INGEST_SCOPE}

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "DocumentUpload",
                {
                    "file": serializers.FileField(),
                    "shipment_id": serializers.IntegerField(required=False),
                    "document_type": serializers.ChoiceField(
                        choices=documents.extraction.DOCUMENT_TYPES, required=False
                    ),
                },
            )
        },
        responses={202: ACCEPTED},
    )
    def post(self, request):
        django_request = request._request
        upload = django_request.FILES.get("file")
        if upload is None:
            raise ApiError(
                "Send the document as the multipart field 'file'.",
                code="file_required",
                fields={"file": ["This field is required."]},
            )
        shipment = _shipment(django_request.POST.get("shipment_id"))
        limit = documents.max_document_bytes()
        body = upload.read(limit + 1)
        try:
            message = documents.document_store(
                body=body,
                filename=upload.name or "",
                declared_size=upload.size,
                document_type=django_request.POST.get("document_type", ""),
                shipment=shipment,
            )
        except IngestError as error:
            field = "document_type" if error.code == "invalid_document_type" else None
            raise _api_error(error, field) from error
        return Response(
            {"message_id": message.pk, "status": message.status}, status=status.HTTP_202_ACCEPTED
        )


class ProposalListView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": INGEST_SCOPE}

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=ProposalStatus.values, required=False)],
        responses=ProposalOut(many=True),
    )
    def get(self, request):
        wanted = request.query_params.get("status", "")
        if wanted and wanted not in ProposalStatus.values:
            raise ApiError(
                f"Unknown status {wanted!r}; expected one of {', '.join(ProposalStatus.values)}.",
                code="invalid_status",
                fields={"status": ["Unknown status."]},
            )
        proposals = documents.proposal_list(status=wanted)[:LIST_LIMIT]
        return Response({"results": ProposalOut(proposals, many=True).data})


class ProposalDetailView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": INGEST_SCOPE}

    @extend_schema(responses=ProposalDetailOut)
    def get(self, request, proposal_id: int):
        proposal = get_object_or_404(documents.proposal_list(), pk=proposal_id)
        return Response(ProposalDetailOut(proposal).data)


class ConfirmIn(serializers.Serializer):
    shipment_id = serializers.IntegerField(required=False, allow_null=True)
    milestone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)


class ProposalConfirmView(TenantAPIView):
    """Record the proposed (or corrected) milestone on the shipment: ops/admin sessions only."""

    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(request=ConfirmIn, responses=ProposalOut)
    def post(self, request, proposal_id: int):
        proposal = get_object_or_404(ProposedUpdate.objects.all(), pk=proposal_id)
        data = ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        raw_time = request.data.get("occurred_at")
        if values.get("occurred_at") and isinstance(raw_time, str):
            parsed = parse_datetime(raw_time)
            if parsed is not None and parsed.tzinfo is None:
                raise ApiError(
                    "occurred_at needs a time zone offset.",
                    code="invalid_occurred_at",
                    fields={"occurred_at": ["Give a time zone offset, e.g. +01:00 or Z."]},
                )
        try:
            proposal = documents.proposal_confirm(
                proposal=proposal,
                actor=request.user,
                shipment=_shipment(values.get("shipment_id")),
                milestone=values.get("milestone") or "",
                occurred_at=values.get("occurred_at"),
            )
        except IngestError as error:
            field = {
                "shipment_required": "shipment_id",
                "milestone_required": "milestone",
                "occurred_at_required": "occurred_at",
                "invalid_occurred_at": "occurred_at",
            }.get(error.code)
            raise _api_error(error, field) from error
        return Response(ProposalOut(proposal).data)


class RejectIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ProposalRejectView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(request=RejectIn, responses=ProposalOut)
    def post(self, request, proposal_id: int):
        proposal = get_object_or_404(ProposedUpdate.objects.all(), pk=proposal_id)
        data = RejectIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            proposal = documents.proposal_reject(
                proposal=proposal, actor=request.user, reason=data.validated_data["reason"]
            )
        except IngestError as error:
            field = "reason" if error.code == "reason_required" else None
            raise _api_error(error, field) from error
        return Response(ProposalOut(proposal).data)

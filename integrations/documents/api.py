"""Document ingestion API: upload a shipping document, review what it proves (ops)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.api.serializers import ACCEPTED
from integrations.documents import selectors, services
from integrations.documents.serializers import (
    DOCUMENT_UPLOAD,
    ConfirmIn,
    ProposalDetailOut,
    ProposalOut,
    RejectIn,
)
from integrations.limits import max_document_bytes
from integrations.models import ProposalStatus
from shipments.models import Shipment
from shipments.selectors import shipment_list
from tenancy.api.base import NO_KEYS, SENT_BY_CALLER, STAFF, TenantAPIView
from tenancy.api.schema import list_of
from tenancy.errors import DomainError
from tenancy.models import ApiScope, User

INGEST_SCOPE = frozenset({ApiScope.INGEST})


class DocumentAPIView(TenantAPIView):
    customer_scope: ClassVar[str | None] = None

    def shipment(self, value: Any, *, field: str = "shipment_id") -> Shipment | None:
        """The tenant's shipment of this id (another tenant's is unknown alike), or None."""
        if value in (None, ""):
            return None
        try:
            shipment_id = int(value)
        except (TypeError, ValueError):
            shipment_id = 0
        found = self.scoped(shipment_list(), "customer_account_id").filter(pk=shipment_id)
        shipment = found.first() if shipment_id else None
        if shipment is None:
            raise DomainError("Unknown shipment.", code="unknown_shipment", field=field)
        return shipment

    def reviewer(self) -> User:
        assert self.actor is not None  # the role map admits session members only
        return self.actor


class DocumentUploadView(DocumentAPIView):
    """Multipart: "file" (PDF, PNG, JPEG or TIFF, told by its bytes; at most 20 MB), optional
    "shipment_id" and "document_type" (bill_of_lading, air_waybill, proof_of_delivery,
    customs_release) hints. Stored at once; read and proposed in the background."""

    role_map = {"POST": STAFF}
    scope_map = {"POST": INGEST_SCOPE}
    customer_scope = SENT_BY_CALLER
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": DOCUMENT_UPLOAD}, responses={202: ACCEPTED})
    def post(self, request: Request) -> Response:
        django_request = self.django_request
        upload = django_request.FILES.get("file")
        if upload is None:
            raise DomainError(
                "Send the document as the multipart field 'file'.",
                code="file_required",
                fields={"file": "This field is required."},
            )
        shipment = self.shipment(django_request.POST.get("shipment_id"))
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


class ProposalListView(DocumentAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": INGEST_SCOPE}

    @extend_schema(
        operation_id="ingest_documents_proposals_list",
        parameters=[
            OpenApiParameter(
                "status", enum=["", *ProposalStatus.values], required=False, description="'': all"
            )
        ],
        responses=list_of(ProposalOut, "ProposalList"),
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status", "")
        proposals = selectors.proposal_list(status=wanted)[: selectors.LIST_LIMIT]
        return Response({"results": ProposalOut(proposals, many=True).data})


class ProposalDetailView(DocumentAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": INGEST_SCOPE}

    @extend_schema(responses=ProposalDetailOut)
    def get(self, request: Request, proposal_id: int) -> Response:
        proposal = self.get_scoped(selectors.proposal_list(), pk=proposal_id)
        return Response(ProposalDetailOut(proposal).data)


class ProposalConfirmView(DocumentAPIView):
    """Record the proposed (or corrected) milestone on the shipment: ops/admin sessions only."""

    role_map = {"POST": STAFF}
    scope_map = NO_KEYS

    @extend_schema(request=ConfirmIn, responses=ProposalOut)
    def post(self, request: Request, proposal_id: int) -> Response:
        proposal = self.get_scoped(selectors.proposal_list(), pk=proposal_id)
        data = ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        raw_time = request.data.get("occurred_at") if isinstance(request.data, dict) else None
        if values.get("occurred_at") and isinstance(raw_time, str):
            parsed = parse_datetime(raw_time)
            if parsed is not None and parsed.tzinfo is None:
                raise DomainError(
                    "occurred_at needs a time zone offset.",
                    code="invalid_occurred_at",
                    fields={"occurred_at": "Give a time zone offset, e.g. +01:00 or Z."},
                )
        proposal = services.proposal_confirm(
            proposal=proposal,
            actor=self.reviewer(),
            shipment=self.shipment(values.get("shipment_id")),
            milestone=values.get("milestone") or "",
            occurred_at=values.get("occurred_at"),
        )
        return Response(ProposalOut(proposal).data)


class ProposalRejectView(DocumentAPIView):
    role_map = {"POST": STAFF}
    scope_map = NO_KEYS

    @extend_schema(request=RejectIn, responses=ProposalOut)
    def post(self, request: Request, proposal_id: int) -> Response:
        proposal = self.get_scoped(selectors.proposal_list(), pk=proposal_id)
        data = RejectIn(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.proposal_reject(
            proposal=proposal, actor=self.reviewer(), reason=data.validated_data["reason"]
        )
        return Response(ProposalOut(proposal).data)

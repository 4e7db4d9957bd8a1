"""Core ingestion API: uploads, a message's outcome, dead letters and their replay."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors, services
from integrations.api.serializers import ACCEPTED, DeadLetterOut, MessageOut
from integrations.formats import FORMATS
from integrations.limits import max_body_bytes
from integrations.models import Channel
from tenancy.api.base import NO_KEYS, SENT_BY_CALLER, STAFF, TenantAPIView
from tenancy.api.parsers import RawBodyParser, query_flag
from tenancy.api.schema import list_of
from tenancy.errors import DomainError
from tenancy.models import ApiScope

UPLOAD_FORM = inline_serializer(
    "MessageUpload",
    {
        "file": serializers.FileField(),
        "integration": serializers.IntegerField(required=False),
        "format_hint": serializers.ChoiceField(choices=["auto", *FORMATS], required=False),
    },
)


class MessageUploadView(TenantAPIView):
    """Raw body (any content type) or multipart field "file"; ?integration=<id>&format_hint=."""

    role_map = {"POST": STAFF}
    scope_map = {"POST": frozenset({ApiScope.INGEST})}
    customer_scope = SENT_BY_CALLER
    parser_classes = [MultiPartParser, RawBodyParser]
    body_limit = staticmethod(max_body_bytes)

    @extend_schema(
        parameters=[
            OpenApiParameter("integration", int, required=False),
            OpenApiParameter("format_hint", str, required=False, enum=["auto", *FORMATS]),
        ],
        request={
            "application/octet-stream": OpenApiTypes.BINARY,
            "multipart/form-data": UPLOAD_FORM,
        },
        responses={202: ACCEPTED},
    )
    def post(self, request: Request) -> Response:
        django_request = self.django_request
        params = django_request.GET.dict()
        limit = max_body_bytes()
        if django_request.content_type == "multipart/form-data":
            upload = django_request.FILES.get("file")
            if upload is None:
                raise DomainError(
                    "Send the message as the field 'file'.", code="file_required", field="file"
                )
            params = django_request.POST.dict() | params
            size = upload.size or 0
            body = upload.read(limit + 1)
            content_type = upload.content_type or ""
        else:
            raw = self.raw_body()
            body, size = raw.data, raw.size
            content_type = django_request.content_type or ""
        message = services.message_store(
            integration=selectors.integration_named(params.get("integration")),
            channel=Channel.UPLOAD,
            body=body,
            content_type=content_type,
            format_hint=params.get("format_hint", "") or params.get("fmt", ""),
            declared_size=size,
            sent_by_key=self.api_key,
        )
        return Response(
            {"message_id": message.pk, "status": message.status}, status=status.HTTP_202_ACCEPTED
        )


class MessageDetailView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.INGEST, ApiScope.READ})}
    customer_scope = SENT_BY_CALLER

    @extend_schema(responses=MessageOut)
    def get(self, request: Request, message_id: int) -> Response:
        message = self.get_scoped(selectors.message_list(), pk=message_id)
        return Response(MessageOut(message).data)


class DeadLetterListView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(
        parameters=[OpenApiParameter("unresolved", bool, required=False)],
        responses=list_of(DeadLetterOut, "DeadLetterList"),
    )
    def get(self, request: Request) -> Response:
        unresolved = query_flag(request, "unresolved")
        letters = selectors.dead_letter_list(unresolved_only=unresolved)[: selectors.LIST_LIMIT]
        return Response({"results": DeadLetterOut(letters, many=True).data})


class DeadLetterReplayView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(request=None, responses=DeadLetterOut)
    def post(self, request: Request, dead_letter_id: int) -> Response:
        letter = self.get_scoped(selectors.dead_letter_list(), pk=dead_letter_id)
        letter = services.dead_letter_replay(dead_letter=letter, actor=self.actor)
        return Response(DeadLetterOut(letter).data)


REPLAY_ALL = inline_serializer(
    "ReplayAll",
    {
        "replayed": serializers.IntegerField(),
        "resolved": serializers.IntegerField(),
        "messages": serializers.IntegerField(),
        "failed": serializers.ListField(child=serializers.DictField()),
    },
)


class DeadLetterReplayAllView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(
        parameters=[OpenApiParameter("integration", int, required=False)],
        request=None,
        responses=REPLAY_ALL,
    )
    def post(self, request: Request) -> Response:
        named = request.query_params.get("integration")
        result = services.dead_letters_replay_all(
            integration=selectors.integration_named(named), actor=self.actor
        )
        return Response(
            {
                "replayed": result.replayed,
                "resolved": result.resolved,
                "messages": result.messages,
                "failed": result.failed,
            }
        )

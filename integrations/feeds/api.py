"""Feed mapping API: preview a sample file with a mapping, and save the mapping."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors
from integrations.feeds import parse, services
from integrations.limits import check_size, max_body_bytes
from tenancy.api.base import NO_KEYS, STAFF, TenantAPIView
from tenancy.api.parsers import RawBodyParser, load_request_json
from tenancy.errors import DomainError

PREVIEW = inline_serializer(
    "FeedPreview",
    {
        "mapping": serializers.DictField(),
        "events": serializers.ListField(child=serializers.DictField()),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)
MAPPING = inline_serializer("FeedMapping", {"mapping": serializers.DictField()})


class FeedMappingView(TenantAPIView):
    """GET the saved mapping; PUT a new one (validated, audited)."""

    role_map = {"GET": STAFF, "PUT": STAFF}
    scope_map = NO_KEYS
    customer_scope = None

    @extend_schema(responses=MAPPING)
    def get(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        return Response({"mapping": integration.feed_mapping})

    @extend_schema(
        request=inline_serializer("FeedMappingIn", {"mapping": serializers.DictField()}),
        responses=MAPPING,
    )
    def put(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        data = request.data
        mapping = data.get("mapping", data) if isinstance(data, dict) else data
        integration = services.feed_mapping_save(
            integration=integration,
            mapping=parse.mapping_from_request(mapping),
            actor=self.actor,
        )
        return Response({"mapping": integration.feed_mapping})


class FeedMappingPreviewView(TenantAPIView):
    """The first 10 records of a sample parsed with a mapping; nothing is stored.

    Multipart: "file" (the sample) and "mapping" (JSON). JSON body: {"mapping", "sample"}.
    Any other body is the sample itself, with ?mapping=<JSON>. Without a mapping, the
    integration's saved one is used.
    """

    role_map = {"POST": STAFF}
    scope_map = NO_KEYS
    customer_scope = None
    parser_classes = [MultiPartParser, RawBodyParser]
    body_limit = staticmethod(max_body_bytes)

    @extend_schema(
        parameters=[OpenApiParameter("mapping", str, required=False, description="JSON")],
        request={
            "multipart/form-data": inline_serializer(
                "FeedPreviewUpload",
                {"file": serializers.FileField(), "mapping": serializers.JSONField(required=False)},
            ),
            "application/json": inline_serializer(
                "FeedPreviewIn",
                {
                    "sample": serializers.CharField(),
                    "mapping": serializers.DictField(required=False),
                },
            ),
            "text/csv": OpenApiTypes.BINARY,
        },
        responses=PREVIEW,
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = selectors.integration_get(integration_id=integration_id)
        sample, mapping = self._sample_and_mapping()
        if not sample:
            raise DomainError("The sample is empty.", code="sample_required")
        if mapping is None:
            mapping = integration.feed_mapping
        else:
            mapping = parse.mapping_from_request(mapping)
        preview = parse.feed_preview(sample, mapping, known=selectors.known_milestones())
        return Response(preview)

    def _sample_and_mapping(self) -> tuple[bytes, Any]:
        django_request = self.django_request
        limit = max_body_bytes()
        mapping: Any = django_request.GET.get("mapping")
        if django_request.content_type == "multipart/form-data":
            upload = django_request.FILES.get("file")
            if upload is None:
                raise DomainError(
                    "Send the sample as the field 'file'.", code="file_required", field="file"
                )
            check_size(upload.size or 0, limit, "Sample")
            return upload.read(), django_request.POST.get("mapping", mapping)
        raw = self.raw_body()
        body, size = raw.data, raw.size
        check_size(size, limit, "Sample")
        if django_request.content_type != "application/json":
            return body, mapping
        payload = load_request_json(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("sample"), str):
            raise DomainError(
                'Send {"mapping": {...}, "sample": "<file text>"}.', code="sample_required"
            )
        return payload["sample"].encode("utf-8"), payload.get("mapping", mapping)

"""Feed mapping API: preview a sample file with a mapping, and save the mapping."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from integrations import feeds, selectors
from integrations.api.views import STAFF, _read_body
from integrations.models import Integration
from integrations.services import max_body_bytes
from tenancy.api.errors import ApiError
from tenancy.api.views import TenantAPIView

PREVIEW = inline_serializer(
    "FeedPreview",
    {
        "mapping": serializers.DictField(),
        "events": serializers.ListField(child=serializers.DictField()),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


def _integration(integration_id: int) -> Integration:
    try:
        return selectors.integration_get(integration_id=integration_id)
    except Integration.DoesNotExist:
        raise ApiError("Not found.", code="not_found", status_code=404) from None


def _mapping_error(error: feeds.MappingError) -> ApiError:
    return ApiError(
        f"{error.field}: {error.message}",
        code="invalid_mapping",
        fields={error.field: [error.message]},
    )


def _parse_mapping(value) -> dict:
    try:
        return feeds.mapping_from_request(value)
    except feeds.MappingError as error:
        raise _mapping_error(error) from error


class FeedMappingView(TenantAPIView):
    """GET the saved mapping; PUT a new one (validated, audited)."""

    role_map = {"GET": STAFF, "PUT": STAFF}
    scope_map: dict = {}

    @extend_schema(responses=inline_serializer("FeedMapping", {"mapping": serializers.DictField()}))
    def get(self, request, integration_id: int):
        return Response({"mapping": _integration(integration_id).feed_mapping})

    @extend_schema(
        request=inline_serializer("FeedMappingIn", {"mapping": serializers.DictField()}),
        responses=inline_serializer("FeedMappingOut", {"mapping": serializers.DictField()}),
    )
    def put(self, request, integration_id: int):
        integration = _integration(integration_id)
        data = request.data
        mapping = data.get("mapping", data) if isinstance(data, dict) else data
        mapping = _parse_mapping(mapping)
        try:
            integration = feeds.feed_mapping_save(
                integration=integration, mapping=mapping, actor=self.actor
            )
        except feeds.MappingError as error:
            raise _mapping_error(error) from error
        return Response({"mapping": integration.feed_mapping})


class FeedMappingPreviewView(TenantAPIView):
    """The first 10 records of a sample parsed with a mapping; nothing is stored.

    Multipart: "file" (the sample) and "mapping" (JSON). JSON body: {"mapping", "sample"}.
    Any other body is the sample itself, with ?mapping=<JSON>. Without a mapping, the
    integration's saved one is used.
    """

    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(request=None, responses=PREVIEW)
    def post(self, request, integration_id: int):
        integration = _integration(integration_id)
        django_request = request._request
        limit = max_body_bytes()
        mapping = django_request.GET.get("mapping")
        if django_request.content_type == "multipart/form-data":
            upload = django_request.FILES.get("file")
            if upload is None:
                raise ApiError("Send the sample as the field 'file'.", code="file_required")
            if upload.size > limit:
                raise ApiError("Sample too large.", code="body_too_large", status_code=413)
            sample = upload.read()
            mapping = django_request.POST.get("mapping", mapping)
        elif django_request.content_type == "application/json":
            body, size = _read_body(django_request, limit)
            if size > limit:
                raise ApiError("Sample too large.", code="body_too_large", status_code=413)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(f"Invalid JSON: {exc}", code="invalid_json") from None
            if not isinstance(payload, dict) or not isinstance(payload.get("sample"), str):
                raise ApiError(
                    'Send {"mapping": {...}, "sample": "<file text>"}.', code="sample_required"
                )
            sample = payload["sample"].encode("utf-8")
            mapping = payload.get("mapping", mapping)
        else:
            sample, size = _read_body(django_request, limit)
            if size > limit:
                raise ApiError("Sample too large.", code="body_too_large", status_code=413)
        if not sample:
            raise ApiError("The sample is empty.", code="sample_required")
        mapping = _parse_mapping(mapping) if mapping is not None else integration.feed_mapping
        try:
            preview = feeds.feed_preview(sample, mapping)
        except feeds.MappingError as error:
            raise _mapping_error(error) from error
        return Response(preview)

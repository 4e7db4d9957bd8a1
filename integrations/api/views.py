"""Ingestion HTTP API: partner webhooks (integration secret), uploads, status, dead letters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations import selectors, services
from integrations.models import Channel, DeadLetter, InboundMessage, Integration
from integrations.services import IngestError, max_body_bytes
from tenancy.api.errors import ApiError
from tenancy.api.views import TenantAPIView
from tenancy.context import tenant_context
from tenancy.models import ApiScope, Role

STAFF = frozenset({Role.ADMIN, Role.OPS})
SECRET_HEADER = "X-Milepost-Secret"
SIGNATURE_HEADER = "Notification-Signature"


def _error(message: str, *, code: str, status_code: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status_code)


def _read_body(request: HttpRequest, limit: int) -> tuple[bytes, int]:
    """(up to limit+1 bytes of the body, declared or read size) without Django's size cap."""
    if hasattr(request, "_body"):
        body = request._body
        return body[: limit + 1], len(body)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = request.read(limit + 1)
    return body, max(declared, len(body))


def _hmac_key(secret: str) -> bytes:
    """DCSA-style: the shared secret is base64; its decoded bytes key the HMAC."""
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def signature_for(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(_hmac_key(secret), body, hashlib.sha256).hexdigest()


def verify_webhook(integration: Integration, headers, body: bytes) -> str | None:
    """None when authentic, else why not. Constant-time compares, before any parsing."""
    secret_values = headers.get(SECRET_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if secret_values is None and signature is None:
        return "missing signature"
    if secret_values is not None and (
        "," in secret_values
        or not hmac.compare_digest(secret_values.strip().encode(), integration.secret.encode())
    ):
        return "signature mismatch"
    if signature is not None:
        value = signature.strip()
        # Duplicated headers arrive joined by commas: refuse rather than pick one.
        if "," in value or not value.startswith("sha256="):
            return "signature mismatch"
        expected = signature_for(integration.secret, body)
        if not hmac.compare_digest(value.lower().encode(), expected.encode()):
            return "signature mismatch"
    return None


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, tenant_id: int, token) -> JsonResponse:
    """A partner pushes a message. Authenticated by the integration's secret, not a session."""
    limit = max_body_bytes()
    with tenant_context(tenant_id):
        integration = selectors.integration_by_token(token=token)
        if integration is None:
            return _error("Not found.", code="not_found", status_code=404)
        body, size = _read_body(request, limit)
        content_type = request.content_type or ""
        if size > limit:
            services.message_reject(
                integration=integration,
                channel=Channel.WEBHOOK,
                body=body[:limit],
                size=size,
                content_type=content_type,
                reason=f"body too large ({size} bytes > {limit})",
            )
            return _error(
                f"Body too large ({size} bytes > {limit}).",
                code="body_too_large",
                status_code=413,
            )
        problem = verify_webhook(integration, request.headers, body)
        if problem is not None:
            services.message_reject(
                integration=integration,
                channel=Channel.WEBHOOK,
                body=body,
                content_type=content_type,
                reason=problem,
            )
            return _error(
                "The message signature is missing or does not match.",
                code="bad_signature",
                status_code=401,
            )
        message = services.message_store(
            integration=integration,
            channel=Channel.WEBHOOK,
            body=body,
            content_type=content_type,
        )
        return JsonResponse({"message_id": message.pk, "status": message.status}, status=202)


# --- authenticated API ----------------------------------------------------------------------


class DeadLetterOut(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "message",
            "stage",
            "reason",
            "position",
            "unit",
            "created_at",
            "resolved_at",
            "replay_count",
        ]


class MessageOut(serializers.ModelSerializer):
    dead_letters = serializers.SerializerMethodField()

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "integration",
            "channel",
            "received_at",
            "content_type",
            "size",
            "sha256",
            "status",
            "attempts",
            "format",
            "events_parsed",
            "events_applied",
            "events_held",
            "last_error",
            "processed_at",
            "dead_letters",
        ]

    def get_dead_letters(self, message: InboundMessage) -> list[dict]:
        return DeadLetterOut(selectors.message_dead_letters(message=message), many=True).data


ACCEPTED = inline_serializer(
    "IngestAccepted", {"message_id": serializers.IntegerField(), "status": serializers.CharField()}
)


def _ingest_error(error: IngestError) -> ApiError:
    return ApiError(error.message, code=error.code, status_code=error.status)


class MessageUploadView(TenantAPIView):
    """Raw body (any content type) or multipart field "file"; ?integration=<id>&format_hint=."""

    role_map = {"POST": STAFF}
    scope_map = {"POST": frozenset({ApiScope.INGEST})}

    @extend_schema(request=None, responses={202: ACCEPTED})
    def post(self, request):
        django_request = request._request
        params = django_request.GET.dict()
        integration = None
        limit = max_body_bytes()
        if django_request.content_type == "multipart/form-data":
            upload = django_request.FILES.get("file")
            if upload is None:
                raise ApiError("Send the message as the field 'file'.", code="file_required")
            params = django_request.POST.dict() | params
            size = upload.size
            body = upload.read(limit + 1)
            content_type = upload.content_type or ""
        else:
            body, size = _read_body(django_request, limit)
            content_type = django_request.content_type or ""
        if params.get("integration"):
            try:
                integration = selectors.integration_get(integration_id=int(params["integration"]))
            except (ValueError, Integration.DoesNotExist):
                raise ApiError("Unknown integration.", code="unknown_integration") from None
        try:
            message = services.message_store(
                integration=integration,
                channel=Channel.UPLOAD,
                body=body,
                content_type=content_type,
                format_hint=params.get("format_hint", "") or params.get("fmt", ""),
                declared_size=size,
            )
        except IngestError as error:
            raise _ingest_error(error) from error
        return Response(
            {"message_id": message.pk, "status": message.status}, status=status.HTTP_202_ACCEPTED
        )


class MessageDetailView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map = {"GET": frozenset({ApiScope.INGEST, ApiScope.READ})}

    @extend_schema(responses=MessageOut)
    def get(self, request, message_id: int):
        message = get_object_or_404(InboundMessage.objects.all(), pk=message_id)
        return Response(MessageOut(message).data)


class DeadLetterListView(TenantAPIView):
    role_map = {"GET": STAFF}
    scope_map: dict = {}

    @extend_schema(responses=DeadLetterOut(many=True))
    def get(self, request):
        letters = selectors.dead_letter_list(
            unresolved_only=request.query_params.get("unresolved") in ("1", "true")
        )[:500]
        return Response({"results": DeadLetterOut(letters, many=True).data})


class DeadLetterReplayView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(request=None, responses=DeadLetterOut)
    def post(self, request, dead_letter_id: int):
        letter = get_object_or_404(DeadLetter.objects.all(), pk=dead_letter_id)
        try:
            letter = services.dead_letter_replay(dead_letter=letter, actor=self.actor)
        except IngestError as error:
            raise _ingest_error(error) from error
        return Response(DeadLetterOut(letter).data)


class DeadLetterReplayAllView(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map: dict = {}

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ReplayAll",
            {
                "replayed": serializers.IntegerField(),
                "resolved": serializers.IntegerField(),
                "messages": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request):
        integration = None
        integration_id = request.query_params.get("integration") or request.data.get("integration")
        if integration_id:
            try:
                integration = selectors.integration_get(integration_id=int(integration_id))
            except (ValueError, Integration.DoesNotExist):
                raise ApiError("Unknown integration.", code="unknown_integration") from None
        result = services.dead_letters_replay_all(integration=integration, actor=self.actor)
        return Response(
            {"replayed": result.replayed, "resolved": result.resolved, "messages": result.messages}
        )

"""The partner webhook endpoint: authenticated by the integration's secret, not a session.

A DRF view only so that it is documented with the rest of the API; it resolves its tenant
from the URL, not through tenancy.api.base (tests/tenancy/test_api_base.py lists it)."""

from __future__ import annotations

from django.http import HttpResponseBase, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from integrations.api.serializers import ACCEPTED
from integrations.limits import max_body_bytes, read_body
from integrations.webhooks.services import webhook_receive
from integrations.webhooks.signing import SECRET_HEADER, SIGNATURE_HEADER
from tenancy.api.errors import json_error
from tenancy.context import tenant_context


class WebhookView(APIView):
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]
    parser_classes: list[type[BaseParser]] = []  # the raw bytes are stored, never parsed here

    @extend_schema(
        operation_id="ingest_webhook",
        auth=[],
        parameters=[
            OpenApiParameter(SECRET_HEADER, str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="sha256=<hex HMAC-SHA256 of the body, keyed by the secret>",
            ),
        ],
        request={"*/*": OpenApiTypes.BINARY},
        responses={202: ACCEPTED},
        description="A partner pushes a message (any supported format). 202 once it is "
        "stored; it is parsed later. One of the two headers is required.",
    )
    def post(self, request: Request, tenant_id: int, token: object) -> HttpResponseBase:
        django_request = request._request  # the raw body, read once, unparsed
        with tenant_context(tenant_id):
            body, size = read_body(django_request, max_body_bytes())
            outcome = webhook_receive(
                token=token,
                headers=django_request.headers,
                body=body,
                size=size,
                content_type=django_request.content_type or "",
            )
        if outcome.error is not None:
            return json_error(outcome.error)
        assert outcome.message is not None
        return JsonResponse(
            {"message_id": outcome.message.pk, "status": outcome.message.status}, status=202
        )

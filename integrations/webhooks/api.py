"""The partner webhook endpoint: authenticated by the integration's secret, not a session."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.limits import max_body_bytes, read_body
from integrations.webhooks.services import webhook_receive
from tenancy.api.errors import json_error
from tenancy.context import tenant_context


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, tenant_id: int, token: object) -> JsonResponse:
    """A partner pushes a message: 202 once it is stored (parsed later by the pipeline)."""
    with tenant_context(tenant_id):
        body, size = read_body(request, max_body_bytes())
        outcome = webhook_receive(
            token=token,
            headers=request.headers,
            body=body,
            size=size,
            content_type=request.content_type or "",
        )
    if outcome.error is not None:
        return json_error(outcome.error)
    assert outcome.message is not None
    return JsonResponse(
        {"message_id": outcome.message.pk, "status": outcome.message.status}, status=202
    )

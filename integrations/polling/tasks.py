"""Celery tasks of polling: beat -> poll_due -> poll_integration, and "poll now" (enqueued)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from integrations.errors import IngestError
from integrations.models import Integration
from integrations.polling.services import due_integration_ids, integration_poll
from tenancy.context import for_each_tenant
from tenancy.models import Tenant
from tenancy.tasks import TenantTask


@shared_task(name="integrations.poll_due", ignore_result=True)
def poll_due() -> int:
    """Beat: enqueue a poll of every due integration of every tenant (explicitly per tenant)."""
    now = timezone.now()
    tenant_ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    due = for_each_tenant(tenant_ids, lambda _tenant_id: due_integration_ids(now))
    count = 0
    for tenant_id, integration_ids in due.items():
        for integration_id in integration_ids:
            poll_integration.delay(tenant_id=tenant_id, integration_id=integration_id)
            count += 1
    return count


@shared_task(name="integrations.poll_integration", base=TenantTask, acks_late=True)
def poll_integration(*, tenant_id: int, integration_id: int, force: bool = False) -> dict:
    """Poll one integration (runs in its tenant's context, one transaction; see TenantTask)."""
    return asdict(integration_poll(integration_id=integration_id, force=force))


def integration_poll_now(*, integration: Integration) -> None:
    """Poll the carrier after commit, even if the integration is not due."""
    if not integration.poll_adapter:
        raise IngestError("This integration has no poll adapter.", code="not_polling", status=409)
    tenant_id, integration_id = integration.tenant_id, integration.pk
    transaction.on_commit(
        lambda: poll_integration.delay(
            tenant_id=tenant_id, integration_id=integration_id, force=True
        ),
        robust=True,
    )

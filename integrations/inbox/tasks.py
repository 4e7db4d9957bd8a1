"""Celery task of the watched inboxes (beat)."""

from __future__ import annotations

from celery import shared_task

from integrations.inbox.services import sweep_tenant
from tenancy.context import for_each_tenant
from tenancy.models import Tenant


@shared_task(name="integrations.inbox_sweep", ignore_result=True)
def inbox_sweep() -> dict:
    """Beat: sweep every tenant's inbox folders, each tenant in its own context."""
    tenants = {t.pk: t for t in Tenant.objects.order_by("pk")}
    results = for_each_tenant(list(tenants), lambda tenant_id: sweep_tenant(tenants[tenant_id]))
    return {str(tenant_id): counts for tenant_id, counts in results.items()}

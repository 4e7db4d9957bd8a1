"""Celery tasks of the ETA: the nightly rebuild of every tenant's lane statistics."""

from __future__ import annotations

from celery import shared_task

from integrations.eta.services import lane_stats_recompute
from tenancy.context import for_each_tenant
from tenancy.models import Tenant


@shared_task(name="eta.lane_stats_recompute")
def lane_stats_recompute_all() -> dict[int, int]:
    """Beat, nightly: one set-based statement per tenant (the tenancy helper spans them)."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    results = for_each_tenant(tenant_ids, lambda _tenant_id: lane_stats_recompute().rows)
    return {tenant_id: int(str(rows)) for tenant_id, rows in results.items()}

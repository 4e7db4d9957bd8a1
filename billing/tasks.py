"""Billing's periodic work: time-based charges (demurrage, detention, storage) of containers
still waiting accrue day by day (config.settings CELERY_BEAT_SCHEDULE "billing-accrue-dwell");
export jobs write their files (billing.exporting)."""

from __future__ import annotations

from typing import cast

from celery import shared_task

from billing import charging, exporting
from tenancy.context import for_each_tenant
from tenancy.models import Tenant


@shared_task(name="billing.accrue_dwell")
def accrue_dwell() -> dict[int, int]:
    """Every tenant: the new complete days of open dwell charges (idempotent per day)."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    return cast(dict[int, int], for_each_tenant(tenant_ids, lambda _: charging.dwell_accrue()))


@shared_task(name="billing.export_run", acks_late=True, reject_on_worker_lost=True)
def export_run(*, tenant_id: int, job_id: int) -> str:
    """Write one export job's file (billing.exporting.export_run; safe to run twice)."""
    return exporting.export_run(tenant_id=int(tenant_id), job_id=int(job_id))

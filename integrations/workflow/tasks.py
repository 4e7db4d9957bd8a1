"""Celery tasks of workflow rules: run firings after commit, and the beat task that runs
what a lost enqueue or a failed action left pending."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.workflow import services
from tenancy.context import for_each_tenant, tenant_context
from tenancy.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="workflow.run_firings", acks_late=True)
def run_firings(*, tenant_id: int, firing_ids: list[int]) -> dict[int, str]:
    results = {}
    for firing_id in firing_ids:
        with tenant_context(int(tenant_id)):
            results[firing_id] = services.firing_run(firing_id=firing_id)
    return results


@shared_task(name="workflow.run_pending")
def run_pending() -> int:
    """Beat: every tenant's pending firings older than 30 s (each in its own context)."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))

    def work(tenant_id: int) -> int:
        ids = services.firings_pending()
        for firing_id in ids:
            services.firing_run(firing_id=firing_id)
        return len(ids)

    return sum(int(v) for v in for_each_tenant(tenant_ids, work).values())  # type: ignore[call-overload]

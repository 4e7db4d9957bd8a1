"""Celery tasks of shipments: the beat sweep of deferred timeline hooks (config.settings)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from shipments.services import deferred_hooks_run
from tenancy.context import for_each_tenant
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

# The one who deferred them runs them right after its commit; older ones were left by a crash
# (or a failure of the hooks) between the two transactions.
DEFERRED_GRACE = timedelta(seconds=10)


@shared_task(name="shipments.run_deferred_hooks")
def run_deferred_hooks() -> int:
    """Beat: every tenant's deferred timeline hooks recorded more than DEFERRED_GRACE ago."""
    before = timezone.now() - DEFERRED_GRACE
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))

    def work(tenant_id: int) -> int:
        taken = deferred_hooks_run(recorded_before=before)
        if taken:
            logger.warning(
                "ran the deferred hooks of %d shipments (tenant %s)", len(taken), tenant_id
            )
        return len(taken)

    return sum(for_each_tenant(tenant_ids, work).values())  # type: ignore[arg-type]

"""Celery task of the ops bulk import: thin, the work is import_work.import_run (resumable)."""

from __future__ import annotations

from celery import shared_task

from portal.ops import import_work


@shared_task(name="ops.import_run", acks_late=True, reject_on_worker_lost=True)
def import_run(*, tenant_id: int, import_id: int) -> str:
    # Not TenantTask: that holds one transaction for the whole body, and progress must be
    # committed batch by batch for the page to show it.
    return import_work.import_run(tenant_id=int(tenant_id), import_id=int(import_id))

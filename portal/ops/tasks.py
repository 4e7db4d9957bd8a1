"""Celery tasks of the ops long operations: thin, the work is import_work.import_run and
jobs.job_run (both resumable)."""

from __future__ import annotations

from celery import shared_task

from portal.ops import import_work, jobs


@shared_task(name="ops.import_run", acks_late=True, reject_on_worker_lost=True)
def import_run(*, tenant_id: int, import_id: int) -> str:
    # Not TenantTask: that holds one transaction for the whole body, and progress must be
    # committed batch by batch for the page to show it.
    return import_work.import_run(tenant_id=int(tenant_id), import_id=int(import_id))


@shared_task(name="ops.job_run", acks_late=True, reject_on_worker_lost=True)
def job_run(*, tenant_id: int, job_id: int) -> str:
    # Not TenantTask either: progress is committed slice by slice (portal/ops/jobs.py).
    return jobs.job_run(tenant_id=int(tenant_id), job_id=int(job_id))

"""Celery base class for tenant work: the task runs inside the tenant's context."""

from __future__ import annotations

from celery import Task

from tenancy.context import tenant_context


class TenantTask(Task):
    """Tasks take ``tenant_id`` as a keyword argument; the body runs in that tenant's context.

    Idempotent bodies only: tasks are acked late and may run twice after a worker dies.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, tenant_id: int, **kwargs):
        with tenant_context(int(tenant_id)):
            return super().__call__(*args, tenant_id=tenant_id, **kwargs)

"""Long operations of the dashboard besides the import (portal/ops/import_work.py): bulk replay
of dead-lettered messages and the export of the shipment list, each an ``OpsJob`` started by
portal/ops/services.py (``replay_start``, ``export_start``), run by the Celery task
``ops.job_run`` (portal/ops/tasks.py) through ``job_run`` here, and followed by the page
(htmx polling of ``done`` of ``total``).

Both run in slices, one transaction each, so progress is committed as it goes and a worker
that dies mid-way resumes: a replay at ``done`` (its messages were fixed when it started), an
export from the start (its rows are only kept once the file is written). One item that fails
never stops the others: the replay service isolates a message the pipeline cannot handle,
and the reason is kept in ``result``.

The export reads the list through the dashboard's own selectors (the same filters, the same
order) and writes through billing's spreadsheet helpers, which neutralise formulas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from billing.exports import CSV_TYPE, XLSX_TYPE, Table, to_csv, to_xlsx
from integrations import services as integration_services
from integrations.models import DeadLetter
from portal.ops import selectors
from portal.ops.models import JobKind, JobStatus, OpsJob
from shipments.models import Shipment
from shipments.zones import zone_named
from tenancy.api.pagination import Keyset
from tenancy.context import tenant_context
from tenancy.errors import Conflict
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

REPLAY_BATCH = 10  # messages per transaction
EXPORT_BATCH = 500  # shipments per query
MAX_EXPORT_ROWS = 50_000
MAX_REASONS = 500  # failed items kept in the result
FORMATS = ("csv", "xlsx")

EXPORT_HEADERS = (
    "Shipment",
    "References",
    "Status",
    "Mode",
    "Carrier",
    "Customer",
    "Origin",
    "Destination",
    "Booked at",
    "ETA",
    "Late",
    "Next milestone",
    "Tags",
)


# --- running (the Celery task's body) -------------------------------------------------------


def job_run(*, tenant_id: int, job_id: int) -> str:
    with tenant_context(tenant_id):
        job = OpsJob.objects.filter(pk=job_id).first()
        if job is None:
            return "missing"
        kind, status = job.kind, job.status
        zone = Tenant.objects.get(pk=tenant_id).timezone
    if status in (JobStatus.DONE, JobStatus.FAILED):
        return str(status)
    work: Callable[[int, int], str] = _replay_run if kind == JobKind.REPLAY else _export_run
    with timezone.override(zone_named(zone)):  # the list's date filters are local days
        try:
            return work(tenant_id, job_id)
        except Exception as error:  # the job's own failure: recorded on its row
            logger.exception("ops job %s failed", job_id)
            with tenant_context(tenant_id):
                OpsJob.objects.filter(pk=job_id).update(
                    status=JobStatus.FAILED,
                    error=f"{type(error).__name__}: {error}"[:2000],
                    finished_at=timezone.now(),
                )
            return JobStatus.FAILED


def _begin(job: OpsJob) -> None:
    if job.status == JobStatus.QUEUED:
        job.status, job.started_at = JobStatus.RUNNING, timezone.now()


def _replay_run(tenant_id: int, job_id: int, batch: int = REPLAY_BATCH) -> str:
    while True:
        with tenant_context(tenant_id):
            job = OpsJob.objects.select_for_update().get(pk=job_id)
            if job.finished:
                return str(job.status)
            _begin(job)
            ids = job.params["message_ids"][job.done : job.done + batch]
            if ids:
                _replay_slice(job, ids)
            job.done += len(ids)
            if job.done >= job.total:
                job.status, job.finished_at = JobStatus.DONE, timezone.now()
            job.save()
            if job.status == JobStatus.DONE:
                return str(job.status)


def _replay_slice(job: OpsJob, ids: list[int]) -> None:
    result = dict(job.result)
    try:
        with transaction.atomic():
            replayed = integration_services.messages_replay(message_ids=ids)
    except Exception as error:  # the slice as a whole: its messages are counted failed
        logger.exception("ops job %s: replay of %s failed", job.pk, ids)
        failed = [{"message_id": m, "reason": f"{type(error).__name__}: {error}"} for m in ids]
        result["failed"] = (result.get("failed", []) + failed)[:MAX_REASONS]
        job.failed += len(ids)
        job.result = result
        return
    result["replayed"] = result.get("replayed", 0) + replayed.replayed
    result["resolved"] = result.get("resolved", 0) + replayed.resolved
    failed_ids = {f["message_id"] for f in replayed.failed}
    result["failed"] = (result.get("failed", []) + replayed.failed)[:MAX_REASONS]
    still = (
        DeadLetter.objects.filter(message_id__in=ids, resolved_at__isnull=True)
        .exclude(message_id__in=failed_ids)
        .select_related("message__integration")
        .order_by("message_id", "pk")
    )
    failing: list[dict[str, Any]] = []
    for letter in still:
        integration = letter.message.integration
        failing.append(
            {
                "message_id": letter.message_id,
                "integration": integration.name if integration else letter.message.channel,
                "position": letter.position,
                "reason": letter.reason[:500],
            }
        )
    result["still_failing"] = (result.get("still_failing", []) + failing)[:MAX_REASONS]
    job.failed += len(failed_ids | {f["message_id"] for f in failing})
    job.result = result


def export_queryset(query: str) -> tuple[QuerySet[Shipment], Keyset]:
    """The list's filtered shipments and its order, as /ops/ shows them for ``query``."""
    from portal.ops.forms import ListFilterForm

    filters = ListFilterForm(QueryDict(query)).filters()
    return selectors.shipments_filtered(filters), selectors.SORTS.get(
        filters.sort, selectors.SORTS["-booked"]
    )


def _export_run(tenant_id: int, job_id: int, batch: int = EXPORT_BATCH) -> str:
    with tenant_context(tenant_id):
        job = OpsJob.objects.get(pk=job_id)
        _begin(job)
        job.done = 0
        job.save(update_fields=["status", "started_at", "done"])
        query, fmt, total = job.params["query"], job.params["format"], job.total
    rows: list[list[Any]] = []
    last: list[Any] | None = None
    while len(rows) < total:
        with tenant_context(tenant_id):
            shipments, keyset = export_queryset(query)
            page = shipments.order_by(*keyset.fields)
            if last is not None:
                page = keyset.after(page, last)
            found = list(selectors.list_rows(page)[: min(batch, total - len(rows))])
            if not found:
                break
            tags = selectors.tags_by_shipment([s.pk for s in found])
            rows += [_export_row(s, tags.get(s.pk, [])) for s in found]
            last = [getattr(found[-1], column) for column in keyset.columns]
            OpsJob.objects.filter(pk=job_id).update(done=len(rows))
    table = Table("Shipments", EXPORT_HEADERS, rows)
    data = to_csv(table) if fmt == "csv" else to_xlsx([table])
    with tenant_context(tenant_id):
        job = OpsJob.objects.select_for_update().get(pk=job_id)
        job.file_data = data
        job.done = len(rows)
        job.total = max(job.total, len(rows))
        job.result = {**job.result, "rows": len(rows), "bytes": len(data)}
        job.status, job.finished_at = JobStatus.DONE, timezone.now()
        job.save()
    return JobStatus.DONE


def file_type(fmt: str) -> str:
    return CSV_TYPE if fmt == "csv" else XLSX_TYPE


def _local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _export_row(shipment: Shipment, tags: list[str]) -> list[Any]:
    references = [r.value for r in getattr(shipment, "visible_references", [])]
    account = shipment.customer_account
    return [
        shipment.public_id,
        ", ".join(references),
        shipment.status,
        shipment.mode,
        shipment.carrier,
        account.code if account else "",
        shipment.origin_locode,
        shipment.destination_locode,
        _local(shipment.booked_at),
        _local(getattr(shipment, "eta", None)),
        "late" if shipment.is_late else "on time",
        getattr(shipment, "next_milestone", "") or "",
        ", ".join(tags),
    ]


def job_get(*, job_id: int) -> OpsJob | None:
    """The job of the current tenant (another tenant's is None, like a missing one)."""
    return OpsJob.objects.defer("file_data").filter(pk=job_id).first()


def jobs_recent(*, kind: str | None = None, limit: int = 10) -> list[OpsJob]:
    jobs = OpsJob.objects.defer("file_data", "params")
    if kind:
        jobs = jobs.filter(kind=kind)
    return list(jobs[:limit])


def job_file(*, job: OpsJob) -> bytes:
    if job.kind != JobKind.EXPORT or job.status != JobStatus.DONE:
        raise Conflict("The export is not ready.", code="not_ready")
    data = OpsJob.objects.filter(pk=job.pk).values_list("file_data", flat=True).first()
    return bytes(data or b"")

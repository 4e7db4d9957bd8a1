"""Charge and journal exports of any size, written in chunks.

``ChunkedExport`` reads the filtered charges by keyset (``selectors.charge_chunk``: accrued_on,
id), ``EXPORT_CHUNK`` at a time, and writes their rows to a file through a sink
(``exports.open_sink``: csv, or openpyxl's write-only workbook), so neither the rows nor the
workbook are ever held in memory whole. The API (synchronous) loops it inside the request;
an export job (``ExportJob``, dashboard) runs it in Celery (``billing.tasks.export_run`` →
``export_run``), one transaction per chunk so the progress it records is visible to the page
polling it while the file is being written.

Every cell goes through ``exports.neutralise`` (formula injection), as in every export.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from billing import exports, selectors
from billing.models import Charge, ChargeStatus, ExportFormat, ExportJob, ExportKind, ExportStatus
from tenancy.context import tenant_context
from tenancy.errors import DomainError

logger = logging.getLogger(__name__)

# Charges per chunk: one indexed range read, one progress update. 2,000 keeps a chunk's
# model instances around a few MB and the progress moving every second or so.
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class ExportFilters:
    """The filters of ``GET /api/v1/billing/charges/export/``: period, customer, status."""

    period_start: date | None = None
    period_end: date | None = None
    customer: int | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in ChargeStatus.values:
            choices = ", ".join(ChargeStatus.values)
            raise DomainError(f"status must be one of {choices}.", field="status")

    def as_json(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "period_end": self.period_end.isoformat() if self.period_end else None,
            "customer": self.customer,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportFilters:
        def day(value: Any) -> date | None:
            return date.fromisoformat(value) if value else None

        return cls(
            period_start=day(data.get("period_start")),
            period_end=day(data.get("period_end")),
            customer=int(data["customer"]) if data.get("customer") else None,
            status=data.get("status") or None,
        )

    def charges(self):
        return selectors.charge_list(
            period_start=self.period_start,
            period_end=self.period_end,
            customer_account_id=self.customer,
            status=self.status,
        )


def check_layout(kind: str, file_format: str) -> None:
    if kind not in ExportKind.values:
        raise DomainError("kind must be charges or journal.", field="kind")
    if file_format not in ExportFormat.values:
        raise DomainError("format must be csv or xlsx.", field="format")


class ChunkedExport:
    """One export being written to ``out``: ``step()`` writes the next chunk (in the caller's
    tenant context) and returns how many charges it wrote, 0 once all are written; then
    ``close()`` finishes the file."""

    def __init__(
        self,
        *,
        kind: str,
        file_format: str,
        filters: ExportFilters,
        out: IO[bytes],
        chunk: int = EXPORT_CHUNK,
    ) -> None:
        check_layout(kind, file_format)
        self.kind, self.filters, self.chunk = kind, filters, chunk
        self.sink = exports.open_sink(kind, file_format, out)
        self.after: tuple[date, int] | None = None
        self.done = 0
        self.finished = False

    def step(self) -> int:
        if self.finished:
            return 0
        batch: list[Charge] = selectors.charge_chunk(
            self.filters.charges(), after=self.after, size=self.chunk
        )
        for charge in batch:
            for row in exports.rows_of(self.kind, charge, signed=self.sink.signed):
                self.sink.write(row)
        if batch:
            self.after = (batch[-1].accrued_on, batch[-1].pk)
        self.done += len(batch)
        self.finished = len(batch) < self.chunk
        return len(batch)

    def close(self) -> None:
        self.sink.close()


def export_to_file(
    *,
    kind: str,
    file_format: str,
    filters: ExportFilters,
    out: IO[bytes],
    chunk: int = EXPORT_CHUNK,
) -> int:
    """The whole export into ``out`` now (the synchronous API); the number of charges."""
    export = ChunkedExport(
        kind=kind, file_format=file_format, filters=filters, out=out, chunk=chunk
    )
    while export.step():
        pass
    export.close()
    return export.done


def export_run(*, tenant_id: int, job_id: int, chunk: int = EXPORT_CHUNK) -> str:
    """Write the job's file, recording progress after every chunk; its final status.

    Safe to run twice (Celery acks late: a worker that dies mid-way gets the task again): a
    done or failed job is left alone, a running one starts over from its first row (the file
    is stored only once complete, so a half-written one is never offered for download).
    A failure is recorded on the job with its reason, and the task ends there (not retried:
    the same data would fail the same way; the user starts a new export).
    """
    with tenant_context(tenant_id):
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return "missing"
        if job.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return job.status
        job.status, job.started_at, job.done, job.error = (
            ExportStatus.RUNNING,
            timezone.now(),
            0,
            "",
        )
        job.save(update_fields=["status", "started_at", "done", "error"])
    try:
        with tempfile.TemporaryFile() as out:
            _write(tenant_id, job, out, chunk)
    except Exception as failure:
        logger.exception("billing export %s failed", job_id)
        reason = f"{type(failure).__name__}: {failure}"[:2000]
        with tenant_context(tenant_id):
            ExportJob.objects.filter(pk=job_id).update(
                status=ExportStatus.FAILED, error=reason, finished_at=timezone.now()
            )
        return ExportStatus.FAILED
    return ExportStatus.DONE


def _write(tenant_id: int, job: ExportJob, out: IO[bytes], chunk: int) -> None:
    filters = ExportFilters.from_json(job.filters)
    export = ChunkedExport(
        kind=job.kind, file_format=job.format, filters=filters, out=out, chunk=chunk
    )
    while True:
        with tenant_context(tenant_id):
            written = export.step()
            # total may have moved since the count at creation (charges keep accruing):
            # never show more done than total.
            ExportJob.objects.filter(pk=job.pk).update(
                done=export.done, total=max(job.total, export.done)
            )
        if not written:
            break
    export.close()
    out.seek(0)
    with tenant_context(tenant_id), transaction.atomic():
        job.file.save(job.file_name, File(out), save=False)
        ExportJob.objects.filter(pk=job.pk).update(
            file=job.file.name,
            status=ExportStatus.DONE,
            done=export.done,
            total=export.done,
            finished_at=timezone.now(),
        )

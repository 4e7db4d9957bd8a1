"""The dashboard's own writes (saved views, tags) and its bulk actions, which call the
shipments services once per shipment: no second way to record a milestone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone

from integrations.models import DeadLetter, Integration
from integrations.workflow import services as workflow_services
from portal.ops import importing, jobs, tasks
from portal.ops.import_work import import_check, import_run
from portal.ops.models import ImportStatus, JobKind, OpsJob, SavedView, ShipmentImport
from shipments import services as shipment_services
from shipments.models import Shipment
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError
from tenancy.models import User

__all__ = ["import_check", "import_run"]  # the import's work, in portal.ops.import_work

MAX_BULK = 500


@transaction.atomic
def saved_view_save(*, user: User, name: str, query: str) -> SavedView:
    name = name.strip()
    if not name:
        raise DomainError("Name the view.", code="name_required", field="name")
    view, _ = SavedView.objects.update_or_create(
        user=user, name=name[:80], defaults={"query": query[:1000]}
    )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    view.delete()


def tags_add(*, shipments: Sequence[Shipment], name: str, actor: User) -> int:
    """Tag the shipments: the workflow's tags, which rule filters and set_tag share."""
    return workflow_services.shipment_tags_add(shipments=shipments, tag=name, actor=actor)


def tag_remove(*, shipment: Shipment, name: str, actor: User) -> None:
    workflow_services.shipment_tag_remove(shipment=shipment, tag=name, actor=actor)


@dataclass
class BulkResult:
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (public id, reason)


def milestones_record_many(
    *,
    shipments: Sequence[Shipment],
    milestone: str,
    occurred_at: datetime,
    reason: str,
    actor: User,
    location: str = "",
) -> BulkResult:
    """shipments.services.milestone_record_manual for each shipment, each in its own
    transaction: one refused shipment (a milestone its template lacks) does not undo the rest."""
    if len(shipments) > MAX_BULK:
        raise DomainError(f"At most {MAX_BULK} shipments at once.", code="too_many")
    result = BulkResult()
    for shipment in shipments:
        try:
            with transaction.atomic():
                shipment_services.milestone_record_manual(
                    shipment=shipment,
                    milestone=milestone,
                    occurred_at=occurred_at,
                    reason=reason,
                    actor=actor,
                    location=location,
                )
            result.done += 1
        except (DomainError, IntegrityError) as error:
            result.failed.append((shipment.public_id, str(error)))
    return result


# --- bulk import of shipments (CSV/XLSX) ----------------------------------------------------
# Rows are created one by one through shipments.services.shipment_create, the partner API's
# create service, each in its own savepoint: one bad row never takes its batch-mates down.


def import_upload(*, user: User, name: str, data: bytes) -> ShipmentImport:
    sheet = importing.read_file(name, data)
    job = ShipmentImport(
        created_by=user,
        filename=name[:200],
        headers=sheet.headers,
        rows=sheet.rows,
        mapping=importing.guess_mapping(sheet.headers),
        total=len(sheet.rows),
    )
    job.tenant_id = current_tenant_id()
    job.save()
    return job


@transaction.atomic
def import_map(*, job: ShipmentImport, mapping: dict[str, int]) -> ShipmentImport:
    if job.status != ImportStatus.UPLOADED:
        raise Conflict("This import has already started.", code="import_started")
    importing.check_mapping(mapping, len(job.headers))
    job.mapping = mapping
    job.save(update_fields=["mapping"])
    return job


@transaction.atomic
def import_start(*, job: ShipmentImport, actor: User) -> ShipmentImport:
    job = ShipmentImport.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.UPLOADED:
        raise Conflict("This import has already started.", code="import_started")
    importing.check_mapping(job.mapping, len(job.headers))
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    audit_record(
        action="shipment_import.start",
        target_type="shipment_import",
        target_id=job.pk,
        actor=actor,
        changes={"file": job.filename, "rows": job.total},
    )
    tenant_id, job_id = job.tenant_id, job.pk

    def enqueue() -> None:
        tasks.import_run.delay(tenant_id=tenant_id, import_id=job_id)

    transaction.on_commit(enqueue, robust=True)
    return job


# --- long operations: bulk replay and the list export (the work is portal/ops/jobs.py) ------


def _job_enqueue(job: OpsJob) -> None:
    tenant_id, job_id = job.tenant_id, job.pk

    def publish() -> None:
        tasks.job_run.delay(tenant_id=tenant_id, job_id=job_id)

    transaction.on_commit(publish, robust=True)


@transaction.atomic
def replay_start(
    *, actor: User, integration: Integration | None = None, message_ids: list[int] | None = None
) -> OpsJob:
    """A bulk replay of the open dead letters (of one integration, or all), or of the given
    messages (an integration's held and dead-lettered ones after its code table changed)."""
    if message_ids is None:
        letters = DeadLetter.objects.filter(resolved_at__isnull=True).exclude(stage="intake")
        if integration is not None:
            letters = letters.filter(message__integration=integration)
        message_ids = sorted(set(letters.values_list("message_id", flat=True)))
    if not message_ids:
        raise DomainError("Nothing to replay: no open dead letters.", code="nothing_to_replay")
    label = f"Replay: {integration.name}" if integration else "Replay: all dead letters"
    job = OpsJob(
        kind=JobKind.REPLAY,
        created_by=actor,
        label=label[:200],
        params={
            "message_ids": sorted(message_ids),
            "integration_id": integration.pk if integration else None,
        },
        total=len(message_ids),
        result={"replayed": 0, "resolved": 0, "still_failing": [], "failed": []},
    )
    job.tenant_id = current_tenant_id()
    job.save()
    audit_record(
        action="ops_job.replay",
        target_type="integration",
        target_id=integration.pk if integration else "*",
        actor=actor,
        changes={"job": job.pk, "messages": len(message_ids)},
    )
    _job_enqueue(job)
    return job


@transaction.atomic
def export_start(*, actor: User, query: str, fmt: str) -> OpsJob:
    """An export of the shipment list with the filters of ``query`` (the list's query
    string) as CSV or XLSX."""
    if fmt not in jobs.FORMATS:
        raise DomainError("Export as csv or xlsx.", code="invalid_format", field="format")
    params = QueryDict(query, mutable=True)
    for name in ("cursor", "limit"):
        params.pop(name, None)
    shipments, _keyset = jobs.export_queryset(params.urlencode())
    count = shipments.count()
    total = min(count, jobs.MAX_EXPORT_ROWS)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    job = OpsJob(
        kind=JobKind.EXPORT,
        created_by=actor,
        label=f"Export of the shipment list ({fmt.upper()})",
        params={"query": params.urlencode(), "format": fmt},
        total=total,
        file_name=f"shipments-{stamp}.{fmt}",
        file_type=jobs.file_type(fmt),
        result={"rows": 0, "matched": count, "capped": count > jobs.MAX_EXPORT_ROWS},
    )
    job.tenant_id = current_tenant_id()
    job.save()
    audit_record(
        action="ops_job.export",
        target_type="shipment",
        target_id="*",
        actor=actor,
        changes={"job": job.pk, "query": job.params["query"], "format": fmt, "rows": total},
    )
    _job_enqueue(job)
    return job

"""The work of a bulk import (portal/ops/importing.py reads the file): the checks of a row
shared by the dry run and the real run, and the real run, which creates each row through
``shipments.services.shipment_create`` — the partner API's create service — in its own
savepoint, so that one bad row never takes its batch-mates down. Called by services (the dry
run) and by the Celery task (portal/ops/tasks.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from milestones.models import TemplateVersion
from milestones.selectors import NoTemplate, template_latest_version
from portal.ops import importing
from portal.ops.models import ImportStatus, ShipmentImport
from shipments import services as shipment_services
from shipments.models import ShipmentReference
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tenancy.models import CustomerAccount, Tenant

logger = logging.getLogger(__name__)

IMPORT_BATCH = 25


@dataclass
class RowOutcome:
    number: int
    reference: str
    outcome: str  # create | skip | reject
    reasons: list[str] = field(default_factory=list)
    prepared: importing.Prepared | None = None
    customer: CustomerAccount | None = None
    version: TemplateVersion | None = None


class _Checker:
    """The checks of a row beyond ShipmentIn's, shared by the dry run and the real run:
    the reference repeats an earlier row, already identifies a shipment (skip), the customer
    account or the mode's template is unknown."""

    def __init__(self, job: ShipmentImport) -> None:
        self.job = job
        self.zone = Tenant.objects.get(pk=job.tenant_id).timezone
        self.seen: dict[tuple[str, str], int] = {}
        self.customers: dict[str, CustomerAccount | None] = {}
        self.versions: dict[str, TemplateVersion | None] = {}

    def check(self, start: int, rows: Sequence[Sequence[str]]) -> list[RowOutcome]:
        prepared = [
            importing.prepare(start + i + 2, row, self.job.mapping, self.zone)
            for i, row in enumerate(rows)
        ]
        wanted = {(p.kind, p.reference.strip()) for p in prepared if not p.reasons}
        known = set(
            ShipmentReference.objects.filter(
                kind__in={k for k, _ in wanted}, value__in={v for _, v in wanted}
            ).values_list("kind", "value")
        )
        return [self._one(p, known) for p in prepared]

    def _one(self, p: importing.Prepared, known: set) -> RowOutcome:
        out = RowOutcome(number=p.number, reference=p.reference, outcome="reject", prepared=p)
        if p.reasons:
            out.reasons = p.reasons
            return out
        key = (p.kind, p.reference.strip())
        if key in self.seen:
            out.reasons = [f"repeats the reference of row {self.seen[key]}"]
            return out
        self.seen[key] = p.number
        if key in known:
            out.outcome = "skip"
            out.reasons = ["a shipment with this reference exists (imported before)"]
            return out
        code = p.values.get("customer")
        if code:
            if code not in self.customers:
                self.customers[code] = CustomerAccount.objects.filter(code=code).first()
            out.customer = self.customers[code]
            if out.customer is None:
                out.reasons = [f"customer: unknown customer account {code!r}"]
                return out
        mode = p.values["mode"]
        if mode not in self.versions:
            try:
                self.versions[mode] = template_latest_version(mode=mode)
            except NoTemplate:
                self.versions[mode] = None
        out.version = self.versions[mode]
        if out.version is None:
            out.reasons = [f"mode: no milestone template for {mode}"]
            return out
        out.outcome = "create"
        return out


def import_check(*, job: ShipmentImport) -> list[RowOutcome]:
    """The dry run: what each row would do (nothing is written)."""
    checker = _Checker(job)
    outcomes: list[RowOutcome] = []
    for start in range(0, len(job.rows), IMPORT_BATCH):
        outcomes += checker.check(start, job.rows[start : start + IMPORT_BATCH])
    return outcomes


def import_run(*, tenant_id: int, import_id: int, batch: int = IMPORT_BATCH) -> str:
    """Create the rows, a batch per transaction (progress is visible between batches).
    Resumes at ``processed`` when run again (a worker died): nothing is created twice."""
    while True:
        with tenant_context(tenant_id):
            job = ShipmentImport.objects.select_for_update().filter(pk=import_id).first()
            if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
                return job.status if job else "missing"
            if job.status == ImportStatus.UPLOADED:
                return "not_started"
            if job.status == ImportStatus.QUEUED:
                job.status, job.started_at = ImportStatus.RUNNING, timezone.now()
            checker = _Checker(job)
            if job.processed:  # the references of rows done before, for "repeats row N"
                checker.check(0, job.rows[: job.processed])
            rows = job.rows[job.processed : job.processed + batch]
            for outcome in checker.check(job.processed, rows):
                _import_row(job, outcome)
            job.processed += len(rows)
            if job.processed >= job.total:
                job.status, job.finished_at = ImportStatus.DONE, timezone.now()
            job.save()
            if job.status == ImportStatus.DONE:
                return job.status


def _import_row(job: ShipmentImport, outcome: RowOutcome) -> None:
    entry = {"row": outcome.number, "reference": outcome.reference}
    if outcome.outcome == "create":
        assert outcome.prepared is not None
        values = outcome.prepared.values
        try:
            with transaction.atomic():
                shipment = shipment_services.shipment_create(
                    mode=values["mode"],
                    references=[(r["kind"], r["value"]) for r in values["references"]],
                    booked_at=values["booked_at"],
                    template_version=outcome.version,
                    customer_account=outcome.customer,
                    service=values.get("service", ""),
                    carrier=values.get("carrier", ""),
                    shipper_name=values.get("shipper_name", ""),
                    consignee_name=values.get("consignee_name", ""),
                    promised_at=values.get("promised_at"),
                    origin_locode=(values.get("origin") or {}).get("locode", ""),
                    destination_locode=(values.get("destination") or {}).get("locode", ""),
                    actor=job.created_by,
                )
        except DomainError as error:
            if error.code == "duplicate_reference":  # created meanwhile by someone else
                outcome.outcome, outcome.reasons = "skip", [str(error)]
            else:
                outcome.outcome, outcome.reasons = "reject", [str(error)]
        except Exception:
            logger.exception("import %s row %s failed", job.pk, outcome.number)
            outcome.outcome, outcome.reasons = "reject", ["could not be created (internal error)"]
        else:
            job.created = [*job.created, {**entry, "id": shipment.public_id}]
            job.created_count += 1
            return
    if outcome.outcome == "skip":
        job.skipped = [*job.skipped, {**entry, "reason": "; ".join(outcome.reasons)}]
        job.skipped_count += 1
    else:
        job.rejected = [*job.rejected, {**entry, "reason": "; ".join(outcome.reasons)}]
        job.rejected_count += 1

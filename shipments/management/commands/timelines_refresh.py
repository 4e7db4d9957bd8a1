"""Recompute the cached timeline of every existing shipment, tenant by tenant.

Run it once after deploying a change to the timeline rules (milestones.engine), so that lists
and dashboards, which read the cached fields, show what the engine now computes. Idempotent:
a second run writes the same cached fields again (only the computed-at times move). Each batch
is its own short transaction in its tenant's context, so it can run beside live traffic and be
stopped and started again.

Parents go first: shipments without a parent are refreshed in batches and the refresh
cascades to their dependants (shipments.services.timelines_refresh); whatever the cascade does
not reach (deeper links) follows in a second pass.
"""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from shipments.models import Shipment
from shipments.services import timelines_refresh
from tenancy.context import tenant_context
from tenancy.models import Tenant


def _in_batches(tenant_id: int, which: Q, size: int) -> None:
    """Refresh the shipments ``which`` selects in pk order, ``size`` at a time, one transaction
    per batch (the tenant-scoped manager needs the context when the query is built)."""
    last = 0
    while True:
        with tenant_context(tenant_id):
            shipments = Shipment.objects.filter(which, pk__gt=last).order_by("pk")
            batch = list(shipments.values_list("pk", flat=True)[:size])
            if not batch:
                return
            timelines_refresh(shipment_ids=batch)
        last = batch[-1]


def refresh_tenant(tenant_id: int, *, batch_size: int, started: datetime) -> int:
    """Refresh every shipment of one tenant; returns how many are fresh (since ``started``)."""
    _in_batches(tenant_id, Q(parent_links__isnull=True), batch_size)
    stale = Q(timeline_computed_at__isnull=True) | Q(timeline_computed_at__lt=started)
    _in_batches(tenant_id, stale, batch_size)
    with tenant_context(tenant_id):
        return Shipment.objects.filter(timeline_computed_at__gte=started).count()


class Command(BaseCommand):
    help = "Recompute the cached timelines of existing shipments (after a timeline rule change)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--tenant", action="append", metavar="SLUG", help="only these tenants (repeatable)"
        )
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, tenant: list[str] | None, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug__in=tenant)
            unknown = sorted(set(tenant) - set(tenants.values_list("slug", flat=True)))
            if unknown:
                raise CommandError(f"Unknown tenant(s): {', '.join(unknown)}")
        total = 0
        for pk, slug in tenants.values_list("pk", "slug"):
            started = timezone.now()
            count = refresh_tenant(pk, batch_size=batch_size, started=started)
            total += count
            self.stdout.write(f"{slug}: {count} shipments refreshed")
        self.stdout.write(self.style.SUCCESS(f"{total} shipments refreshed"))

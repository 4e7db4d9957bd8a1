"""Rebuild the lane statistics now (the beat task does it nightly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.eta.services import lane_stats_recompute
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Recompute the ETA lane statistics of one tenant (--tenant SLUG) or of all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
        for item in tenants:
            with tenant_context(item.pk):
                result = lane_stats_recompute()
            self.stdout.write(
                f"{item.slug}: {result.rows} lane statistics from {result.shipments} delivered "
                f"shipments in {result.seconds:.2f} s"
            )

"""Print the ETA accuracy report (integrations.eta.accuracy) per tenant; --csv writes it too."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.eta.accuracy import eta_accuracy, report_csv, report_text
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "ETA accuracy of delivered shipments by carrier and lane: mean absolute error of the "
        "delivery ETA as it stood 72/24/4/1 h before delivery, the share inside the window, "
        "and the template-offset baseline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument("--since", help="only shipments booked since (ISO 8601 date)")
        parser.add_argument("--csv", help="also write the report as CSV to this file")

    def handle(
        self, *args: Any, tenant: str | None, since: str | None, csv: str | None, **options: Any
    ) -> None:
        start = None
        if since:
            try:
                start = datetime.fromisoformat(since)
            except ValueError:
                raise CommandError(f"--since {since!r}: use ISO 8601, e.g. 2026-01-01") from None
            if start.tzinfo is None:
                raise CommandError("--since needs a UTC offset, e.g. 2026-01-01T00:00+00:00")
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"Unknown tenant {tenant!r}")
        chunks = []
        for item in tenants:
            with tenant_context(item.pk):
                report = eta_accuracy(since=start)
            self.stdout.write(f"\n{item.name} ({item.slug}): {report.total.deliveries} deliveries")
            self.stdout.write(report_text(report))
            chunks.append(report_csv(report))
        if csv:
            Path(csv).write_text("".join(chunks), encoding="utf-8")
            self.stdout.write(f"wrote {csv}")

"""Run every benchmark in a throwaway tenant and write the figures to a JSON file.

Benchmarks are registered in BENCHMARKS (name -> a function of the tenant returning a dict).
Each gets its own fresh tenant (deleted afterwards) and manages its own transactions: an
end-to-end benchmark must commit so that other processes (web, workers) can see its data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.benchmarks import bench_billing_hook, bench_ingest_billing
from integrations.benchmarks import bench_ingest
from integrations.eta.benchmarks import bench_eta
from integrations.exceptions.benchmarks import bench_sweep
from portal.benchmarks import bench_api, bench_scale, purge_tenant
from portal.ops.benchmarks import bench_ops_list, bench_push
from portal.routing.benchmarks import bench_routing
from shipments.benchmarks import bench_timeline
from tenancy.benchmarks import bench_rls
from tenancy.models import Tenant
from tenancy.services import tenant_create

Benchmark = Callable[[Tenant], dict]
BENCHMARKS: dict[str, Benchmark] = {
    "timeline": bench_timeline,
    "ingest": bench_ingest,
    "ingest_billing": bench_ingest_billing,
    "billing_hook": bench_billing_hook,
    "eta": bench_eta,
    "api": bench_api,
    "scale": bench_scale,
    "rls": bench_rls,
    "push": bench_push,
    "ops_list": bench_ops_list,
    "sweep": bench_sweep,
    "routing": bench_routing,
}


class Command(BaseCommand):
    help = "Run the benchmarks and write bench-results.json (one object per benchmark)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", default="bench-results.json")
        parser.add_argument("--only", action="append", help="run only these benchmarks")

    def handle(self, *args, output: str, only: list[str] | None, **options) -> None:
        names = only or list(BENCHMARKS)
        unknown = sorted(set(names) - set(BENCHMARKS))
        if unknown:
            raise CommandError(f"Unknown benchmark(s): {', '.join(unknown)}")
        results = {}
        for name in names:
            results[name] = self._run(name, BENCHMARKS[name])
            self.stdout.write(f"{name}: {json.dumps(results[name])}")
        Path(output).write_text(json.dumps(results, indent=2) + "\n")
        self.stdout.write(self.style.SUCCESS(f"wrote {output}"))

    @staticmethod
    def _run(name: str, bench: Benchmark) -> dict:
        tenant = tenant_create(slug=f"bench-{name}-{int(time.time())}", name=f"Benchmark {name}")
        try:
            return bench(tenant)
        finally:
            purge_tenant(tenant)

"""Benchmarks of the timeline: computing and reading timelines at scale.

Run through ``python manage.py bench_all`` (``make bench``); figures go to bench-results.json.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shipments.demo import DemoPlan, seed_shipments
from shipments.selectors import shipment_timeline
from shipments.services import timelines_refresh
from tenancy.context import tenant_context


def bench_timeline(tenant, *, shipments: int = 400) -> dict:
    """Seed shipments with events, then time a bulk refresh and single-shipment reads."""
    with tenant_context(tenant.pk):
        return _bench_timeline(shipments)


def _bench_timeline(shipments: int) -> dict:
    now = timezone.now()
    created = seed_shipments(
        plans=[DemoPlan("ocean_lcl", shipments // 2), DemoPlan("last_mile", shipments // 2)],
        now=now,
        seed=11,
    )
    ids = [s.pk for s in created]
    started = time.perf_counter()
    timelines_refresh(shipment_ids=ids)
    refresh_s = time.perf_counter() - started
    reads, queries = [], set()
    for shipment in created[:200]:
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            shipment_timeline(shipment=shipment, as_of=now - timedelta(hours=1))
            reads.append((time.perf_counter() - t0) * 1000)
        queries.add(len(captured.captured_queries))
    reads.sort()
    return {
        "shipments": len(ids),
        "refresh_shipments_per_s": round(len(ids) / refresh_s, 1),
        "read_ms_p50": round(statistics.median(reads), 2),
        "read_ms_p95": round(reads[int(len(reads) * 0.95) - 1], 2),
        "queries_per_read": sorted(queries),
    }

"""The ``sweep`` benchmark: the beat sweep over 1,000,000 active shipments with their pending
milestone deadlines (10 each: about 10 million rows), against the bare indexed overdue query
over the same rows in the same run (``floor_ms``).

The data set is built once per run with COPY (into session stages, then INSERT … SELECT under
the tenant's row-level security, in chunks), committed, vacuumed and analysed; the build time
is reported apart (``build_seconds``). The scenario, at the sweep's ``now``:

* 8% of the shipments have their first deadline just due: opened (minor);
* 2% have an open minor exception whose deadline passed its major time: updated;
* 2% have an open exception whose deadline is no longer due (the milestone came): resolved;
* 10% have an open exception still due at the same severity: read, left alone;
* everything else (97 of every 100 deadline rows) lies in the future.

``exceptions_changed`` = opened + updated + resolved. ``seconds`` is one sweep of the tenant
(one statement plus the announcements: outbox, live update, rule hooks).
"""

from __future__ import annotations

import io
import os
import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, connections
from django.utils import timezone

from integrations.exceptions import detection
from milestones.selectors import template_latest_version
from shipments.benchmarks import SHIPMENT_COLUMNS
from shipments.models import PUBLIC_ID_ALPHABET
from tenancy.context import tenant_context
from tenancy.models import Tenant

SHIPMENTS = int(os.environ.get("BENCH_SWEEP_SHIPMENTS", "1000000"))
DEADLINES_PER_SHIPMENT = 10
CHUNK = 20_000
CODES = (
    "picked_up",
    "departed",
    "arrived",
    "customs_cleared",
    "out_for_delivery",
    "delivered",
    "proof_of_delivery",
    "warehouse_received",
)
DEADLINE_COLUMNS = (
    "tenant_id",
    "shipment_id",
    "type",
    "milestone",
    "basis_at",
    "due_at",
    "major_at",
    "critical_at",
)
EXCEPTION_COLUMNS = (
    "tenant_id",
    "public_id",
    "type",
    "shipment_id",
    "milestone",
    "severity",
    "status",
    "opened_at",
    "updated_at",
    "details",
    "assignee_role",
    "resolution_note",
    "auto_resolved",
)
FLOOR_SQL = "SELECT count(*) FROM exceptions_deadline WHERE tenant_id = %s AND due_at <= %s"


def _copy(
    cursor: Any, table: str, columns: tuple[str, ...], text: str, returning: str = ""
) -> list[Any]:
    """COPY into a temp stage shaped like ``table``, then one INSERT under RLS (COPY itself
    is refused on a table with row-level security)."""
    stage = f"bench_sweep_{table}"
    cols = ", ".join(columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols} FROM {table} WITH NO DATA; "  # noqa: S608
        f"TRUNCATE {stage}"
    )
    cursor.cursor.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", io.StringIO(text))
    tail = f" RETURNING {returning}" if returning else ""
    cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}{tail}")  # noqa: S608
    return list(cursor.fetchall()) if returning else []


def _iso(value: datetime) -> str:
    return value.isoformat()


def _deadline_lines(tenant_id: int, ids: list[int], first: int, now: datetime) -> tuple[str, str]:
    """The deadlines of these shipments, and the exceptions that exist before the sweep."""
    deadlines: list[str] = []
    opened: list[str] = []
    rng = random.Random(first)
    future = [now + timedelta(days=k + 1, minutes=first % 997) for k in range(10)]
    far = [
        (
            _iso(t - timedelta(hours=1)),
            _iso(t),
            _iso(t + timedelta(hours=4)),
            _iso(t + timedelta(days=1)),
        )
        for t in future
    ]
    just_due = (
        _iso(now - timedelta(hours=2)),
        _iso(now - timedelta(hours=1)),
        _iso(now + timedelta(hours=3)),
        _iso(now + timedelta(days=1)),
    )
    past_major = (
        _iso(now - timedelta(hours=6)),
        _iso(now - timedelta(hours=5)),
        _iso(now - timedelta(minutes=10)),
        _iso(now + timedelta(hours=19)),
    )
    opened_at = _iso(now - timedelta(hours=4))
    for n, sid in enumerate(ids):
        bucket = (first + n) % 100
        for k in range(DEADLINES_PER_SHIPMENT):
            if k < 8:
                kind, code = "missed_milestone", CODES[k]
            elif k == 8:
                kind, code = "dark_shipment", ""
            else:
                kind, code = "long_dwell", "arrived"
            times = far[k]
            if k == 0 and (bucket < 8 or 70 <= bucket < 80):
                times = just_due
            elif k == 0 and 50 <= bucket < 52:
                times = past_major
            deadlines.append(f"{tenant_id}\t{sid}\t{kind}\t{code}\t" + "\t".join(times) + "\n")
        if 50 <= bucket < 52 or 60 <= bucket < 62 or 70 <= bucket < 80:
            public = "exc_" + "".join(rng.choices(PUBLIC_ID_ALPHABET, k=16))
            opened.append(
                f"{tenant_id}\t{public}\tmissed_milestone\t{sid}\t{CODES[0]}\tminor\topen\t"
                f"{opened_at}\t{opened_at}\t{{}}\t\t\tf\n"
            )
    return "".join(deadlines), "".join(opened)


def build(tenant: Tenant, shipments: int, now: datetime) -> float:
    started = time.perf_counter()
    with tenant_context(tenant.pk):
        version = template_latest_version(mode="road_ftl").pk
    booked = _iso(now - timedelta(days=2))
    done = 0
    rng = random.Random(13)
    while done < shipments:
        size = min(CHUNK, shipments - done)
        with tenant_context(tenant.pk), connection.cursor() as cursor:
            lines = "".join(
                f"{tenant.pk}\tshp_{''.join(rng.choices(PUBLIC_ID_ALPHABET, k=16))}\troad_ftl\t\t"
                f"Carrier {n % 40}\t\t\t\t\t\t\t{version}\t{booked}\t{booked}\t{booked}\t"
                f"in_transit\tin_transit\tarrived\t40\tf\t{{}}\n"
                for n in range(done, done + size)
            )
            rows = _copy(cursor, "shipments_shipment", SHIPMENT_COLUMNS, lines, "id")
            ids = sorted(row[0] for row in rows)
            deadlines, opened = _deadline_lines(tenant.pk, ids, done, now)
            _copy(cursor, "exceptions_deadline", DEADLINE_COLUMNS, deadlines)
            if opened:
                _copy(cursor, "exceptions_shipmentexception", EXCEPTION_COLUMNS, opened)
        done += size
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) shipments_shipment, exceptions_deadline, exceptions_shipmentexception"
        )
        _checkpoint(cursor)
    return time.perf_counter() - started


def _checkpoint(cursor) -> None:
    """Flush the build's dirty pages now, as part of the build: otherwise the checkpoint its
    gigabytes of WAL started is still writing during the sweep (and every page the sweep then
    touches first costs a full-page image). Needs pg_checkpoint (granted to the owner role by
    scripts/lib.sh); without it the sweep is measured in whatever state the server is."""
    try:
        cursor.execute("CHECKPOINT")  # the owner connection autocommits: nothing left aborted
    except DatabaseError as error:
        print(f"sweep bench: no CHECKPOINT ({error})", flush=True)


def floor_ms(tenant: Tenant, now: datetime, repeats: int = 5) -> tuple[float, int]:
    """The bare indexed overdue query (best of ``repeats``) and what it counts."""
    best, count = float("inf"), 0
    for _ in range(repeats):
        with tenant_context(tenant.pk), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(FLOOR_SQL, [tenant.pk, now])
            (count,) = cursor.fetchone()
            best = min(best, (time.perf_counter() - started) * 1000)
    return best, count


def bench_sweep(tenant: Tenant, *, shipments: int | None = None) -> dict[str, Any]:
    shipments = shipments or SHIPMENTS
    now = timezone.now()
    build_seconds = build(tenant, shipments, now)
    floor, overdue = floor_ms(tenant, now)
    # The machine's state when the sweep starts: figures from a loaded 2-core box say so.
    load = os.getloadavg()[0]
    started = time.perf_counter()
    # What detection.sweep does for each tenant (for_each_tenant), for the one tenant here.
    with tenant_context(tenant.pk):
        changes = detection.sweep_tenant(now=now)
    seconds = time.perf_counter() - started
    kinds = {
        kind: sum(1 for c in changes if c.kind == kind)
        for kind in ("opened", "updated", "resolved")
    }
    with tenant_context(tenant.pk), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM exceptions_deadline WHERE tenant_id = %s", [tenant.pk])
        (rows,) = cursor.fetchone()
    result = {
        "seconds": round(seconds, 2),
        "shipments": shipments,
        "deadline_rows": rows,
        "overdue_rows": overdue,
        "exceptions_changed": len(changes),
        **kinds,
        "floor_ms": round(floor, 1),
        "build_seconds": round(build_seconds, 1),
        "load_average_1m": round(load, 1),
    }
    # Said before bench_all purges the tenant (deleting 11M rows takes a while).
    print(f"sweep (before the purge): {result}", flush=True)
    return result

"""Writes of the ETA: rebuilding the lane statistics, set-based, in one statement per tenant.

Transits come from the cached timeline summaries of delivered shipments (their actuals as
the engine resolved them: corrections applied, future actuals ignored) booked within
ETA_HISTORY_DAYS: every pair of reached progress milestones (and booking -> each), grouped by
lane with this carrier and with all carriers (GROUPING SETS), reduced to quantiles by
PostgreSQL (percentile_cont). No Python loop over shipments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tenancy.context import current_tenant_id

RECOMPUTE_SQL = """
WITH done AS (
    SELECT s.id, s.mode, s.carrier, s.origin_locode AS o, s.destination_locode AS d,
           s.booked_at, s.timeline
    FROM shipments_shipment s
    WHERE s.tenant_id = %(tenant)s AND s.status = 'delivered' AND s.booked_at >= %(since)s
), acts AS (
    SELECT done.id, done.mode, done.carrier, done.o, done.d, r->>'code' AS code,
           (r->>'sequence')::int AS seq, (r->'actual'->>'at')::timestamptz AS at
    FROM done CROSS JOIN LATERAL jsonb_array_elements(done.timeline->'rows') AS r
    WHERE r->>'kind' = 'progress' AND jsonb_typeof(r->'actual') = 'object'
    UNION ALL
    SELECT done.id, done.mode, done.carrier, done.o, done.d, 'booking', -1, done.booked_at
    FROM done
), pairs AS (
    SELECT a.mode, a.carrier, a.o, a.d, a.code AS from_code, b.code AS to_code,
           extract(epoch FROM b.at - a.at)::float8 AS secs
    FROM acts a JOIN acts b ON b.id = a.id AND b.seq > a.seq AND b.at >= a.at
)
INSERT INTO eta_lanestat (tenant_id, mode, carrier, origin_locode, destination_locode,
    from_milestone, to_milestone, samples, p05_s, p25_s, p50_s, p75_s, p95_s, computed_at)
SELECT %(tenant)s, mode, CASE WHEN GROUPING(carrier) = 1 THEN '*' ELSE carrier END, o, d,
       from_code, to_code, count(*),
       percentile_cont(0.05) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.25) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.75) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY secs),
       %(now)s
FROM pairs
GROUP BY GROUPING SETS ((mode, carrier, o, d, from_code, to_code), (mode, o, d, from_code, to_code))
"""


@dataclass(frozen=True)
class LaneStatsResult:
    rows: int
    shipments: int
    seconds: float


def lane_stats_recompute(*, now: datetime | None = None) -> LaneStatsResult:
    """Replace the current tenant's lane statistics (one DELETE, one INSERT … SELECT)."""
    started = timezone.now()
    now = now or started
    tenant_id = current_tenant_id()
    since = now - timedelta(days=settings.ETA_HISTORY_DAYS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM eta_lanestat WHERE tenant_id = %s", [tenant_id])
        cursor.execute(RECOMPUTE_SQL, {"tenant": tenant_id, "since": since, "now": now})
        rows = cursor.rowcount
        cursor.execute(
            "SELECT count(*) FROM shipments_shipment WHERE tenant_id = %s "
            "AND status = 'delivered' AND booked_at >= %s",
            [tenant_id, since],
        )
        shipments = int(cursor.fetchone()[0])
    seconds = (timezone.now() - started).total_seconds()
    return LaneStatsResult(rows=rows, shipments=shipments, seconds=seconds)

"""Exception detection: on every applied event batch (``detect_for_shipments``, the timeline
hook) and by the beat sweep (``sweep``), set-based SQL only.

Two kinds of cause:

* time-driven (missed milestone, delayed departure, customs hold too long, long dwell, dark
  shipment): a change of the timeline rewrites the shipment's ``Deadline`` rows (one
  DELETE + INSERT … SELECT for the whole batch, thresholds joined in); an exception is due
  once ``due_at`` has passed, whether the batch or the sweep notices first. The sweep reads
  only the due range of the deadline index, never the timelines.
* data-driven (sequence violation, cascade from a parent, predicted late): read from the
  batch's cached timelines (and the ETA selectors) by the hook only; route deviation and stale
  feeds from positions and inbound messages by the sweep only.

Applying a set of current conditions is one statement: upsert into the partial unique index
(one unresolved exception per shipment + type + milestone + integration; re-detection updates
severity, never duplicates), auto-resolve every unresolved exception in scope whose condition
is gone, and the audit rows of both. Opened and resolved exceptions then go to the outbox
(``exception.opened`` / ``exception.resolved``), to the live feed after commit, and to the
hooks (the workflow rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone

from integrations.exceptions import thresholds
from integrations.exceptions.models import ExceptionType, Severity
from tenancy.context import current_tenant_id, for_each_tenant
from tenancy.realtime import publish_on_commit

T = ExceptionType
ENDED = ("delivered", "cancelled", "returned")
MOVING = ("in_transit", "out_for_delivery")
DWELL_CODES = ("arrived", "warehouse_received")
DEADLINE_TYPES = (
    T.MISSED_MILESTONE,
    T.DELAYED_DEPARTURE,
    T.CUSTOMS_HOLD,
    T.LONG_DWELL,
    T.DARK_SHIPMENT,
)
HOOK_TYPES = (*DEADLINE_TYPES, T.SEQUENCE_VIOLATION, T.CASCADE, T.PREDICTED_LATE)
SWEEP_TYPES = (*DEADLINE_TYPES, T.ROUTE_DEVIATION, T.STALE_FEED)
AUTO_NOTE = "Resolved automatically: the cause went away."
BULK_WORK_MEM = "128MB"


class Change(NamedTuple):
    # A tuple, not a dataclass: a million-shipment sweep makes 120,000 of them.
    kind: str  # "opened" | "updated" | "resolved"
    id: int
    public_id: str
    type: str
    shipment_id: int | None
    milestone: str
    severity: str


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


ExceptionsChanged = Callable[[int, list[Change]], None]
_changed_hooks: list[ExceptionsChanged] = []


def on_exceptions_changed(hook: ExceptionsChanged) -> ExceptionsChanged:
    """Called with (tenant_id, changes) in the changing transaction (the workflow rules)."""
    if hook not in _changed_hooks:
        _changed_hooks.append(hook)
    return hook


# --- the batch: deadlines rewritten and conditions applied in one statement --------------------

# The CTEs of a batch (%(ids)s): its active shipments, their timeline rows, each pending
# time-driven cause with its basis, scored with the most specific threshold (customer account >
# milestone > template > tenant > code default), then the deadline rows ("dl"), written over
# the shipments' old ones. Every table is named with its tenant so each lookup is one index
# probe (the planner can not see row counts through the CTEs; it is told nothing to guess).
BATCH_CTES = """
s AS MATERIALIZED (
    SELECT s.id, s.mode, s.status, s.customer_account_id, s.promised_at, s.created_at,
           s.template_version_id, s.timeline
    FROM shipments_shipment s
    WHERE s.tenant_id = %(tenant)s AND s.id = ANY(%(ids)s) AND s.status <> ALL(%(ended)s)
),
md AS MATERIALIZED (
    SELECT md.version_id, md.code, md.tolerance, tv.template_id
    FROM milestones_milestonedefinition md
    JOIN milestones_templateversion tv ON tv.id = md.version_id AND tv.tenant_id = %(tenant)s
    WHERE md.tenant_id = %(tenant)s AND md.required AND md.kind = 'progress'
      AND md.version_id IN (SELECT DISTINCT template_version_id FROM s)
),
r AS MATERIALIZED (
    SELECT s.id AS shipment_id, s.template_version_id AS version_id, s.status,
           x->>'code' AS code, (x->>'sequence')::int AS seq, x->>'kind' AS kind,
           (x->>'planned')::timestamptz AS planned,
           (x->'actual'->>'at')::timestamptz AS actual_at,
           x->>'gap' = 'true' AS gap, x->>'out_of_sequence' = 'true' AS inverted
    FROM s CROSS JOIN LATERAL jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) x
),
pending AS (
    -- The next expected milestone only: later ones follow from it (and are rewritten the
    -- moment it arrives), so one late pickup is one exception, not five.
    SELECT DISTINCT ON (r.shipment_id) r.shipment_id, r.code, r.planned + md.tolerance AS basis
    FROM r JOIN md ON md.version_id = r.version_id AND md.code = r.code
    WHERE r.actual_at IS NULL AND NOT r.gap
    ORDER BY r.shipment_id, r.seq
),
furthest AS (
    SELECT DISTINCT ON (shipment_id) shipment_id, code, actual_at, status
    FROM r WHERE actual_at IS NOT NULL AND kind = 'progress'
    ORDER BY shipment_id, seq DESC
),
cause AS MATERIALIZED (
    SELECT shipment_id, CASE WHEN code = 'departed' THEN %(delayed)s ELSE %(missed)s END AS type,
           code AS milestone, basis
    FROM pending WHERE basis IS NOT NULL
    UNION ALL
    SELECT shipment_id, %(customs)s, code, actual_at
    FROM r WHERE code = 'customs_hold' AND actual_at IS NOT NULL AND status = 'at_customs'
    UNION ALL
    SELECT shipment_id, %(dwell)s, code, actual_at
    FROM furthest WHERE code = ANY(%(dwell_codes)s) AND status = 'in_transit'
    UNION ALL
    SELECT s.id, %(dark)s, '', GREATEST(
        s.created_at,
        (SELECT max(e.recorded_at) FROM shipments_trackingevent e
          WHERE e.tenant_id = %(tenant)s AND e.shipment_id = s.id),
        (SELECT p.at FROM integrations_latestposition p
          WHERE p.tenant_id = %(tenant)s AND p.subject_kind = 'shipment'
            AND p.subject = s.id::text))
    FROM s WHERE s.status = ANY(%(moving)s)
),
scored AS (
    SELECT c.shipment_id, c.type, c.milestone, c.basis, s.promised_at,
           c.basis + make_interval(mins => COALESCE(t.after_minutes, dm.a, d0.a)) AS due,
           COALESCE(t.major_minutes, dm.m, d0.m) AS m,
           COALESCE(t.critical_minutes, dm.c, d0.c) AS c
    FROM cause c JOIN s ON s.id = c.shipment_id
    LEFT JOIN {defaults_m} ON dm.type = c.type AND dm.mode = s.mode
    LEFT JOIN {defaults_0} ON d0.type = c.type AND d0.mode = ''
    LEFT JOIN LATERAL (
        SELECT t.after_minutes, t.major_minutes, t.critical_minutes
        FROM exceptions_exceptionthreshold t
        WHERE t.tenant_id = %(tenant)s AND t.type = c.type
          AND (t.template_id IS NULL OR t.template_id = (
                SELECT template_id FROM md WHERE md.version_id = s.template_version_id LIMIT 1))
          AND (t.milestone = '' OR t.milestone = c.milestone)
          AND (t.customer_account_id IS NULL OR t.customer_account_id = s.customer_account_id)
        ORDER BY (t.customer_account_id IS NOT NULL) DESC, (t.milestone <> '') DESC,
                 (t.template_id IS NOT NULL) DESC
        LIMIT 1
    ) t ON TRUE
),
dl AS MATERIALIZED (
    SELECT shipment_id, type, milestone, basis, due,
           GREATEST(due, LEAST(basis + make_interval(mins => m),
                               promised_at - %(promise_major)s)) AS major_at,
           GREATEST(due, LEAST(basis + make_interval(mins => c),
                               promised_at - %(promise_critical)s)) AS critical_at
    FROM scored
),
gone AS (
    DELETE FROM exceptions_deadline
    WHERE tenant_id = %(tenant)s AND shipment_id = ANY(%(ids)s)
),
written AS (
    INSERT INTO exceptions_deadline
        (tenant_id, shipment_id, type, milestone, basis_at, due_at, major_at, critical_at)
    SELECT %(tenant)s, shipment_id, type, milestone, basis, due, major_at, critical_at FROM dl
),
"""

# The batch's conditions now: due deadlines, sequence violations, cascades from parents, and
# the predicted-late shipments computed in Python (a second, small statement; see below).
BATCH_CONDITIONS = """
SELECT shipment_id, NULL::bigint AS integration_id, type, milestone,
       CASE WHEN critical_at <= %(now)s THEN 'critical'
            WHEN major_at <= %(now)s THEN 'major' ELSE 'minor' END AS severity,
       NULL::jsonb AS details, basis AS since, due
FROM dl WHERE due <= %(now)s
UNION ALL
SELECT shipment_id, NULL::bigint, %(sequence)s, code, 'minor',
       jsonb_build_object('milestone', code), NULL, NULL
FROM r WHERE inverted
UNION ALL
SELECT id, NULL::bigint, %(cascade)s, '', 'major',
       jsonb_build_object('waiting_on', timeline->'waiting_on'), NULL, NULL
FROM s WHERE jsonb_array_length(COALESCE(timeline->'waiting_on', '[]'::jsonb)) > 0
"""

PREDICTED_CONDITIONS = """
SELECT l.shipment_id, NULL::bigint AS integration_id, %(predicted)s AS type,
       'delivered' AS milestone, l.severity, l.details::jsonb AS details,
       NULL::timestamptz AS since, NULL::timestamptz AS due
FROM unnest(%(late_ids)s::bigint[], %(late_sev)s::text[], %(late_details)s::text[])
     AS l(shipment_id, severity, details)
"""

# Applying a set of conditions ("cond") to the unresolved exceptions in scope ("cur"): open
# what is new, update what changed severity, resolve what is gone, audit all three. {extra}
# adds rows to the result (the batch: which of its shipments have a promise, for the ETA).
# A condition's columns: shipment_id, integration_id, type, milestone, severity, details,
# since, due. A deadline's details are built from since/due only for the rows written (most
# due deadlines of a sweep are open already at the same severity: read, left alone).
APPLY = """
WITH {ctes}
cond AS MATERIALIZED ({conditions}),
cur AS MATERIALIZED (
    SELECT id, type, shipment_id, integration_id, milestone, severity
    FROM exceptions_shipmentexception x
    WHERE x.tenant_id = %(tenant)s AND x.status <> 'resolved' AND x.type = ANY(%(types)s)
      {scope}
),
j AS MATERIALIZED (
    SELECT c.*, cur.id AS cur_id, cur.severity AS cur_severity
    FROM cond c LEFT JOIN cur
      ON cur.type = c.type AND cur.milestone = c.milestone
     AND COALESCE(cur.shipment_id, 0) = COALESCE(c.shipment_id, 0)
     AND COALESCE(cur.integration_id, 0) = COALESCE(c.integration_id, 0)
),
opened AS (
    -- New causes only; ON CONFLICT (the partial unique index) settles a concurrent opener.
    -- Naming that index as the one arbiter spares a probe of the other two unique indexes per
    -- row (and a public id collision is an error, not an exception silently not opened).
    INSERT INTO exceptions_shipmentexception AS x
        (tenant_id, public_id, type, shipment_id, integration_id, milestone, severity, status,
         opened_at, updated_at, details, assignee_role, resolution_note, auto_resolved)
    SELECT %(tenant)s,
           'exc_' || substr(md5(random()::text || clock_timestamp()::text
                               || COALESCE(j.shipment_id, j.integration_id)::text), 1, 16),
           j.type, j.shipment_id, j.integration_id, j.milestone, j.severity, 'open',
           %(now)s, %(now)s,
           COALESCE(j.details, jsonb_build_object('since', j.since, 'due_at', j.due)),
           '', '', false
    FROM j WHERE j.cur_id IS NULL
    ON CONFLICT (tenant_id, shipment_id, type, milestone, integration_id)
        WHERE NOT status = 'resolved' DO NOTHING
    RETURNING x.id, x.public_id, x.type, x.shipment_id, x.milestone, x.severity
),
-- The rows to change are named by id (= ANY(ARRAY(…))): an index probe each, whatever
-- join method the planner picks for the rest.
updated AS (
    UPDATE exceptions_shipmentexception x
    SET severity = j.severity, updated_at = %(now)s,
        details = COALESCE(j.details, jsonb_build_object('since', j.since, 'due_at', j.due))
    FROM j
    WHERE x.id = ANY(ARRAY(SELECT cur_id FROM j WHERE cur_severity <> severity))
      AND x.id = j.cur_id
    RETURNING x.id, x.public_id, x.type, x.shipment_id, x.milestone, x.severity
),
resolved AS (
    UPDATE exceptions_shipmentexception x
    SET status = 'resolved', resolved_at = %(now)s, updated_at = %(now)s,
        auto_resolved = true, resolution_note = %(note)s
    WHERE x.id = ANY(ARRAY(
        SELECT cur.id FROM cur LEFT JOIN j ON j.cur_id = cur.id WHERE j.cur_id IS NULL))
    RETURNING x.id, x.public_id, x.type, x.shipment_id, x.milestone, x.severity
),
changes AS (
    SELECT 'opened' AS kind, * FROM opened
    UNION ALL SELECT 'updated', * FROM updated
    UNION ALL SELECT 'resolved', * FROM resolved
),
audit AS (
    INSERT INTO tenancy_auditlog (tenant_id, at, action, target_type, target_id, changes, reason)
    SELECT %(tenant)s, %(now)s, 'exception.' || kind, 'exception', public_id,
           jsonb_build_object('type', type, 'severity', severity, 'milestone', milestone,
                              'shipment', shipment_id, 'auto', true),
           ''
    FROM changes
)
SELECT kind, id, public_id, type, shipment_id, milestone, severity FROM changes
{extra}
"""

PROMISED_EXTRA = """
UNION ALL
SELECT 'promised', NULL, NULL, NULL, id, NULL, NULL FROM s WHERE promised_at IS NOT NULL
UNION ALL
SELECT 'promised', NULL, NULL, NULL, shipment_id, NULL, NULL FROM exceptions_shipmentexception
WHERE tenant_id = %(tenant)s AND shipment_id = ANY(%(ids)s) AND type = %(predicted)s
  AND status <> 'resolved'
"""


def _named(sql: str, named: dict[str, Any], positional: list[object]) -> tuple[str, list[Any]]:
    """Psycopg takes one parameter style: turn %(name)s and %s into %s in order."""
    out: list[Any] = []
    pos = iter(positional)

    def sub(match: re.Match[str]) -> str:
        out.append(next(pos) if match.group(1) is None else named[match.group(1)])
        return "%s"

    return re.sub(r"%(?:\((\w+)\))?s", sub, sql), out


def _batch_ctes() -> tuple[str, list[object]]:
    values, params = thresholds.defaults_values_sql()
    # One VALUES list joined twice: mode-specific, then every mode.
    sql = BATCH_CTES.format(
        defaults_m=values.replace("AS dft", "AS dm"),
        defaults_0=values.replace("AS dft", "AS d0"),
    )
    return sql, params * 2


def _apply(
    *,
    conditions: str,
    params: dict[str, Any],
    types: Sequence[str],
    scope: str = "",
    ctes: str = "",
    positional: Sequence[object] = (),
    extra: str = "",
    now: datetime,
    bulk: bool = False,
) -> tuple[list[Change], list[int]]:
    """Apply the conditions; returns the changes and the ids of the 'promised' extra rows."""
    sql = APPLY.format(ctes=ctes, conditions=conditions, scope=scope, extra=extra)
    named = {
        **params,
        "tenant": current_tenant_id(),
        "now": now,
        "note": AUTO_NOTE,
        "types": [str(t) for t in types],
    }
    sql, values = _named(sql, named, list(positional))
    with connection.cursor() as cursor:
        if bulk:
            # Row-level security's planner estimates take every tenant for 1/200 of a table
            # (tenancy.rls), so a sweep's thousands of conditions look like a hundred, and a
            # nested loop over two CTEs of that size is quadratic (70 s once, measured); at a
            # million shipments the same estimates chose a merge join, sorting 200,000 due rows
            # and 140,000 open ones on their text keys (15% of the sweep, measured): hash joins
            # only. The CTEs of such a sweep do not fit the default 4 MB: sorted and
            # materialised on disk otherwise.
            cursor.execute(
                "SELECT current_setting('work_mem'), set_config('enable_nestloop', 'off', true),"
                " set_config('enable_mergejoin', 'off', true), set_config('work_mem', %s, true)",
                [BULK_WORK_MEM],
            )
            (work_mem, *_) = cursor.fetchone()
        cursor.execute(sql, values)
        rows = cursor.fetchall()
        if bulk:
            cursor.execute(
                "SELECT set_config('enable_nestloop', 'on', true),"
                " set_config('enable_mergejoin', 'on', true), set_config('work_mem', %s, true)",
                [work_mem],
            )
    changes = [Change(*row) for row in rows if row[0] != "promised"]
    return changes, sorted({row[4] for row in rows if row[0] == "promised"})


def _params(tenant_id: int) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "ended": list(ENDED),
        "moving": list(MOVING),
        "dwell_codes": list(DWELL_CODES),
        "missed": str(T.MISSED_MILESTONE),
        "delayed": str(T.DELAYED_DEPARTURE),
        "customs": str(T.CUSTOMS_HOLD),
        "dwell": str(T.LONG_DWELL),
        "dark": str(T.DARK_SHIPMENT),
        "sequence": str(T.SEQUENCE_VIOLATION),
        "cascade": str(T.CASCADE),
        "predicted": str(T.PREDICTED_LATE),
        "promise_major": thresholds.PROMISE_MAJOR,
        "promise_critical": thresholds.PROMISE_CRITICAL,
    }


def _predicted_late(promised: list[int], now: datetime) -> list[tuple[int, str, str]]:
    """Of these promised shipments, those whose delivery ETA (integrations.eta) is beyond the
    promise by more than the threshold: (shipment, severity, details JSON)."""
    from integrations.eta.selectors import predicted_delivery

    limit = thresholds.tenant_threshold(T.PREDICTED_LATE)
    found = []
    for shipment_id, p in predicted_delivery(promised, now=now).items():
        minutes = p.predicted_late_minutes
        if minutes is None or minutes <= limit.after or p.source == "actual":
            continue
        severity = (
            Severity.CRITICAL
            if minutes >= limit.critical
            else Severity.MAJOR
            if minutes >= limit.major
            else Severity.MINOR
        )
        details = {
            "predicted_late_minutes": minutes,
            "likely": p.likely.isoformat() if p.likely else None,
            "source": p.source,
        }
        found.append((shipment_id, str(severity), orjson.dumps(details).decode()))
    return found


def detect_for_shipments(shipment_ids: Sequence[int], *, now: datetime | None = None) -> Outcome:
    """Re-detect the exceptions of these shipments (the current tenant's), in the caller's
    transaction: one statement for any batch size; with promised shipments among them, the
    ETA read (two queries) and one more statement; the outbox's query when any opened or
    resolved."""
    ids = sorted(set(shipment_ids))
    if not ids:
        return Outcome()
    now = now or timezone.now()
    tenant_id = current_tenant_id()
    ctes, positional = _batch_ctes()
    params = _params(tenant_id) | {"ids": ids}
    batch_types = [t for t in HOOK_TYPES if t != T.PREDICTED_LATE]
    changes, promised = _apply(
        ctes=ctes,
        positional=positional,
        conditions=BATCH_CONDITIONS,
        params=params,
        types=batch_types,
        scope="AND x.shipment_id = ANY(%(ids)s)",
        extra=PROMISED_EXTRA,
        now=now,
    )
    # Predicted late: the batch's promised shipments (and those with one open, which may
    # have ended or lost the promise) need the ETA; nothing else does.
    if promised:
        late = _predicted_late(promised, now)
        more, _ = _apply(
            conditions=PREDICTED_CONDITIONS,
            params=params
            | {
                "late_ids": [x[0] for x in late],
                "late_sev": [x[1] for x in late],
                "late_details": [x[2] for x in late],
                "promised": promised,
            },
            types=[T.PREDICTED_LATE],
            scope="AND x.shipment_id = ANY(%(promised)s)",
            now=now,
        )
        changes += more
    announce(tenant_id, changes)
    return Outcome(changes)


def on_timeline_changed(shipment_ids: list[int]) -> None:
    if settings.EXCEPTIONS_DETECT_ON_INGEST:
        detect_for_shipments(shipment_ids)


# --- the sweep --------------------------------------------------------------------------------

DUE_CONDITIONS = """
SELECT d.shipment_id, NULL::bigint AS integration_id, d.type, d.milestone,
       CASE WHEN d.critical_at <= %(now)s THEN 'critical'
            WHEN d.major_at <= %(now)s THEN 'major' ELSE 'minor' END AS severity,
       NULL::jsonb AS details, d.basis_at AS since, d.due_at AS due
FROM exceptions_deadline d
WHERE d.tenant_id = %(tenant)s AND d.due_at <= %(now)s
"""

# Route deviation: each active shipment's latest position (the newer of its own and, on a
# planned corridor, its vehicle's) against the legs of its newest corridor (the nearest leg
# counts), else against its origin→destination great circle. milepost_segment_km (migration
# exceptions 0003) is the distance from a point to a great-circle segment; a shipment without
# coordinates for the line measures NULL and stays out.
ROUTE_CONDITIONS = """
SELECT id AS shipment_id, NULL::bigint AS integration_id, %(route)s AS type, '' AS milestone,
       CASE WHEN km >= %(route_critical)s THEN 'critical'
            WHEN km >= %(route_major)s THEN 'major' ELSE 'minor' END AS severity,
       jsonb_build_object('km_off_route', round(km::numeric, 1),
                          'against', CASE WHEN corridor_id IS NULL THEN 'origin_destination'
                                          ELSE 'planned_corridor' END) AS details,
       NULL::timestamptz AS since, NULL::timestamptz AS due
FROM (
    SELECT s.id, oc.corridor_id, CASE
        WHEN oc.corridor_id IS NULL THEN milepost_segment_km(
            s.origin_lat, s.origin_lon, s.destination_lat, s.destination_lon, pos.lat, pos.lon)
        ELSE (SELECT min(milepost_segment_km(a.lat, a.lon, b.lat, b.lon, pos.lat, pos.lon))
              FROM exceptions_corridorpoint a
              JOIN exceptions_corridorpoint b
                ON b.corridor_id = a.corridor_id AND b.sequence = a.sequence + 1
               AND b.tenant_id = %(tenant)s
              WHERE a.tenant_id = %(tenant)s AND a.corridor_id = oc.corridor_id)
        END AS km
    FROM (
        SELECT p.shipment_id AS id FROM integrations_latestposition p
        WHERE p.tenant_id = %(tenant)s AND p.subject_kind = 'shipment'
        UNION
        SELECT cp.shipment_id FROM exceptions_corridorpoint cp
        WHERE cp.tenant_id = %(tenant)s AND cp.shipment_id IS NOT NULL
    ) ids
    JOIN shipments_shipment s ON s.id = ids.id AND s.tenant_id = %(tenant)s
    LEFT JOIN LATERAL (
        -- A shipment on several corridors (a pickup run, then a delivery run) follows the
        -- one planned last.
        SELECT c.id AS corridor_id, c.vehicle_ref
        FROM exceptions_corridorpoint cp
        JOIN exceptions_plannedcorridor c ON c.id = cp.corridor_id AND c.tenant_id = %(tenant)s
        WHERE cp.tenant_id = %(tenant)s AND cp.shipment_id = s.id
        ORDER BY c.planned_at DESC, c.id DESC
        LIMIT 1
    ) oc ON TRUE
    CROSS JOIN LATERAL (
        SELECT p.lat, p.lon FROM integrations_latestposition p
        WHERE p.tenant_id = %(tenant)s
          AND ((p.subject_kind = 'shipment' AND p.subject = s.id::text)
               OR (p.subject_kind = 'vehicle' AND p.subject = oc.vehicle_ref
                   AND oc.vehicle_ref <> ''))
        ORDER BY p.at DESC
        LIMIT 1
    ) pos
    WHERE s.status <> ALL(%(ended)s)
) AS off
WHERE km > %(route_after)s
"""

STALE_FEED_CONDITIONS = """
SELECT NULL::bigint, i.id, %(stale)s, '',
       CASE WHEN m.last <= %(now)s - %(stale_critical)s THEN 'critical'
            WHEN m.last <= %(now)s - %(stale_major)s THEN 'major' ELSE 'minor' END,
       jsonb_build_object('last_message_at', m.last, 'integration', i.name), NULL, NULL
FROM integrations_integration i
CROSS JOIN LATERAL (
    SELECT max(received_at) AS last FROM integrations_inboundmessage
    WHERE integration_id = i.id) m
WHERE i.is_active AND m.last IS NOT NULL AND m.last <= %(now)s - %(stale_after)s
"""


def sweep_tenant(*, now: datetime | None = None) -> list[Change]:
    """One tenant's sweep (in its context): due deadlines, route deviations and stale feeds,
    opened / updated / resolved in two statements."""
    from datetime import timedelta

    now = now or timezone.now()
    route = thresholds.tenant_threshold(T.ROUTE_DEVIATION)
    stale = thresholds.tenant_threshold(T.STALE_FEED)
    params = {
        "ended": list(ENDED),
        "route": str(T.ROUTE_DEVIATION),
        "route_after": float(route.after),
        "route_major": float(route.major),
        "route_critical": float(route.critical),
        "stale": str(T.STALE_FEED),
        "stale_after": timedelta(minutes=stale.after),
        "stale_major": timedelta(minutes=stale.major),
        "stale_critical": timedelta(minutes=stale.critical),
    }
    # The sweep is idempotent (the next one opens, updates and resolves the same from the
    # same rows), so its commit need not wait for the WAL flush: a crash loses at most the
    # last sweep's whole transaction (exceptions, audit and outbox rows together), redone a
    # minute later. Saves the wait for the tail of a large sweep's WAL.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
    # Two statements: the due deadlines (the bulk, planned without nested loops), then the
    # positions and feeds (a handful of rows, where nested loops over indexes are right).
    changes, _ = _apply(
        conditions=DUE_CONDITIONS, params=params, types=DEADLINE_TYPES, now=now, bulk=True
    )
    more, _ = _apply(
        conditions=ROUTE_CONDITIONS + " UNION ALL " + STALE_FEED_CONDITIONS,
        params=params,
        types=[T.ROUTE_DEVIATION, T.STALE_FEED],
        now=now,
    )
    changes += more
    announce(current_tenant_id(), changes)
    return changes


def sweep(*, tenant_ids: Sequence[int] | None = None, now: datetime | None = None) -> int:
    """Every tenant's sweep, each in its own context (tenancy.context.for_each_tenant);
    returns the number of exceptions opened, updated or resolved."""
    from tenancy.models import Tenant

    ids = (
        list(tenant_ids)
        if tenant_ids is not None
        else list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    )
    results = for_each_tenant(ids, lambda _tenant_id: len(sweep_tenant(now=now)))
    return sum(int(v) for v in results.values())  # type: ignore[call-overload]


# --- telling others ---------------------------------------------------------------------------


def announce(tenant_id: int, changes: list[Change]) -> None:
    """Outbox events, a live update after commit and the hooks, for what opened or resolved
    (a severity update is audited and shown, not announced)."""
    told = [c for c in changes if c.kind in ("opened", "resolved")]
    if not told:
        return
    from integrations.subscriptions.models import EventType
    from integrations.subscriptions.outbox import OutboxItem, outbox_record

    event = {"opened": EventType.EXCEPTION_OPENED, "resolved": EventType.EXCEPTION_RESOLVED}
    outbox_record(
        items=[
            OutboxItem(
                event_type=str(event[c.kind]),
                data={
                    "exception": {
                        "id": c.public_id,
                        "type": c.type,
                        "milestone": c.milestone or None,
                        "severity": c.severity,
                        "status": "resolved" if c.kind == "resolved" else "open",
                    }
                },
                shipment_id=c.shipment_id,
                key=f"{event[c.kind]}:{c.id}",
            )
            for c in told
        ]
    )
    publish_on_commit(
        tenant_id=tenant_id,
        payload={
            "type": "exceptions.changed",
            "opened": [c.public_id for c in told if c.kind == "opened"][:200],
            "resolved": [c.public_id for c in told if c.kind == "resolved"][:200],
        },
    )
    for hook in list(_changed_hooks):
        hook(tenant_id, told)

"""Charges from timelines: subscribed to ``shipments.hooks.on_timeline_changed``.

Set-based per batch, whatever its size (ingestion runs batches of thousands of shipments):

* the tenant has no active charge rule: one query, nothing else;
* otherwise three: the rules (with the tenant); **one query for the shipments the
  evaluation must see** — charged before (a charge may need a credit or a re-issue) or
  concerned by a dwell or per kg/container/stop rule, and then only where a rule's milestone
  is actual without its charge, or a live charge no longer matches (``DUE_SQL``) — with the
  actuals the rules need (and their measures when a rule needs them); and **one INSERT …
  SELECT … ON CONFLICT DO NOTHING** that finds every other shipment whose plain rules'
  milestones became actual (once per shipment, per-shipment basis: the common case, e.g.
  "delivered") and writes their charges in the database, no row through Python
  (``FIRST_CHARGES_SQL``). Only when the evaluation has work: its rows by one COPY and one
  ``INSERT … ON CONFLICT DO NOTHING``, and, for shipments charged before, their charges and
  one UPDATE marking the reversed ones.

For each shipment and rule the charges that should exist are computed (billing.rating) and
compared with the live ones, keyed by period: a missing one is created; one no longer due
(the milestone was voided) gets a credit line; one whose amount or time changed (a
correction) gets a credit line and a re-issued charge. Replays and re-ingestion compute the
same charges, so nothing is written twice: the unique idempotency key and
``charge_live_uniq`` hold under races too, where ``ON CONFLICT DO NOTHING`` skips the row
another transaction wrote first.

The shipments the query leaves out are exactly those the evaluation would leave unchanged
(``DUE_SQL``); ``charges_evaluate(..., only_due=False)`` evaluates every shipment given,
and tests/billing/test_charging_due.py shows the two agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.db import connection
from django.utils import timezone

from billing import rating
from billing.models import (
    Basis,
    Charge,
    ChargeKind,
    ChargeLine,
    ChargeRule,
    ChargeStatus,
    Direction,
    Trigger,
)
from billing.money import round_money
from shipments.bulk import Stage
from shipments.zones import zone_for_locode
from tenancy.context import current_tenant_id

MEASURE_COLUMNS = """m.weight_kg, m.containers, m.stops,
       (SELECT count(*) FROM shipments_shipmentreference ref
        WHERE ref.shipment_id = s.id AND ref.kind = 'container'),
       (SELECT count(*) FROM shipments_leg leg WHERE leg.shipment_id = s.id)"""
NO_MEASURES = "NULL, NULL, NULL, 0, 0"
FACTS_SQL = """
SELECT s.id, s.mode, s.service, s.carrier, s.customer_account_id, s.origin_locode,
       s.destination_locode,
       COALESCE((
           SELECT jsonb_object_agg(r->>'code', r->'actual')
           FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) AS r
           WHERE r->>'code' = ANY(%(codes)s) AND jsonb_typeof(r->'actual') = 'object'
       ), '{{}}'::jsonb)::text,
       EXISTS (SELECT 1 FROM billing_charge AS c
               WHERE c.tenant_id = s.tenant_id AND c.shipment_id = s.id
                 AND c.kind = 'charge'),
       {measures}
FROM shipments_shipment AS s
{join}
WHERE s.tenant_id = %(tenant)s AND s.id = ANY(%(ids)s)
{due}
"""
# The shipments some rule has work for (see the module docstring), other than those the fast
# path (FIRST_CHARGES_SQL) takes: never charged, concerned by plain rules only. A rule is
# settled for a
# shipment when its milestone is not actual and it holds no live charge (nothing due, nothing
# to credit), or when it is a once-per-shipment milestone rule (``settles``: basis shipment,
# quantity 1) whose live charge has the actual's time and the line's rate (what the
# evaluation would compute again). Every other case (dwell days, kg/container/stop
# quantities, a voided or moved milestone, a changed rate) goes to the evaluation.
DUE_SQL = """
  AND (EXISTS (SELECT 1 FROM billing_charge AS c
               WHERE c.tenant_id = s.tenant_id AND c.shipment_id = s.id AND c.kind = 'charge')
       OR EXISTS (SELECT 1 FROM unnest(%(settles)s::boolean[], %(customers)s::bigint[])
                      AS rule(settles, customer)
                  WHERE NOT rule.settles
                    AND (rule.customer IS NULL OR rule.customer = s.customer_account_id)))
  AND EXISTS (
      SELECT 1
      FROM unnest(%(rule_ids)s::bigint[], %(milestones)s::text[], %(settles)s::boolean[],
                  %(amounts)s::numeric[]) AS rule(id, milestone, settles, amount)
      LEFT JOIN LATERAL (
          SELECT (r->'actual'->>'at')::timestamptz AS at
          FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) AS r
          WHERE r->>'code' = rule.milestone AND jsonb_typeof(r->'actual') = 'object'
          LIMIT 1
      ) AS actual ON true
      LEFT JOIN LATERAL (
          SELECT c.accrued_at, c.unit_amount FROM billing_charge AS c
          WHERE c.tenant_id = s.tenant_id AND c.shipment_id = s.id AND c.rule_id = rule.id
            AND c.kind = 'charge' AND NOT c.is_reversed
          LIMIT 1
      ) AS live ON true
      WHERE (actual.at IS NOT NULL OR live.accrued_at IS NOT NULL)
        AND NOT (rule.settles AND live.accrued_at IS NOT DISTINCT FROM actual.at
                 AND live.unit_amount = rule.amount)
  )"""


def _facts_sql(*, measured: bool, only_due: bool) -> str:
    return FACTS_SQL.format(
        measures=MEASURE_COLUMNS if measured else NO_MEASURES,
        join="LEFT JOIN billing_shipmentmeasure AS m ON m.shipment_id = s.id" if measured else "",
        due=DUE_SQL if only_due else "",
    )


MEASURED = frozenset({"kg", "container", "stop"})

# The fast path: first charges of once-per-shipment milestone rules, computed and inserted by
# the database in one statement, no rows through Python. Only for shipments never charged
# (no charge rows) that no other kind of rule concerns (dwell, per kg/container/stop, for
# their customer or every customer): everything else is left to the evaluation, which runs
# after it and finds these shipments settled. It is rating.applies and rating.preferred in
# SQL (rating._same: a condition is blank, ``*`` or equal ignoring case and surrounding
# blanks; a lane is ``ORIGIN-DESTINATION``; validity on the local date in the tenant's
# zone; a customer's own line replaces the tenant-wide lines of its code and direction);
# tests/billing/test_charging_due.py checks it against the evaluation.
FIRST_CHARGES_SQL = """
WITH rule AS (
    SELECT * FROM unnest(
        %(rule_ids)s::bigint[], %(milestones)s::text[], %(settles)s::boolean[],
        %(customers)s::bigint[], %(line_codes)s::text[], %(directions)s::text[],
        %(modes)s::text[], %(services)s::text[], %(carriers)s::text[], %(origins)s::text[],
        %(destinations)s::text[],
        %(valid_from)s::date[], %(valid_to)s::date[], %(line_ids)s::bigint[],
        %(unit_amounts)s::numeric[], %(amounts)s::numeric[], %(currencies)s::text[],
        %(tax_rates)s::numeric[], %(descriptions)s::text[]
    ) AS r(id, milestone, settles, customer, code, direction, mode, service, carrier, origin,
           destination, valid_from, valid_to, line_id, unit_amount, amount, currency, tax_rate,
           description)
),
ship AS (
    SELECT s.id, s.customer_account_id, s.mode, s.service, s.carrier,
           COALESCE(s.origin_locode, '') AS origin,
           COALESCE(s.destination_locode, '') AS destination, s.timeline
    FROM shipments_shipment AS s
    WHERE s.tenant_id = %(tenant)s AND s.id = ANY(%(ids)s)
      AND NOT EXISTS (SELECT 1 FROM billing_charge AS c
                      WHERE c.tenant_id = s.tenant_id AND c.shipment_id = s.id
                        AND c.kind = 'charge')
      AND NOT EXISTS (SELECT 1 FROM rule
                      WHERE NOT rule.settles
                        AND (rule.customer IS NULL OR rule.customer = s.customer_account_id))
),
candidate AS (
    SELECT ship.id AS shipment_id, ship.customer_account_id, ship.carrier AS ship_carrier,
           rule.*, actual.value AS actual,
           (actual.value->>'at')::timestamptz AS at,
           ((actual.value->>'at')::timestamptz AT TIME ZONE %(zone)s)::date AS local_on
    FROM ship
    JOIN rule ON rule.customer IS NULL OR rule.customer = ship.customer_account_id
    LEFT JOIN LATERAL (
        SELECT r->'actual' AS value
        FROM jsonb_array_elements(COALESCE(ship.timeline->'rows', '[]'::jsonb)) AS r
        WHERE r->>'code' = rule.milestone AND jsonb_typeof(r->'actual') = 'object'
        LIMIT 1
    ) AS actual ON true
    WHERE actual.value IS NULL OR (
        (rule.valid_from IS NULL
         OR ((actual.value->>'at')::timestamptz AT TIME ZONE %(zone)s)::date >= rule.valid_from)
        AND (rule.valid_to IS NULL
         OR ((actual.value->>'at')::timestamptz AT TIME ZONE %(zone)s)::date <= rule.valid_to)
        AND (rule.mode = '' OR rule.mode = '*'
             OR lower(btrim(rule.mode)) = lower(COALESCE(ship.mode, '')))
        AND (rule.service = '' OR rule.service = '*'
             OR lower(btrim(rule.service)) = lower(COALESCE(ship.service, '')))
        AND (rule.carrier = '' OR rule.carrier = '*'
             OR lower(btrim(rule.carrier)) = lower(COALESCE(ship.carrier, '')))
        AND (rule.origin = '' OR rule.origin = '*'
             OR lower(btrim(rule.origin)) = lower(COALESCE(ship.origin, '')))
        AND (rule.destination = '' OR rule.destination = '*'
             OR lower(btrim(rule.destination)) = lower(COALESCE(ship.destination, '')))
    )
)
INSERT INTO billing_charge ({columns})
SELECT %(tenant)s, c.shipment_id, c.id, c.line_id, c.customer_account_id, c.ship_carrier,
       'charge', c.direction, c.code, c.description, 'once', 1, c.unit_amount, c.amount,
       c.currency, c.tax_rate, 'accrued', c.id || ':' || c.shipment_id || ':once', NULL, false,
       jsonb_build_object(
           'trigger', 'milestone', 'rule', c.id, 'basis', 'shipment', 'quantity', '1',
           'events', jsonb_build_array(jsonb_build_object(
               'milestone', c.milestone, 'event_id', c.actual->'event_id', 'at', c.actual->'at',
               'source_kind', c.actual->'source_kind', 'source_name', c.actual->'source_name',
               'recorded_at', c.actual->'recorded_at', 'location', c.actual->'location'))),
       c.at, c.local_on, now()
FROM candidate AS c
WHERE c.actual IS NOT NULL
  AND (c.customer IS NOT NULL OR NOT EXISTS (
      SELECT 1 FROM candidate AS own
      WHERE own.shipment_id = c.shipment_id AND own.customer IS NOT NULL
        AND own.code = c.code AND own.direction = c.direction))
ON CONFLICT DO NOTHING
RETURNING id
"""


@dataclass(frozen=True)
class Facts:
    id: int
    shipment: rating.ShipmentFacts
    customer_account_id: int | None
    actuals: dict[str, dict[str, Any]]
    charged: bool  # has charges (live or reversed)
    measures: dict[str, Decimal | int | None]


@dataclass(frozen=True)
class Due:
    """A charge that should exist."""

    period: str
    quantity: Decimal
    accrued_at: datetime
    accrued_on: date
    evidence: dict[str, Any]


def active_rules() -> list[ChargeRule]:
    rules = ChargeRule.objects.filter(
        is_active=True, charge_line__rate_card__is_active=True
    ).exclude(trigger=Trigger.EXCEPTION)
    return list(rules.select_related("charge_line__rate_card", "tenant"))


def timelines_changed(shipment_ids: list[int]) -> None:
    """The hook (see the module docstring)."""
    if not shipment_ids:
        return
    rules = active_rules()
    if not rules:
        return
    charges_evaluate(shipment_ids=shipment_ids, rules=rules)


def charges_evaluate(
    *,
    shipment_ids: Sequence[int],
    rules: list[ChargeRule] | None = None,
    now: datetime | None = None,
    only_due: bool = True,
) -> list[int]:
    """Bring the charges of these shipments in line with their timelines; the new rows' ids.
    ``only_due=False`` evaluates every shipment, settled or not (same result, slower)."""
    rules = active_rules() if rules is None else rules
    if not rules or not shipment_ids:
        return []
    now = now or timezone.now()
    tenant_id = current_tenant_id()
    tenant_zone = ZoneInfo(rules[0].tenant.timezone)
    codes = sorted({c for r in rules for c in (r.milestone, r.end_milestone) if c})
    ids = sorted(set(shipment_ids))
    # The shipments the evaluation needs are read first; then the fast path charges the others
    # (never charged, plain rules only: the two sets are disjoint) straight in SQL.
    facts = _facts(tenant_id, codes, ids, rules, only_due=only_due)
    written = _first_charges(tenant_id, ids, rules, tenant_zone) if only_due else []
    if not facts:
        return written
    # Only shipments charged before can need a credit or a re-issue (most batches: none).
    charged = [f.id for f in facts if f.charged]
    live_by_pair: dict[tuple[int, int], dict[str, Charge]] = defaultdict(dict)
    # The newest reversed charge per shipment, rule and period: a charge due again after a
    # credit (re-delivered after a void) takes a key after it (its own key is taken).
    last_reversed: dict[tuple[int, int, str], int] = {}
    if charged:
        for c in Charge.objects.filter(
            shipment_id__any=charged,
            rule_id__in=[r.pk for r in rules],
            kind=ChargeKind.CHARGE,
        ).order_by("pk"):
            key = (c.shipment_id, c.rule_id, c.period)
            if c.is_reversed:
                last_reversed[key] = c.pk  # type: ignore[index]
            else:
                live_by_pair[(c.shipment_id, c.rule_id)][c.period] = c  # type: ignore[index]
    new: list[NewCharge] = []
    reversed_ids: list[int] = []
    cancelled_ids: list[int] = []
    for fact in facts:
        for rule in _rules_for(fact, rules, tenant_zone):
            due = _due(rule, fact, now, tenant_zone)
            existing = live_by_pair.get((fact.id, rule.pk), {})
            for period, wanted in due.items():
                current = existing.get(period)
                if current is not None and _same(current, wanted, rule.charge_line):
                    continue
                if current is not None:
                    new.append(_credit(current, reason="corrected", now=now))
                    _mark_reversed(current, reversed_ids, cancelled_ids)
                after = current.pk if current else last_reversed.get((fact.id, rule.pk, period))
                new.append(_charge(tenant_id, rule, fact, wanted, replaces=current, after=after))
            for period, gone in existing.items():
                if period not in due:
                    new.append(_credit(gone, reason="no longer due", now=now))
                    _mark_reversed(gone, reversed_ids, cancelled_ids)
    if reversed_ids:
        Charge.objects.filter(pk__in=reversed_ids).update(is_reversed=True)
    if cancelled_ids:
        Charge.objects.filter(pk__in=cancelled_ids).update(status=ChargeStatus.CREDITED)
    if not new:
        return written
    # One COPY and one INSERT … SELECT: building model instances for bulk_create cost three
    # times the insert itself. Reversed charges were marked first (charge_live_uniq).
    now_row = timezone.now()
    rows = [(*(getattr(c, f) for f in ROW_FIELDS), now_row) for c in new]
    with connection.cursor() as cursor:
        CHARGE_STAGE.load(cursor.cursor, rows)
        cursor.execute(INSERT_STAGED_CHARGES)
        return written + [row[0] for row in cursor.fetchall()]


OPEN_DWELL_SQL = """
SELECT s.id FROM shipments_shipment AS s
WHERE s.tenant_id = %s
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) r
              WHERE r->>'code' = %s AND jsonb_typeof(r->'actual') = 'object')
  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) r
                  WHERE r->>'code' = %s AND jsonb_typeof(r->'actual') = 'object')
  AND s.status NOT IN ('cancelled', 'returned')
"""
DWELL_BATCH = 2000


ROW_FIELDS = (
    "tenant_id",
    "shipment_id",
    "rule_id",
    "charge_line_id",
    "customer_account_id",
    "carrier",
    "kind",
    "direction",
    "code",
    "description",
    "period",
    "quantity",
    "unit_amount",
    "amount",
    "currency",
    "tax_rate",
    "status",
    "idempotency_key",
    "reverses_id",
    "is_reversed",
    "evidence",
    "accrued_at",
    "accrued_on",
)
CHARGE_COLUMNS = (*ROW_FIELDS, "created_at")
CHARGE_STAGE = Stage("stage_billing_charge", "billing_charge", CHARGE_COLUMNS)
# ON CONFLICT DO NOTHING: a charge another transaction wrote first (same idempotency key, or
# a live charge of the same shipment, rule and period) is skipped, not an error.
INSERT_STAGED_CHARGES = (
    f"INSERT INTO billing_charge ({CHARGE_STAGE.column_list}) "  # noqa: S608 — constants
    f"SELECT {CHARGE_STAGE.column_list} FROM {CHARGE_STAGE.name} "
    "ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_FIRST_CHARGES = FIRST_CHARGES_SQL.format(columns=CHARGE_STAGE.column_list)


def _first_charges(
    tenant_id: int, ids: list[int], rules: list[ChargeRule], zone: ZoneInfo
) -> list[int]:
    """FIRST_CHARGES_SQL for these shipments; the new rows' ids."""
    lines = [r.charge_line for r in rules]
    revenue = [line.direction == Direction.REVENUE for line in lines]
    lanes = [line.lane.partition("-") for line in lines]
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "ids": ids,
        "zone": zone.key,
        "rule_ids": [r.pk for r in rules],
        "milestones": [r.milestone for r in rules],
        "settles": [_settles(r) for r in rules],
        "customers": [line.rate_card.customer_account_id for line in lines],
        "line_codes": [line.code for line in lines],
        "directions": [line.direction for line in lines],
        "modes": [line.mode for line in lines],
        "services": [line.service for line in lines],
        "carriers": [line.carrier for line in lines],
        "origins": [lane[0] for lane in lanes],
        "destinations": [lane[2] for lane in lanes],
        "valid_from": [line.valid_from for line in lines],
        "valid_to": [line.valid_to for line in lines],
        "line_ids": [line.pk for line in lines],
        "unit_amounts": [line.amount for line in lines],
        "amounts": [round_money(line.amount, line.currency) for line in lines],
        "currencies": [line.currency for line in lines],
        "tax_rates": [
            line.tax_rate if own else Decimal(0) for line, own in zip(lines, revenue, strict=True)
        ],
        "descriptions": [
            line.description if own else f"{line.description} (expected cost)"
            for line, own in zip(lines, revenue, strict=True)
        ],
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_FIRST_CHARGES, params)
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class NewCharge:
    """A row to insert (the fields of ROW_FIELDS): plain values, no model instance."""

    tenant_id: int
    shipment_id: int
    rule_id: int | None
    charge_line_id: int | None
    customer_account_id: int | None
    carrier: str
    kind: str
    direction: str
    code: str
    description: str
    period: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal
    currency: str
    tax_rate: Decimal
    status: str
    idempotency_key: str
    reverses_id: int | None
    is_reversed: bool
    evidence: dict[str, Any]
    accrued_at: datetime
    accrued_on: date


def dwell_accrue(now: datetime | None = None) -> int:
    """Charge the newly complete days of every open dwell (start reached, end not yet), in
    batches; the number of charges written."""
    rules = [r for r in active_rules() if r.trigger == Trigger.DWELL and r.end_milestone]
    written = 0
    tenant_id = current_tenant_id()
    pairs = sorted({(r.milestone, r.end_milestone) for r in rules})
    ids: set[int] = set()
    with connection.cursor() as cursor:
        for start, end in pairs:
            cursor.execute(OPEN_DWELL_SQL, [tenant_id, start, end])
            ids.update(row[0] for row in cursor.fetchall())
    ordered = sorted(ids)
    for offset in range(0, len(ordered), DWELL_BATCH):
        batch = ordered[offset : offset + DWELL_BATCH]
        written += len(charges_evaluate(shipment_ids=batch, rules=rules, now=now))
    return written


def _settles(rule: ChargeRule) -> bool:
    """Charged once, one unit: its live charge equal to what the evaluation would compute."""
    return rule.trigger == Trigger.MILESTONE and rule.charge_line.basis == Basis.SHIPMENT


def _facts(
    tenant_id: int, codes: list[str], ids: list[int], rules: list[ChargeRule], *, only_due: bool
) -> list[Facts]:
    measured = any(r.charge_line.basis in MEASURED for r in rules)
    params: dict[str, Any] = {
        "codes": codes,
        "tenant": tenant_id,
        "ids": ids,
        "rule_ids": [r.pk for r in rules],
        "milestones": [r.milestone for r in rules],
        "settles": [_settles(r) for r in rules],
        "amounts": [r.charge_line.amount for r in rules],
        "customers": [r.charge_line.rate_card.customer_account_id for r in rules],
    }
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(measured=measured, only_due=only_due), params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        sid, mode, service, carrier, customer, origin, destination, actuals, charged = row[:9]
        weight, containers, stops, container_refs, legs = row[9:]
        found.append(
            Facts(
                id=sid,
                shipment=rating.ShipmentFacts(mode, service, carrier, origin, destination),
                customer_account_id=customer,
                actuals=orjson.loads(actuals),
                charged=charged,
                measures={
                    "kg": weight,
                    "container": containers if containers is not None else container_refs,
                    "stop": stops if stops is not None else (legs + 1 if legs else 0),
                },
            )
        )
    return found


def _conditions(line: ChargeLine) -> rating.Conditions:
    return rating.Conditions(
        line.mode, line.lane, line.service, line.carrier, line.valid_from, line.valid_to
    )


def _rules_for(fact: Facts, rules: Iterable[ChargeRule], zone: ZoneInfo) -> list[ChargeRule]:
    candidates = []
    for rule in rules:
        line = rule.charge_line
        card_customer = line.rate_card.customer_account_id
        if card_customer is not None and card_customer != fact.customer_account_id:
            continue
        actual = fact.actuals.get(rule.milestone)
        # Without its milestone a rule is due nothing: evaluating it credits what it charged.
        if actual is not None:
            on = datetime.fromisoformat(actual["at"]).astimezone(zone).date()
            if not rating.applies(_conditions(line), fact.shipment, on):
                continue
        candidates.append((rule, card_customer is not None, line.code, line.direction))
    return rating.preferred(candidates)


def _evidence_of(code: str, actual: dict[str, Any]) -> dict[str, Any]:
    return {
        "milestone": code,
        "event_id": actual.get("event_id"),
        "at": actual.get("at"),
        "source_kind": actual.get("source_kind"),
        "source_name": actual.get("source_name"),
        "recorded_at": actual.get("recorded_at"),
        "location": actual.get("location"),
    }


def _due(rule: ChargeRule, fact: Facts, now: datetime, tenant_zone: ZoneInfo) -> dict[str, Due]:
    line = rule.charge_line
    start = fact.actuals.get(rule.milestone)
    if start is None:
        return {}
    start_at = datetime.fromisoformat(start["at"])
    if rule.trigger == Trigger.MILESTONE:
        quantity = rating.quantity_for(line.basis, fact.measures)
        if quantity <= 0:
            return {}
        evidence = {
            "trigger": "milestone",
            "rule": rule.pk,
            "events": [_evidence_of(rule.milestone, start)],
            "basis": line.basis,
            "quantity": str(quantity),
        }
        local = start_at.astimezone(tenant_zone).date()
        return {"once": Due("once", quantity, start_at, local, evidence)}
    # Dwell: one charge per local day beyond the free time.
    zone = zone_for_locode(start.get("location")) or tenant_zone
    end = fact.actuals.get(rule.end_milestone) if rule.end_milestone else None
    end_at = datetime.fromisoformat(end["at"]) if end else None
    days = rating.chargeable_days(
        start=start_at,
        end=end_at,
        now=now,
        zone=zone,
        free_days=line.free_days,
        proration=line.proration,
    )
    events = [_evidence_of(rule.milestone, start)]
    if end:
        events.append(_evidence_of(rule.end_milestone, end))
    free_end = rating.free_time_end(start_at, line.free_days, zone)
    due = {}
    for day in days:
        evidence = {
            "trigger": "dwell",
            "rule": rule.pk,
            "events": events,
            "zone": zone.key,
            "free_days": str(line.free_days),
            "free_time_ends": free_end.isoformat(),
            "day": day.day.isoformat(),
            "day_hours": str(day.day_hours),
            "charged_from": day.start.isoformat(),
            "charged_to": day.end.isoformat(),
            "proration": line.proration,
            "quantity": str(day.quantity),
            "open": end is None,
        }
        period = day.day.isoformat()
        due[period] = Due(period, day.quantity, day.start, day.day, evidence)
    return due


def _same(charge: Charge, wanted: Due, line: ChargeLine) -> bool:
    return (
        charge.quantity == wanted.quantity
        and charge.accrued_at == wanted.accrued_at
        and charge.unit_amount == line.amount
    )


def _mark_reversed(charge: Charge, reversed_ids: list[int], cancelled: list[int]) -> None:
    reversed_ids.append(charge.pk)
    if charge.status == ChargeStatus.ACCRUED:
        cancelled.append(charge.pk)  # never invoiced: charge and credit cancel out


def _charge(
    tenant_id: int,
    rule: ChargeRule,
    fact: Facts,
    due: Due,
    *,
    replaces: Charge | None,
    after: int | None = None,
) -> NewCharge:
    line = rule.charge_line
    key = f"{rule.pk}:{fact.id}:{due.period}"
    if after is not None:
        key = f"{key}#after{after}"
    revenue = line.direction == Direction.REVENUE
    return NewCharge(
        tenant_id=tenant_id,
        shipment_id=fact.id,
        rule_id=rule.pk,
        charge_line_id=line.pk,
        customer_account_id=fact.customer_account_id,
        carrier=fact.shipment.carrier,
        kind=ChargeKind.CHARGE,
        direction=line.direction,
        code=line.code,
        description=line.description if revenue else f"{line.description} (expected cost)",
        period=due.period,
        quantity=due.quantity,
        unit_amount=line.amount,
        amount=round_money(due.quantity * line.amount, line.currency),
        currency=line.currency,
        tax_rate=line.tax_rate if revenue else Decimal(0),
        status=ChargeStatus.ACCRUED,
        idempotency_key=key,
        reverses_id=None,
        is_reversed=False,
        evidence=due.evidence | ({"replaces": replaces.pk} if replaces else {}),
        accrued_at=due.accrued_at,
        accrued_on=due.accrued_on,
    )


def _credit(charge: Charge, *, reason: str, now: datetime) -> NewCharge:
    """An auditable credit line reversing ``charge``: accrued now (in the current period) if
    the charge was invoiced, else beside it (both cancelled, never invoiced)."""
    invoiced = charge.status == ChargeStatus.INVOICED
    return NewCharge(
        tenant_id=charge.tenant_id,
        shipment_id=charge.shipment_id,
        rule_id=charge.rule_id,
        charge_line_id=charge.charge_line_id,
        customer_account_id=charge.customer_account_id,
        carrier=charge.carrier,
        kind=ChargeKind.CREDIT,
        direction=charge.direction,
        code=charge.code,
        description=f"Credit: {charge.description}"[:200],
        period=charge.period,
        quantity=-charge.quantity,
        unit_amount=charge.unit_amount,
        amount=-charge.amount,
        currency=charge.currency,
        tax_rate=charge.tax_rate,
        status=ChargeStatus.ACCRUED if invoiced else ChargeStatus.CREDITED,
        idempotency_key=f"credit:{charge.pk}",
        reverses_id=charge.pk,
        is_reversed=False,
        evidence={"reason": reason, "reverses": charge.pk, "original": charge.evidence},
        accrued_at=now if invoiced else charge.accrued_at,
        accrued_on=now.date() if invoiced else charge.accrued_on,
    )

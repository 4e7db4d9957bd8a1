"""Shipment events from timeline changes: subscribed to ``shipments.hooks.on_timeline_changed``.

The hook runs in the changing transaction (for an interactive message, in the one right after
it: shipments.services ``timeline_hooks_deferred``), after the cached timelines are written,
with the ids only. What a partner was last told of each shipment is kept in ``ShipmentState`` (while
anyone listens to shipment events): the new cached timeline is compared with it, the events
go to the outbox, the state moves on — all in that transaction, set-based:

* nobody listens to shipment events: one query, nothing else;
* otherwise eight per batch, whatever its size: listeners, the shipments and their states
  (one join), the summaries (two), the states upsert, event ids, events and deliveries (each
  COPYed into a stage, then one INSERT … SELECT).

Which events (for each shipment, at most one of each type, milestones one per code):

* ``shipment.created``: no state, and created while someone listened;
* ``milestone.reached``: a milestone has an actual it did not have (or another one: a
  repeated attempt, a correction);
* ``shipment.delivered``: the status became "delivered";
* ``eta.changed``: the ETA moved (``previous_eta`` and ``eta``);
* ``shipment.updated``: any of status, ETA, lateness or the reached milestones changed.

A shipment that existed before the first subscription has no state yet at its first change
after it: what was recorded since the listening began is reported (milestones, delivery);
an ETA change is reported from its second change on (the ETA before is not known).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from integrations.subscriptions import outbox, payloads, selectors
from integrations.subscriptions.models import EventType, ShipmentState
from milestones.engine import STAGE_BY_MILESTONE, ShipmentStatus
from tenancy.context import current_tenant_id

TRACKING_TYPES = frozenset(
    {
        EventType.SHIPMENT_CREATED,
        EventType.SHIPMENT_UPDATED,
        EventType.SHIPMENT_DELIVERED,
        EventType.MILESTONE_REACHED,
        EventType.ETA_CHANGED,
    }
)
DELIVERED = str(ShipmentStatus.DELIVERED)
DELIVERY_MILESTONES = frozenset(
    code for code, stage in STAGE_BY_MILESTONE.items() if stage == ShipmentStatus.DELIVERED
)

# The shipments with what their cached timeline says now (each actual: event, time, source,
# when recorded) and their state, if any. Row-level security confines both tables.
CHANGES_SQL = """
SELECT s.id, s.status, s.eta, s.is_late, s.created_at,
       COALESCE((
           SELECT jsonb_object_agg(r->>'code', r->'actual')
           FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) AS r
           WHERE jsonb_typeof(r->'actual') = 'object'
       ), '{}'::jsonb)::text,
       st.updated_at, st.status, st.eta, st.is_late, st.actuals::text
FROM shipments_shipment AS s
LEFT JOIN subscriptions_shipmentstate AS st ON st.shipment_id = s.id
WHERE s.tenant_id = %s AND s.id = ANY(%s)
"""


@dataclass(frozen=True)
class Before:
    status: str | None  # None: unknown
    eta: datetime | None
    eta_known: bool
    is_late: bool | None
    actuals: dict[str, int]


def shipments_changed(shipment_ids: list[int]) -> None:
    """The hook: compare, record events, move the states on (see the module docstring)."""
    listening = [
        listener for listener in selectors.listeners() if listener.event_types & TRACKING_TYPES
    ]
    if not listening or not shipment_ids:
        return
    since = min(listener.watching_since for listener in listening)
    tenant_id = current_tenant_id()
    with connection.cursor() as cursor:
        cursor.execute(CHANGES_SQL, [tenant_id, sorted(set(shipment_ids))])
        rows = cursor.fetchall()
    now = timezone.now()
    found: list[tuple[int, list[tuple[str, dict[str, Any]]]]] = []
    states: list[ShipmentState] = []
    for row in rows:
        shipment_id, status, eta, is_late, created_at, actuals_json = row[:6]
        actuals = _loads(actuals_json)
        before, created = _before(row, since, created_at, actuals)
        events = _events(before, created, status, eta, is_late, actuals)
        if events:
            found.append((shipment_id, events))
        if events or row[6] is None or row[6] < since:
            states.append(
                ShipmentState(
                    tenant_id=tenant_id,
                    shipment_id=shipment_id,
                    status=status,
                    eta=eta,
                    is_late=is_late,
                    actuals={code: actual.get("event_id") for code, actual in actuals.items()},
                    updated_at=now,
                )
            )
    if states:
        ShipmentState.objects.bulk_create(
            states,
            update_conflicts=True,
            unique_fields=["shipment"],
            update_fields=["status", "eta", "is_late", "actuals", "updated_at"],
        )
    if found:
        outbox.outbox_record(items=_items(found), listening=listening)


def _loads(text: str | None) -> dict[str, Any]:
    value = orjson.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _before(
    row: Sequence[Any], since: datetime, created_at: datetime, actuals: dict[str, Any]
) -> tuple[Before, bool]:
    """What the partner knew before this change, and whether the shipment is new to it."""
    state_at, status, eta, is_late, known_json = row[6:11]
    if state_at is not None and state_at >= since:
        known = {code: event for code, event in _loads(known_json).items()}
        return Before(status, eta, True, is_late, known), False
    if created_at >= since:
        return Before(None, None, False, None, {}), True
    # Existed before anyone listened, unchanged since: what was recorded before was known.
    earlier = {
        code: actual.get("event_id")
        for code, actual in actuals.items()
        if _recorded_before(actual, since)
    }
    return Before(None, None, False, None, earlier), False


def _recorded_before(actual: dict[str, Any], since: datetime) -> bool:
    recorded = _time(actual.get("recorded_at"))
    return recorded is None or recorded < since  # no time kept: from before, not news


def _time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _events(
    before: Before,
    created: bool,
    status: str,
    eta: datetime | None,
    is_late: bool,
    actuals: dict[str, Any],
) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data without the shipment) for one shipment."""
    events: list[tuple[str, dict[str, Any]]] = []
    if created:
        events.append((EventType.SHIPMENT_CREATED, {}))
    reached = sorted(
        code
        for code, actual in actuals.items()
        if actual.get("event_id") is not None and before.actuals.get(code) != actual["event_id"]
    )
    for code in reached:
        actual = actuals[code]
        milestone = {
            "code": code,
            "actual_at": _iso(actual.get("at")),
            "source": actual.get("source_kind"),
        }
        events.append((EventType.MILESTONE_REACHED, {"milestone": milestone}))
    if before.status is not None:
        became_delivered = status == DELIVERED and before.status != DELIVERED
    else:
        became_delivered = status == DELIVERED and bool(DELIVERY_MILESTONES & set(reached))
    if became_delivered:
        proof: dict[str, Any] = next(
            (actuals[c] for c in ("delivered", "proof_of_delivery") if c in actuals), {}
        )
        events.append((EventType.SHIPMENT_DELIVERED, {"delivered_at": _iso(proof.get("at"))}))
    eta_changed = before.eta_known and before.eta != eta
    if eta_changed:
        moved = {"previous_eta": payloads.iso(before.eta), "eta": payloads.iso(eta)}
        events.append((EventType.ETA_CHANGED, moved))
    if not created:
        changes = [
            name
            for name, changed in (
                ("status", before.status is not None and before.status != status),
                ("eta", eta_changed),
                ("is_late", before.is_late is not None and before.is_late != is_late),
                ("milestones", bool(reached)),
            )
            if changed
        ]
        if changes:
            events.append((EventType.SHIPMENT_UPDATED, {"changes": changes}))
    return events


def _iso(value: object) -> str | None:
    moment = _time(value)
    return payloads.iso(moment) if moment is not None else None


def _items(found: list[tuple[int, list[tuple[str, dict[str, Any]]]]]) -> list[outbox.OutboxItem]:
    summaries = payloads.shipment_summaries(shipment_id for shipment_id, _ in found)
    items: list[outbox.OutboxItem] = []
    for shipment_id, events in found:
        summary = summaries.get(shipment_id)
        if summary is None:
            continue
        shipment, account = summary
        for event_type, data in events:
            items.append(
                outbox.OutboxItem(
                    event_type=event_type,
                    data={"shipment": shipment, **data},
                    shipment_id=shipment_id,
                    customer_account_id=account,
                )
            )
    return items

"""A shipment's timeline as the API shows it.

Now (no ``as_of``): the timeline cached on the shipment row when it last changed (every event,
correction, edit of the template recomputes it: shipments.services.timelines_refresh), plus
the labels and visibility of its template version (immutable, kept in memory): one query.
Its ``evaluated_at`` says when it was computed, and its ETag stays the same until it changes.
As of a past time: computed by the engine from the events known then (a constant number of
queries, shipments.timeline.compute_for).

Customer-limited callers see only the milestones their template marks customer-visible, and
neither the flags nor who reported a time by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from milestones import engine
from milestones.default_templates import LABELS
from shipments.models import Shipment
from shipments.selectors import shipment_timeline, version_definitions
from shipments.timeline import timeline_summary

# Milestones outside a template that a customer may see (the engine adds these rows to any).
CUSTOMER_VISIBLE_EXTRAS = frozenset({"cancelled", "returned", "failed_delivery"})


def iso(value: str | datetime | None) -> str | None:
    """ISO 8601 in UTC with "Z", as every other time of the API (DRF's rendering)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _label(labels: Mapping[str, str], code: str, locale: str) -> str:
    return labels.get(locale) or labels.get("en") or code


def timeline_out(
    shipment: Shipment,
    *,
    locale: str,
    customer_limited: bool,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    if as_of is None:
        summary = shipment.timeline or {}
    else:
        summary = timeline_summary(shipment_timeline(shipment=shipment, as_of=as_of))
    definitions = {d.code: d for d in version_definitions(shipment.template_version_id)}
    milestones = []
    for row in summary.get("rows", ()):
        code = row["code"]
        definition = definitions.get(code)
        visible = (
            definition.customer_visible
            if definition is not None
            else code in CUSTOMER_VISIBLE_EXTRAS
        )
        if customer_limited and not visible:
            continue
        actual = row.get("actual") or None
        estimate = row.get("estimate") or None
        reporter = actual or estimate
        labels = definition.label if definition is not None else LABELS.get(code, {})
        milestones.append(
            {
                "code": code,
                "label": _label(labels, code, locale),
                "sequence": row.get("sequence"),
                "kind": row.get("kind") or engine.KIND_PROGRESS,
                "required": definition.required if definition is not None else False,
                "planned_at": iso(row.get("planned")),
                "estimated_at": iso(row.get("estimated_at")),
                "actual_at": iso(actual["at"]) if actual else None,
                "location": actual.get("location") if actual else None,
                "source": reporter["source_kind"] if reporter else None,
                "source_name": None
                if customer_limited or not reporter
                else reporter["source_name"],
                "reached": actual is not None,
                "late": bool(row.get("late")),
                "at_risk": bool(row.get("at_risk")),
            }
        )
    return {
        "shipment": shipment.public_id,
        "status": summary.get("status", shipment.status),
        "eta": iso(summary.get("eta")),
        "progress": summary.get("progress_percent", shipment.progress_percent),
        "late": bool(summary.get("late_milestones")) if summary else shipment.is_late,
        "current_stage": summary.get("current_stage"),
        "next_milestone": summary.get("next_milestone"),
        "waiting_on": list(summary.get("waiting_on", ())),
        "flags": [] if customer_limited else list(summary.get("flags", ())),
        "evaluated_at": iso(summary.get("evaluated_at")),
        "as_of": iso(as_of),
        "milestones": milestones,
    }

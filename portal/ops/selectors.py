"""Reads the dashboard needs beyond the partner API's: its filters, KPI tiles, saved views and
tags. The list itself is the API's (shipments.selectors.shipment_filtered, keyset pagination
of tenancy.api.pagination); everything here runs in the request's tenant context."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from integrations.exceptions import selectors as exception_selectors
from integrations.workflow.models import ShipmentTag
from portal.ops.models import SavedView
from shipments import selectors as shipment_selectors
from shipments.models import Shipment
from tenancy.api.pagination import Keyset
from tenancy.context import current_tenant_id

FINISHED = ("delivered", "returned", "cancelled")
DARK_AFTER = timedelta(hours=24)
KPI_CACHE_S = 30

# Sortable columns: each order a keyset served by one of Shipment's list indexes.
SORTS: dict[str, Keyset] = {
    "-booked": Keyset("booked", ("-booked_at", "-public_id")),
    "booked": Keyset("booked-asc", ("booked_at", "public_id")),
    "-updated": Keyset("updated-desc", ("-updated_at", "-public_id")),
    "updated": Keyset("updated", ("updated_at", "public_id")),
}


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    status: str = ""
    mode: str = ""
    carrier: str = ""
    customer: str = ""
    lane: str = ""  # "DEHAM-USNYC", either end may be empty
    late: str = ""  # "late" | "on_time" | ""
    booked_from: date | None = None
    booked_to: date | None = None
    tag: str = ""
    sort: str = "-booked"

    def active(self) -> bool:
        return any(
            getattr(self, name)
            for name in (
                "q",
                "status",
                "mode",
                "carrier",
                "customer",
                "lane",
                "late",
                "booked_from",
                "booked_to",
                "tag",
            )
        )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def shipments_filtered(filters: ListFilters) -> QuerySet[Shipment]:
    """The API list's filters (one code path with the API), plus lane, booking dates and tags."""
    shipments = shipment_selectors.shipment_filtered(
        shipment_selectors.shipment_list(),
        reference=filters.q or None,
        status=filters.status or None,
        mode=filters.mode or None,
        carrier=filters.carrier or None,
        customer_code=filters.customer or None,
        late={"late": True, "on_time": False}.get(filters.late),
    )
    if filters.lane:
        origin, _, destination = filters.lane.upper().partition("-")
        if origin:
            shipments = shipments.filter(origin_locode=origin)
        if destination:
            shipments = shipments.filter(destination_locode=destination)
    if filters.booked_from:
        shipments = shipments.filter(booked_at__gte=_day_start(filters.booked_from))
    if filters.booked_to:
        shipments = shipments.filter(booked_at__lt=_day_start(filters.booked_to + timedelta(1)))
    if filters.tag:
        tagged = ShipmentTag.objects.filter(tag=filters.tag).values("shipment_id")
        shipments = shipments.filter(pk__in=tagged)
    return shipments


def list_rows(shipments: QuerySet[Shipment]) -> QuerySet[Shipment]:
    """What a list row shows, in a fixed number of queries per page."""
    return shipment_selectors.shipment_api_list(shipments)


def tags_by_shipment(shipment_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = ShipmentTag.objects.filter(shipment_id__in=shipment_ids).order_by("tag")
    for shipment_id, name in rows.values_list("shipment_id", "tag"):
        found.setdefault(shipment_id, []).append(name)
    return found


def tag_names() -> list[str]:
    return list(ShipmentTag.objects.values_list("tag", flat=True).distinct().order_by("tag")[:200])


def carriers() -> list[str]:
    """Carriers for the filter's suggestions (the carrier index, distinct, capped)."""
    key = f"ops:carriers:{current_tenant_id()}"
    found = cache.get(key)
    if found is None:
        found = list(
            Shipment.objects.exclude(carrier="")
            .values_list("carrier", flat=True)
            .distinct()
            .order_by("carrier")[:200]
        )
        cache.set(key, found, 300)
    return found


def kpis() -> dict[str, Any]:
    """The tiles: active, late, at risk, dark (no update for 24 h), on-time % this week.
    Counted with the list indexes and kept for KPI_CACHE_S per tenant (live updates refresh
    the page's numbers at most that often)."""
    found = kpis_cached()
    if found is not None:
        return found
    now = timezone.now()
    active = Shipment.objects.exclude(status__in=FINISHED)
    week_start = now - timedelta(days=now.weekday())
    week_start = week_start.replace(hour=0, minute=0, second=0, microsecond=0)
    delivered = Shipment.objects.filter(status="delivered", updated_at__gte=week_start).aggregate(
        total=Count("pk"), late=Count("pk", filter=Q(is_late=True))
    )
    total = delivered["total"] or 0
    found = {
        "active": active.count(),
        "late": active.filter(is_late=True).count(),
        "at_risk": active.filter(
            is_late=False, timeline__rows__contains=[{"at_risk": True}]
        ).count(),
        "dark": active.filter(updated_at__lt=now - DARK_AFTER).count(),
        "on_time_pct": None if total == 0 else round(100 * (total - delivered["late"]) / total, 1),
        "delivered_week": total,
        "exceptions_open": exception_selectors.open_exception_count(),
    }
    cache.set(_kpi_key(), found, KPI_CACHE_S)
    return found


def _kpi_key() -> str:
    return f"ops:kpis:{current_tenant_id()}"


def kpis_cached() -> dict[str, Any] | None:
    """The tiles if counted in the last KPI_CACHE_S, else None (the page then loads them
    separately: counting a 1M-shipment tenant takes seconds, the list does not wait)."""
    found: dict[str, Any] | None = cache.get(_kpi_key())
    return found


def saved_views(*, user_id: int) -> QuerySet[SavedView]:
    return SavedView.objects.filter(user_id=user_id)


def saved_view_get(*, user_id: int, view_id: int) -> SavedView | None:
    return SavedView.objects.filter(user_id=user_id, pk=view_id).first()


# --- integrations health ----------------------------------------------------------------------

STALE_AFTER = timedelta(hours=6)


def integration_health() -> list[dict[str, Any]]:
    """Per integration: last message, messages in the last hour, error rate over 24 h (dead
    or partially failed share), stale (active, no message for STALE_AFTER)."""
    from integrations import selectors as integration_selectors
    from integrations.models import InboundMessage, MessageStatus

    now = timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    failed = (MessageStatus.DEAD, MessageStatus.PARTIALLY_FAILED)
    stats: dict[int, dict[str, Any]] = {
        row["integration_id"]: dict(row)
        for row in InboundMessage.objects.filter(received_at__gte=day, integration__isnull=False)
        .values("integration_id")
        .annotate(
            day=Count("pk"),
            hour=Count("pk", filter=Q(received_at__gte=hour)),
            errors=Count("pk", filter=Q(status__in=failed)),
        )
    }
    out = []
    for integration in integration_selectors.integration_list().order_by("name"):
        last = (
            InboundMessage.objects.filter(integration=integration)
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        row = stats.get(integration.pk, {})
        total = row.get("day", 0)
        out.append(
            {
                "integration": integration,
                "last_message": last,
                "per_hour": row.get("hour", 0),
                "day": total,
                "error_rate": None if not total else round(100 * row.get("errors", 0) / total, 1),
                "stale": integration.is_active and (last is None or last < now - STALE_AFTER),
            }
        )
    return out


def dead_letters(limit: int = 100) -> list[Any]:
    from integrations import selectors as integration_selectors

    return list(
        integration_selectors.dead_letter_list(unresolved_only=True)
        .select_related("message__integration")
        .order_by("-created_at", "-id")[:limit]
    )


def held_events(limit: int = 100) -> list[Any]:
    from integrations.models import HeldEvent

    return list(
        HeldEvent.objects.filter(applied_at__isnull=True)
        .select_related("message__integration")
        .order_by("-created_at")[:limit]
    )


# --- analytics --------------------------------------------------------------------------------

ANALYTICS_DAYS = 30


def _delivered_since(days: int) -> QuerySet[Shipment]:
    return Shipment.objects.filter(
        status="delivered", updated_at__gte=timezone.now() - timedelta(days=days)
    )


def on_time_by(dimension: str, days: int = ANALYTICS_DAYS) -> list[dict[str, Any]]:
    """On-time share of shipments delivered in the last ``days``, by carrier, lane or customer."""
    delivered = _delivered_since(days)
    if dimension == "lane":
        keys: tuple[str, ...] = ("origin_locode", "destination_locode")
    elif dimension == "customer":
        keys = ("customer_account__code",)
    else:
        keys = ("carrier",)
    rows = (
        delivered.values(*keys)
        .annotate(total=Count("pk"), late=Count("pk", filter=Q(is_late=True)))
        .order_by("-total")[:50]
    )
    out = []
    for row in rows:
        label = "-".join(str(row[k] or "(none)") for k in keys)
        total = row["total"]
        out.append(
            {
                "label": label,
                "total": total,
                "on_time": total - row["late"],
                "pct": round(100 * (total - row["late"]) / total, 1) if total else None,
            }
        )
    return out


def volumes(days: int = ANALYTICS_DAYS) -> list[dict[str, Any]]:
    """Shipments booked per day (UTC) over the last ``days``."""
    from django.db.models.functions import TruncDate

    since = timezone.now() - timedelta(days=days)
    rows = (
        Shipment.objects.filter(booked_at__gte=since)
        .annotate(day=TruncDate("booked_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("day")
    )
    return [{"day": row["day"].isoformat(), "shipments": row["n"]} for row in rows]


def dwell(days: int = ANALYTICS_DAYS, sample: int = 1000) -> list[dict[str, Any]]:
    """Mean hours between consecutive reached milestones (time spent "at" a milestone), over
    the most recent ``sample`` shipments delivered in the last ``days`` (their cached
    timeline summaries; no event reads)."""
    summaries = _delivered_since(days).order_by("-updated_at").values_list("timeline", flat=True)
    spans: dict[str, list[float]] = {}
    for summary in summaries[:sample]:
        reached = [
            r for r in (summary or {}).get("rows", []) if r.get("actual") and r["actual"].get("at")
        ]
        reached.sort(key=lambda r: r["actual"]["at"])
        for here, after in itertools.pairwise(reached):
            start = datetime.fromisoformat(str(here["actual"]["at"]))
            end = datetime.fromisoformat(str(after["actual"]["at"]))
            spans.setdefault(here["code"], []).append((end - start).total_seconds() / 3600)
    return [
        {"milestone": code, "n": len(values), "mean_h": round(sum(values) / len(values), 1)}
        for code, values in sorted(spans.items(), key=lambda item: -len(item[1]))
    ]


def eta_accuracy_rows(days: int = 90) -> list[dict[str, Any]]:
    from integrations.eta.accuracy import HORIZONS_H, eta_accuracy

    report = eta_accuracy(since=timezone.now() - timedelta(days=days))
    total = report.total
    return [
        {
            "hours_out": h,
            "n": total.horizons[h].n,
            "mae_h": total.horizons[h].mae_h,
            "bias_h": total.horizons[h].bias_h,
            "in_window_pct": _pct(total.horizons[h].in_window_share),
        }
        for h in HORIZONS_H
    ]


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)

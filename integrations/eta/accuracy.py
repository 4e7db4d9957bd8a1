"""The published accuracy of the ETA: for delivered shipments, by carrier and lane, the error
of the delivery ETA as it stood 72 h, 24 h, 4 h and 1 h before the actual delivery, the share
of deliveries inside the window, and the same error of the template-offset baseline.

"As it stood" is reconstructed, not remembered: the engine recomputes each timeline from
the events recorded by then (``as_of`` = delivery - horizon, by ``recorded_at``), and the
predictor runs on it as of that moment. What the reconstruction cannot know: the driver's
position then (position ETAs are not replayed) and parent legs (computed without them).
The lane statistics used are today's, which include the evaluated deliveries when they
fall inside the statistics' window: on live data the report is slightly optimistic for
history-based ETAs; the benchmark (integrations.eta.benchmarks) keeps the two apart.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.eta.predict import DELIVERY, predict
from integrations.eta.selectors import lane_transits, rows_from_timeline, transit_lookup
from milestones import engine
from milestones.selectors import source_priority
from shipments.models import Shipment
from shipments.timeline import definitions_by_version, events_by_shipment

HORIZONS_H: tuple[int, ...] = (72, 24, 4, 1)
BATCH = 500
MAX_SHIPMENTS = 20_000  # the most recent; a report is recomputed, not stored
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Sample:
    shipment_id: int
    carrier: str
    lane: str
    horizon_h: int
    error_h: float  # predicted most likely - actual (positive: predicted late)
    in_window: bool
    source: str
    baseline_error_h: float | None


@dataclass
class Figures:
    n: int = 0
    mae_h: float | None = None
    bias_h: float | None = None
    in_window_share: float | None = None
    baseline_mae_h: float | None = None
    sources: dict[str, int] = field(default_factory=dict)


@dataclass
class AccuracyRow:
    carrier: str
    lane: str
    deliveries: int
    horizons: dict[int, Figures]


@dataclass
class AccuracyReport:
    rows: list[AccuracyRow]
    total: AccuracyRow
    samples: list[Sample]


def _delivered_at(summary: dict[str, Any]) -> datetime | None:
    for row in summary.get("rows", ()):
        if row.get("code") == DELIVERY and row.get("actual"):
            at = row["actual"].get("at")
            return at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return None


def accuracy_samples(
    shipments: Sequence[Shipment], *, horizons: Sequence[int] = HORIZONS_H
) -> list[Sample]:
    """One sample per delivered shipment and horizon it existed at (a fixed number of queries
    per batch of BATCH shipments)."""
    samples: list[Sample] = []
    priority = source_priority()
    for start in range(0, len(shipments), BATCH):
        batch = list(shipments[start : start + BATCH])
        events = events_by_shipment(s.pk for s in batch)
        templates = definitions_by_version(s.template_version_id for s in batch)
        transits = lane_transits((s.mode, s.origin_locode, s.destination_locode) for s in batch)
        for s in batch:
            delivered_at = _delivered_at(s.timeline or {})
            if delivered_at is None:
                continue
            template = templates[s.template_version_id]
            lookup = transit_lookup(
                transits,
                mode=s.mode,
                carrier=s.carrier,
                origin=s.origin_locode,
                dest=s.destination_locode,
            )
            lane = f"{s.mode} {s.origin_locode or '?'}→{s.destination_locode or '?'}"
            for horizon in horizons:
                as_of = delivered_at - timedelta(hours=horizon)
                if as_of < s.booked_at:
                    continue  # not booked yet then: there was no ETA to judge
                timeline = engine.compute_timeline(
                    template=template,
                    events=events.get(s.pk, ()),
                    booked_at=s.booked_at,
                    now=as_of,
                    as_of=as_of,
                    source_priority=priority,
                )
                predictions = predict(
                    rows_from_timeline(timeline, template),
                    booked_at=s.booked_at,
                    now=as_of,
                    promised_at=s.promised_at,
                    transit=lookup,
                )
                delivery = next((p for p in predictions if p.milestone == DELIVERY), None)
                if delivery is None or delivery.likely is None:
                    continue
                row = timeline.row(DELIVERY)
                baseline = row.projected if row is not None else None
                samples.append(
                    Sample(
                        shipment_id=s.pk,
                        carrier=s.carrier,
                        lane=lane,
                        horizon_h=horizon,
                        error_h=(delivery.likely - delivered_at).total_seconds() / 3600,
                        in_window=bool(
                            delivery.earliest
                            and delivery.latest
                            and delivery.earliest <= delivered_at <= delivery.latest
                        ),
                        source=delivery.source,
                        baseline_error_h=(baseline - delivered_at).total_seconds() / 3600
                        if baseline is not None
                        else None,
                    )
                )
    return samples


def figures(samples: Iterable[Sample]) -> Figures:
    found = list(samples)
    if not found:
        return Figures()
    baseline = [abs(s.baseline_error_h) for s in found if s.baseline_error_h is not None]
    sources: dict[str, int] = defaultdict(int)
    for s in found:
        sources[s.source] += 1
    return Figures(
        n=len(found),
        mae_h=round(statistics.fmean(abs(s.error_h) for s in found), 2),
        bias_h=round(statistics.fmean(s.error_h for s in found), 2),
        in_window_share=round(sum(s.in_window for s in found) / len(found), 3),
        baseline_mae_h=round(statistics.fmean(baseline), 2) if baseline else None,
        sources=dict(sorted(sources.items())),
    )


def report_from_samples(
    samples: list[Sample], *, horizons: Sequence[int] = HORIZONS_H
) -> AccuracyReport:
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.carrier, sample.lane)].append(sample)

    def row(carrier: str, lane: str, items: list[Sample]) -> AccuracyRow:
        return AccuracyRow(
            carrier=carrier,
            lane=lane,
            deliveries=len({s.shipment_id for s in items}),
            horizons={h: figures(s for s in items if s.horizon_h == h) for h in horizons},
        )

    rows = [row(carrier, lane, items) for (carrier, lane), items in sorted(groups.items())]
    return AccuracyReport(rows=rows, total=row("all", "all", samples), samples=samples)


def eta_accuracy(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    horizons: Sequence[int] = HORIZONS_H,
) -> AccuracyReport:
    """The report for the current tenant's delivered shipments (booked since/until; the most
    recent MAX_SHIPMENTS)."""
    shipments = Shipment.objects.filter(status="delivered").order_by("-booked_at", "-pk")
    if since is not None:
        shipments = shipments.filter(booked_at__gte=since)
    if until is not None:
        shipments = shipments.filter(booked_at__lt=until)
    fields = (
        "pk",
        "mode",
        "carrier",
        "origin_locode",
        "destination_locode",
        "booked_at",
        "promised_at",
        "template_version_id",
        "timeline",
    )
    samples = accuracy_samples(list(shipments.only(*fields)[:MAX_SHIPMENTS]), horizons=horizons)
    return report_from_samples(samples, horizons=horizons)


def neutralise(cell: object) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection): a leading =, +, -, @,
    tab or CR is escaped with an apostrophe, in every cell, whatever its origin."""
    text = "" if cell is None else str(cell)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def csv_header(horizons: Sequence[int] = HORIZONS_H) -> list[str]:
    header = ["carrier", "lane", "deliveries"]
    for h in horizons:
        header += [
            f"n_{h}h",
            f"mae_h_{h}h",
            f"bias_h_{h}h",
            f"in_window_share_{h}h",
            f"baseline_mae_h_{h}h",
        ]
    return header


def report_csv(report: AccuracyReport, horizons: Sequence[int] = HORIZONS_H) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in csv_header(horizons)])
    for row in [*report.rows, report.total]:
        cells: list[object] = [row.carrier, row.lane, row.deliveries]
        for h in horizons:
            f = row.horizons[h]
            cells += [f.n, f.mae_h, f.bias_h, f.in_window_share, f.baseline_mae_h]
        writer.writerow([neutralise(c) for c in cells])
    return out.getvalue()


def report_text(report: AccuracyReport, horizons: Sequence[int] = HORIZONS_H) -> str:
    """The table ``manage.py eta_accuracy`` prints."""
    head = f"{'carrier':<16} {'lane':<24} {'n':>5}"
    for h in horizons:
        head += f" | {h:>3}h: MAE h  in-win  base"
    lines = [head, "-" * len(head)]
    for row in [*report.rows, report.total]:
        line = f"{row.carrier[:16]:<16} {row.lane[:24]:<24} {row.deliveries:>5}"
        for h in horizons:
            f = row.horizons[h]
            mae = "-" if f.mae_h is None else f"{f.mae_h:.1f}"
            share = "-" if f.in_window_share is None else f"{f.in_window_share:.0%}"
            base = "-" if f.baseline_mae_h is None else f"{f.baseline_mae_h:.1f}"
            line += f" |      {mae:>6} {share:>6} {base:>5}"
        lines.append(line)
    return "\n".join(lines)

"""The "eta" benchmark: prediction error 24 h before delivery against the template-offset
baseline, on generated history (integrations.eta.history).

Train/test split: the history shipments are generated and the lane statistics computed from
them; only then are the evaluated shipments generated (other seed, more recent bookings), and
the statistics are not recomputed, so nothing of an evaluated shipment reaches the predictor.
Both figures come from the same reconstruction (the engine as of delivery - 24 h), in the
same run.
"""

from __future__ import annotations

import time

from django.utils import timezone

from integrations.eta.accuracy import accuracy_samples, figures
from integrations.eta.history import generate_delivered
from integrations.eta.services import lane_stats_recompute
from shipments.models import Shipment
from tenancy.context import tenant_context
from tenancy.models import Tenant


def bench_eta(tenant: Tenant, *, history: int = 5000, evaluated: int = 1000) -> dict[str, object]:
    now = timezone.now()
    with tenant_context(tenant.pk):
        started = time.perf_counter()
        generate_delivered(count=history, now=now, seed=13, booked_from_days=170, booked_to_days=30)
        generated_s = time.perf_counter() - started
        stats = lane_stats_recompute(now=now)
        test_ids = generate_delivered(
            count=evaluated, now=now, seed=29, booked_from_days=28, booked_to_days=8, prefix="T"
        )
        started = time.perf_counter()
        shipments = list(Shipment.objects.filter(pk__in=test_ids).order_by("pk"))
        result = figures(accuracy_samples(shipments, horizons=(24,)))
        evaluate_s = time.perf_counter() - started
    ratio = (
        round(result.mae_h / result.baseline_mae_h, 3)
        if result.mae_h is not None and result.baseline_mae_h
        else None
    )
    return {
        "shipments": stats.shipments,
        "evaluated": result.n,
        "mae_h_24h": result.mae_h,
        "baseline_mae_h_24h": result.baseline_mae_h,
        "ratio_to_baseline": ratio,
        "in_window_share": result.in_window_share,
        "bias_h_24h": result.bias_h,
        "sources": result.sources,
        "lane_stat_rows": stats.rows,
        "lane_stats_s": round(stats.seconds, 3),
        "generate_history_s": round(generated_s, 2),
        "evaluate_s": round(evaluate_s, 2),
    }

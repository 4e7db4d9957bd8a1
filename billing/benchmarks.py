"""Ingest with billing: the ingest benchmark (integrations.benchmarks.bench_ingest) in a
tenant whose rate card charges every delivery, revenue and expected carrier cost (the demo's
standard tariff). Every shipment of that benchmark is delivered in its message, so every
applied batch creates two charges per shipment. Compare its ``ratio`` (to the COPY floor of
the same run) with plain ``ingest``'s: ``bench_all --only ingest --only ingest_billing``.

``billing_hook``: the charging hook alone, A/B in one process (see bench_billing_hook).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from billing import charging, services
from billing.models import Charge, Direction
from integrations.benchmarks import _shipments, ingest_run
from milestones.services import templates_install_defaults
from shipments import hooks
from shipments.models import Classifier, Shipment, SourceKind
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context


def bench_ingest_billing(tenant) -> dict:
    with tenant_context(tenant.pk):
        _tariff()
    # One run, with detection as deployed (bench_ingest measures its cost).
    result = ingest_run(tenant, int(os.environ.get("BENCH_INGEST_MESSAGES", "300")))
    with tenant_context(tenant.pk):
        result["charges"] = Charge.objects.count()
    return result


def bench_billing_hook(tenant, *, shipments: int | None = None, batch: int = 40) -> dict:
    """The charging hook alone, in this process: the hook as ingestion runs it (fast path in
    SQL, the evaluation only for the due shipments) against evaluating every shipment of the
    batch in Python (``only_due=False``: what the hook did before), alternating batch by
    batch so the machine's load hits both alike. Three cases, medians in ms per batch of
    ``batch`` shipments (two rules: revenue and expected cost on ``delivered``): first
    deliveries (``new``), the same shipments again (``settled``, e.g. a POD after delivery),
    shipments that reached no rule's milestone (``none``)."""
    count = shipments or int(os.environ.get("BENCH_BILLING_SHIPMENTS", "2400"))
    with tenant_context(tenant.pk):
        templates_install_defaults()
        _tariff()
        _shipments(count, "BIL")
        ids = list(Shipment.objects.order_by("pk").values_list("pk", flat=True))
    batches = [ids[o : o + batch] for o in range(0, len(ids), batch)]
    half = len(batches) // 2
    delivered, departed = batches[:half], batches[half:]
    hooks_before = list(hooks._timeline_changed)
    hooks._timeline_changed[:] = [h for h in hooks_before if h[0] is not charging.timelines_changed]
    try:
        for group, codes in ((delivered, DELIVERY), (departed, DEPARTURE)):
            for ids_ in group:
                with tenant_context(tenant.pk):
                    events_record(events=_events(ids_, codes))
    finally:
        hooks._timeline_changed[:] = hooks_before
    times: dict[str, list[float]] = {}

    def timed(name: str, ids_: list[int]) -> None:
        with tenant_context(tenant.pk):
            started = time.perf_counter()
            if name.startswith("hook"):
                charging.timelines_changed(ids_)
            else:
                charging.charges_evaluate(shipment_ids=ids_, only_due=False)
            times.setdefault(name, []).append(time.perf_counter() - started)

    # First deliveries: each batch is charged once, so the two take turns on like batches.
    for n, ids_ in enumerate(delivered):
        timed("hook_new" if n % 2 else "all_new", ids_)
    for case, group in (("settled", delivered), ("none", departed)):
        for n, ids_ in enumerate(group):
            for name in (f"hook_{case}", f"all_{case}")[:: 1 if n % 2 else -1]:
                timed(name, ids_)
    with tenant_context(tenant.pk):
        charges = Charge.objects.count()
    result: dict = {"shipments": count, "batch": batch, "charges": charges}
    for name, values in sorted(times.items()):
        result[f"{name}_ms"] = round(statistics.median(values) * 1000, 2)
    return result


def _tariff() -> None:
    services.rate_card_create(
        name="Benchmark tariff",
        lines=[
            services.LineSpec(
                code="freight",
                description="Freight, delivered",
                amount="95.00",
                currency="EUR",
                tax_rate="19",
            ),
            services.LineSpec(
                code="freight",
                description="Carrier freight",
                amount="70.00",
                currency="EUR",
                direction=Direction.COST,
            ),
        ],
    )


DELIVERY = ("picked_up", "departed", "arrived", "delivered")
DEPARTURE = ("departed", "arrived")
BASE = datetime(2026, 10, 1, 8, tzinfo=UTC)


def _events(ids: list[int], codes: tuple[str, ...]) -> list[NewEvent]:
    return [
        NewEvent(
            shipment_id=shipment_id,
            milestone=code,
            occurred_at=BASE + timedelta(hours=6 * n),
            classifier=Classifier.ACTUAL,
            source_kind=SourceKind.INTEGRATION,
            source_name="bench",
            dedupe_key=f"{code}:{shipment_id}",
        )
        for shipment_id in ids
        for n, code in enumerate(codes, 1)
    ]

"""Ingest with billing: the ingest benchmark (integrations.benchmarks.bench_ingest) in a
tenant whose rate card charges every delivery, revenue and expected carrier cost (the demo's
standard tariff). Every shipment of that benchmark is delivered in its message, so every
applied batch creates two charges per shipment. Compare its ``ratio`` (to the COPY floor of
the same run) with plain ``ingest``'s: ``bench_all --only ingest --only ingest_billing``.
"""

from __future__ import annotations

from billing import services
from billing.models import Charge, Direction
from integrations.benchmarks import bench_ingest
from tenancy.context import tenant_context


def bench_ingest_billing(tenant) -> dict:
    with tenant_context(tenant.pk):
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
    result = bench_ingest(tenant)
    with tenant_context(tenant.pk):
        result["charges"] = Charge.objects.count()
    return result

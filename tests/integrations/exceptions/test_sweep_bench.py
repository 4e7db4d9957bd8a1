"""The sweep benchmark's proof at a small size (the full million is `make bench`): the data
set it builds, and one set-based statement opening, updating and resolving what it should."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.exceptions import benchmarks
from integrations.exceptions.models import ShipmentException
from tenancy.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "owner"])


def test_the_sweep_benchmark_at_a_small_size(acme, monkeypatch):
    monkeypatch.setattr(benchmarks, "CHUNK", 700)  # several chunks
    with CaptureQueriesContext(connection) as queries:
        result = benchmarks.bench_sweep(acme.tenant, shipments=2000)
    assert result["shipments"] == 2000 and result["deadline_rows"] == 20_000
    assert (result["opened"], result["updated"], result["resolved"]) == (160, 40, 40)
    assert result["exceptions_changed"] == 240
    assert result["overdue_rows"] == 2000 * 20 // 100
    with tenant_context(acme.tenant.pk):
        open_rows = ShipmentException.objects.exclude(status="resolved")
        assert open_rows.count() == 160 + 40 + 200
        assert open_rows.filter(severity="major").count() == 40
    # The sweep is two statements (the due deadlines; positions and feeds), after the
    # threshold reads and the outbox's listener lookup, whatever the size.
    sweep_sql = [
        q["sql"] for q in queries.captured_queries if "WITH" in q["sql"] and "cond" in q["sql"]
    ]
    assert len(sweep_sql) == 2


@pytest.mark.soak
def test_the_sweep_benchmark_at_a_fifth_of_full_size(acme):
    """`make soak`: 200,000 shipments, 2M deadline rows; the full million is `make bench`."""
    result = benchmarks.bench_sweep(acme.tenant, shipments=200_000)
    assert (result["opened"], result["updated"], result["resolved"]) == (16_000, 4_000, 4_000)
    assert result["seconds"] < 10

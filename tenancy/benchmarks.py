"""What the signed tenant context costs: the same scan under the signed policy and a plain one.

Two probe tables with the same rows (``rows`` across two tenants): one guarded by the real
policy expression (``tenant_id = (SELECT milepost_tenant_id())``, tenancy.rls), one by the
policy Milepost had before the context was signed (a plain ``current_setting``, evaluated per
row), and a floor: the unsigned setting read once per statement (a scalar subquery). The app
role counts its tenant's rows in each, alternating, inside one signed context; the figures are
medians. The plan of the signed one must show the verifier as an InitPlan (evaluated once per
statement): that is why it costs what the floor costs. Probe tables are dropped afterwards.

Run through ``python manage.py bench_all --only rls`` (``make bench``).
"""

from __future__ import annotations

import statistics
import time

from django.db import connections, transaction

from tenancy.context import tenant_context
from tenancy.models import Tenant
from tenancy.rls import app_role_of, tenant_condition, tenant_owned_models

SIGNED, PLAIN, FLOOR = "bench_rls_signed", "bench_rls_plain", "bench_rls_floor"
TABLES = (SIGNED, PLAIN, FLOOR)
PLAIN_SETTING = "milepost.bench_plain_tenant"
_unsigned = f"nullif(current_setting('{PLAIN_SETTING}', true), '')::bigint"


def bench_rls(tenant, *, rows: int = 2_000_000, repeats: int = 9) -> dict:
    other = tenant.pk + 1_000_000  # a second tenant's rows: never visible
    _create_probes(tenant.pk, other, rows)
    try:
        medians, plan = _measure(tenant.pk, repeats)
    finally:
        _drop_probes()
    return {
        "rows": rows,
        "visible_rows": rows // 2,
        "signed_ms": round(medians[SIGNED], 2),
        "unsigned_per_row_ms": round(medians[PLAIN], 2),
        "floor_ms": round(medians[FLOOR], 2),
        "ratio_to_floor": round(medians[SIGNED] / medians[FLOOR], 3),
        "initplan": "InitPlan" in plan,
    }


def _create_probes(tenant_id: int, other: int, rows: int) -> None:
    owner = connections["owner"]
    app_role = app_role_of(owner)
    with transaction.atomic(using="owner"), owner.cursor() as cursor:
        for table, condition in (
            (SIGNED, tenant_condition()),
            (PLAIN, f"tenant_id = {_unsigned}"),
            (FLOOR, f"tenant_id = (SELECT {_unsigned})"),
        ):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE {table} AS SELECT "  # noqa: S608 — constant names
                "(CASE WHEN i %% 2 = 0 THEN %s ELSE %s END)::bigint AS tenant_id, i AS value "
                "FROM generate_series(1, %s) AS i",
                [tenant_id, other, rows],
            )
            cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"CREATE POLICY probe ON {table} USING ({condition})")
            if app_role:
                cursor.execute(f'GRANT SELECT ON {table} TO "{app_role}"')
            cursor.execute(f"ANALYZE {table}")


def _measure(tenant_id: int, repeats: int) -> tuple[dict[str, float], str]:
    timings: dict[str, list[float]] = {table: [] for table in TABLES}
    with tenant_context(tenant_id), connections["default"].cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [PLAIN_SETTING, str(tenant_id)])
        cursor.execute(f"EXPLAIN SELECT count(*) FROM {SIGNED}")  # noqa: S608
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for table in TABLES:  # warm both into the buffer cache
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        for _ in range(repeats):
            for table in TABLES:
                started = time.perf_counter()
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
                (count,) = cursor.fetchone()
                timings[table].append((time.perf_counter() - started) * 1000)
                if count == 0:
                    raise RuntimeError(f"{table}: the context shows no rows")
    return {table: statistics.median(values) for table, values in timings.items()}, plan


def _drop_probes() -> None:
    with transaction.atomic(using="owner"), connections["owner"].cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def purge_tenant(tenant: Tenant) -> None:
    """Delete the benchmark tenant and everything it owns.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED in PostgreSQL, so raw deletes in
    any order inside one transaction are checked only at commit, when nothing is left.
    """
    with tenant_context(tenant.pk):
        for model in tenant_owned_models():
            manager = model._default_manager
            manager.all()._raw_delete(manager.db)
        Tenant.objects.filter(pk=tenant.pk).delete()

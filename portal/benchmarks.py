"""Benchmarks of the partner API (issue 14), run by ``python manage.py bench_all``.

``api``: a shipment's timeline (about 10 milestones, 50 events) read over HTTP at 32
concurrent connections from gunicorn as deployed (3 sync workers, DEBUG off), against the
floor in the same run and server: a bare Django view answering one indexed 30-row query as
JSON (config/bench_urls.py). Each figure is measured ``BENCH_API_RUNS`` times (default 3),
alternating floor and API; every run is reported.

``scale``: the list (filtered by an uncommon status and mode, first page), a timeline read
and ingest in a tenant of 1,000,000 shipments and 10,000,000 events and in one of 10,000
(100,000 events), same run. The data sets are loaded with COPY (into a session temp table,
then one INSERT … SELECT per chunk under the tenant's row-level security) and timed.
``BENCH_SCALE_SHIPMENTS`` shrinks the big tenant (e.g. for a quick try).
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.test import Client

from integrations import pipeline
from integrations.benchmarks import Services, _free_port, _http_ok, _x12
from integrations.models import Channel
from integrations.services import integration_create, message_store
from milestones.selectors import template_latest_version
from shipments.benchmarks import SHIPMENT_COLUMNS
from shipments.models import PUBLIC_ID_ALPHABET, Shipment
from shipments.services import NewEvent, events_record, shipment_create, timelines_refresh
from tenancy.benchmarks import purge_tenant
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tenancy.services import api_key_issue, tenant_create

RUNS = int(os.environ.get("BENCH_API_RUNS", "3"))
CONCURRENCY = 32

# --- "api" -----------------------------------------------------------------------------------


def _timeline_shipment(prefix: str) -> Shipment:
    """An ocean FCL shipment (its template: 10 milestones) with 50 events from four sources:
    actuals of the first milestones, estimates and plans of the rest."""
    booked = datetime.now(UTC) - timedelta(days=12)
    shipment = shipment_create(
        mode="ocean_fcl", references=[("booking", f"{prefix}-TL")], booked_at=booked
    )
    codes = [d.code for d in shipment.template_version.definitions.order_by("sequence")]
    sources = [("integration", "dcsa:MAEU"), ("integration", "x12:ACME"), ("partner", "relay")]
    events = []
    for n in range(50):
        code = codes[n % len(codes)]
        kind, name = sources[n % 3]
        classifier = "ACT" if n % len(codes) < 3 and n < len(codes) else ("EST", "PLN")[n % 2]
        events.append(
            NewEvent(
                shipment_id=shipment.pk,
                milestone=code,
                occurred_at=booked + timedelta(hours=6 * (n % len(codes)) + n),
                classifier=classifier,
                source_kind=kind,
                source_name=name,
                location="NLRTM" if n % 2 else "DEHAM",
                dedupe_key=f"bench-{n}",
            )
        )
    events_record(events=events)
    shipment.refresh_from_db()
    return shipment


def _load(port: int, path: str, key: str, seconds: float) -> dict:
    out = subprocess.run(  # noqa: S603 — our own interpreter and module
        [
            sys.executable,
            "-m",
            "portal.loadgen",
            "--port",
            str(port),
            "--path",
            path,
            "--header",
            f"Authorization: Bearer {key}",
            "--concurrency",
            str(CONCURRENCY),
            "--seconds",
            str(seconds),
            "--warmup",
            "2",
        ],
        capture_output=True,
        check=True,
        cwd=settings.BASE_DIR,
        timeout=seconds + 120,
    )
    return json.loads(out.stdout)


class WebServer(Services):
    """gunicorn as deployed (docker-compose: 3 sync workers), with the benchmark's URLconf
    and a rate limit that still runs on every request but does not refuse the load."""

    def __init__(self, port: int) -> None:
        super().__init__(workers=1, port=port)
        self.env |= {"API_RATE_LIMIT_BURST": "100000000", "API_RATE_LIMIT_PER_SECOND": "1e9"}

    def __enter__(self) -> WebServer:
        bin_dir = os.path.dirname(sys.executable)
        self._start(
            [
                os.path.join(bin_dir, "gunicorn"),
                "config.bench_wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "3",
                "--log-level",
                "warning",
            ]
        )
        deadline = time.monotonic() + 60
        while not _http_ok(self.port, "/healthz"):
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark's gunicorn did not start")
            time.sleep(0.2)
        return self


def bench_api(tenant: Tenant, *, seconds: float | None = None) -> dict:
    seconds = seconds or float(os.environ.get("BENCH_API_SECONDS", "8"))
    with tenant_context(tenant.pk):
        shipment = _timeline_shipment("API")
        for n in range(30):  # the floor's 30 rows
            shipment_create(
                mode="road_ftl",
                references=[("tracking_number", f"FLOOR{n}")],
                booked_at=datetime.now(UTC) - timedelta(hours=n),
            )
        key = api_key_issue(name="bench", scopes=["read"]).raw_key
        events = shipment.events.count()
        milestones = len(shipment.timeline.get("rows", []))
    timeline_path = f"/api/v1/shipments/{shipment.public_id}/timeline/"
    runs: list[dict] = []
    with WebServer(_free_port()) as server:
        for _ in range(RUNS):
            floor = _load(server.port, "/bench/floor/", key, seconds)
            api = _load(server.port, timeline_path, key, seconds)
            runs.append({"floor": floor, "api": api})
    for run in runs:
        for side in ("floor", "api"):
            if set(run[side]["statuses"]) != {"200"}:
                raise RuntimeError(f"{side} answered {run[side]['statuses']}")
    best = max(runs, key=lambda r: r["api"]["rps"] / r["floor"]["rps"])
    median_ratio = statistics.median(r["api"]["rps"] / r["floor"]["rps"] for r in runs)
    return {
        "rps": statistics.median(r["api"]["rps"] for r in runs),
        "p99_ms": statistics.median(r["api"]["p99_ms"] for r in runs),
        "floor_rps": statistics.median(r["floor"]["rps"] for r in runs),
        "floor_p99_ms": statistics.median(r["floor"]["p99_ms"] for r in runs),
        "ratio": round(median_ratio, 3),
        "best_ratio": round(best["api"]["rps"] / best["floor"]["rps"], 3),
        "concurrency": CONCURRENCY,
        "seconds_per_run": seconds,
        "milestones": milestones,
        "events": events,
        "runs": runs,
    }


# --- "scale" ---------------------------------------------------------------------------------

BIG_SHIPMENTS = int(os.environ.get("BENCH_SCALE_SHIPMENTS", "1000000"))
SMALL_SHIPMENTS = 10_000
EVENTS_PER_SHIPMENT = 10
CHUNK = 20_000  # shipments per COPY + INSERT … SELECT (bigger statements got slower per row)
MODES = ("ocean_fcl", "road_ftl", "parcel", "air", "last_mile")
MODE_WEIGHTS = (30, 30, 20, 10, 10)
STATUSES = ("delivered", "in_transit", "booked", "at_customs", "exception", "out_for_delivery")
STATUS_WEIGHTS = (60, 25, 8, 3, 2, 2)
MILESTONES = ("order_created", "picked_up", "departed", "arrived", "delivered")
# The filtered list: an uncommon status and mode (0.3% of the shipments).
LIST_PATH = "/api/v1/shipments/?status=at_customs&mode=air"
INGEST_MESSAGES, INGEST_PER_MESSAGE = 10, 40

EVENT_COLUMNS = (
    "tenant_id",
    "shipment_id",
    "milestone",
    "occurred_at",
    "classifier",
    "location",
    "source_kind",
    "source_name",
    "raw_code",
    "dedupe_key",
    "recorded_at",
    "voids",
    "reason",
    "tz_unknown",
    "details",
)


def _copy(cursor, table: str, columns: tuple[str, ...], text: str, returning: str = "") -> list:
    """COPY rows into a temp table shaped like ``table``, then move them in one INSERT under
    the tenant's row-level security (COPY itself is refused on an RLS table)."""
    stage = f"bench_stage_{table}"
    cols = ", ".join(columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols} FROM {table} WITH NO DATA; "  # noqa: S608
        f"TRUNCATE {stage}"
    )
    cursor.cursor.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", io.StringIO(text))
    tail = f" RETURNING {returning}" if returning else ""
    cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}{tail}")  # noqa: S608
    return cursor.fetchall() if returning else []


def _public_id(rng: random.Random) -> str:
    return "shp_" + "".join(rng.choices(PUBLIC_ID_ALPHABET, k=16))


def _build(tenant: Tenant, count: int, prefix: str, seed: int) -> dict:
    """``count`` shipments with a reference each and EVENTS_PER_SHIPMENT events each."""
    rng = random.Random(seed)
    started = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with tenant_context(tenant.pk):
        versions = {mode: template_latest_version(mode=mode).pk for mode in MODES}
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        with tenant_context(tenant.pk), connection.cursor() as cursor:
            lines = []
            for n in range(done, done + size):
                mode = rng.choices(MODES, MODE_WEIGHTS)[0]
                status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
                booked = (base + timedelta(minutes=n)).isoformat()
                lines.append(
                    f"{tenant.pk}\t{_public_id(rng)}\t{mode}\t\tCarrier {n % 40}\t\t\t\t\t\t\t"
                    f"{versions[mode]}\t{booked}\t{booked}\t{booked}\t{status}\t{status}\t\t"
                    f"{rng.randrange(100)}\t{'t' if rng.random() < 0.05 else 'f'}\t{{}}\n"
                )
            rows = _copy(cursor, "shipments_shipment", SHIPMENT_COLUMNS, "".join(lines), "id")
            ids = sorted(row[0] for row in rows)
            refs = "".join(
                f"{tenant.pk}\t{sid}\tbooking\t{prefix}{done + i:07d}\n"
                for i, sid in enumerate(ids)
            )
            _copy(
                cursor,
                "shipments_shipmentreference",
                ("tenant_id", "shipment_id", "kind", "value"),
                refs,
            )
        # Committed and analysed before the events go in: the events' per-statement shipment
        # check (shipments migration 0004) is planned from the shipments' statistics, and
        # planned for a near-empty table it probes by sequential scan (quadratic).
        _analyze("shipments_shipment")
        with tenant_context(tenant.pk), connection.cursor() as cursor:
            events = []
            for i, sid in enumerate(ids):
                booked_at = base + timedelta(minutes=done + i)
                for e in range(EVENTS_PER_SHIPMENT):
                    at = (booked_at + timedelta(hours=5 * e)).isoformat()
                    events.append(
                        f"{tenant.pk}\t{sid}\t{MILESTONES[e % 5]}\t{at}\t"
                        f"{'ACT' if e < 5 else 'EST'}\tNLRTM\tintegration\tx12:BULK\tX{e}\t"
                        f"bulk{e}\t{at}\tf\t\tf\t{{}}\n"
                    )
            _copy(cursor, "shipments_trackingevent", EVENT_COLUMNS, "".join(events))
        done += size
    return {"seconds": round(time.perf_counter() - started, 1)}


def _analyze(table: str) -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")


def _vacuum() -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) shipments_shipment, shipments_shipmentreference, "
            "shipments_trackingevent"
        )


def _client(key: str) -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def _p50_ms(client: Client, path: str, reads: int) -> float:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    return round(statistics.median(times), 2)


def _explain(tenant: Tenant) -> dict[str, str]:
    """The plans of the list's two queries as the API sends them (tenancy.api.pagination
    .paginate): the page's keys, then the page's rows by their public ids alone."""
    with tenant_context(tenant.pk), connection.cursor() as cursor:
        keys = (
            Shipment.objects.filter(status="at_customs", mode="air")
            .order_by("-booked_at", "-public_id")
            .values_list("booked_at", "public_id")[:51]
        )
        page = [public_id for _, public_id in keys[:50]]
        rows = Shipment.objects.filter(public_id__in=page).order_by()
        plans = {}
        for name, query in (("keys", keys), ("rows", rows)):
            sql, params = query.query.sql_with_params()
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS) {sql}", params)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
        return plans


def _ingest(tenant: Tenant, prefix: str, offset: int) -> float:
    """Events/s of the pipeline (parse, match by reference, insert, refresh timelines) for
    INGEST_MESSAGES X12 messages of INGEST_PER_MESSAGE shipments x 4 events, in-process."""
    with tenant_context(tenant.pk):
        integration = integration_create(name=f"bench {offset}", kind="x12", partner_name="BULK")
        ids = []
        for m in range(INGEST_MESSAGES):
            first = offset + m * INGEST_PER_MESSAGE
            refs = [f"{prefix}{n:07d}" for n in range(first, first + INGEST_PER_MESSAGE)]
            body = _x12(refs, 5000 + offset + m, datetime(2026, 10, 1, 8, tzinfo=UTC))
            with transaction.atomic():
                ids.append(
                    message_store(integration=integration, channel=Channel.UPLOAD, body=body).pk
                )
    started = time.perf_counter()
    with tenant_context(tenant.pk):
        outcomes = pipeline.process_messages(ids)
    elapsed = time.perf_counter() - started
    with tenant_context(tenant.pk):
        from shipments.models import TrackingEvent

        applied = TrackingEvent.objects.filter(inbound_message_id__in=ids).count()
    if applied != INGEST_MESSAGES * INGEST_PER_MESSAGE * 4 or any(o.errors for o in outcomes):
        raise RuntimeError(f"ingest applied {applied} events")
    return round(applied / elapsed, 1)


def _measure(tenant: Tenant, prefix: str, count: int, key: str, run: int) -> dict:
    client = _client(key)
    with tenant_context(tenant.pk):
        target = Shipment.objects.filter(references__value=f"{prefix}{count // 2:07d}").get()
        timelines_refresh(shipment_ids=[target.pk])
    timeline = f"/api/v1/shipments/{target.public_id}/timeline/"
    _p50_ms(client, LIST_PATH, 20)  # warm
    return {
        "list_p50_ms": _p50_ms(client, LIST_PATH, 200),
        "timeline_p50_ms": _p50_ms(client, timeline, 200),
        # Fresh shipments each run (a replay would insert nothing).
        "ingest_events_per_s": _ingest(
            tenant, prefix, offset=run * INGEST_MESSAGES * INGEST_PER_MESSAGE
        ),
    }


def bench_scale(tenant: Tenant) -> dict:
    small = tenant_create(slug=f"bench-scale-small-{int(time.time())}", name="Benchmark small")
    try:
        big_build = _build(tenant, BIG_SHIPMENTS, "B", seed=1)
        small_build = _build(small, SMALL_SHIPMENTS, "S", seed=2)
        started = time.perf_counter()
        _vacuum()
        vacuum_s = time.perf_counter() - started
        keys = {}
        for who in (tenant, small):
            with tenant_context(who.pk):
                keys[who.pk] = api_key_issue(name="bench", scopes=["read"]).raw_key
        debug, settings.DEBUG = settings.DEBUG, False  # as deployed: no query log
        # The limiter still runs on every request; it just must not refuse the benchmark.
        burst, settings.API_RATE_LIMIT_BURST = settings.API_RATE_LIMIT_BURST, 10**9
        try:
            runs = []
            for run in range(RUNS):
                runs.append(
                    {
                        "big": _measure(tenant, "B", BIG_SHIPMENTS, keys[tenant.pk], run),
                        "small": _measure(small, "S", SMALL_SHIPMENTS, keys[small.pk], run),
                    }
                )
        finally:
            settings.DEBUG, settings.API_RATE_LIMIT_BURST = debug, burst
        plans = {"big": _explain(tenant), "small": _explain(small)}
    finally:
        purge_tenant(small)

    def median(side: str, name: str) -> float:
        return statistics.median(r[side][name] for r in runs)

    result = {
        "shipments": BIG_SHIPMENTS,
        "events": BIG_SHIPMENTS * EVENTS_PER_SHIPMENT,
        "list_p50_ms": median("big", "list_p50_ms"),
        "list_p50_ms_small": median("small", "list_p50_ms"),
        "timeline_p50_ms": median("big", "timeline_p50_ms"),
        "timeline_p50_ms_small": median("small", "timeline_p50_ms"),
        "ingest_events_per_s": median("big", "ingest_events_per_s"),
        "ingest_events_per_s_small": median("small", "ingest_events_per_s"),
        "copy_load_s": big_build["seconds"],
        "copy_load_small_s": small_build["seconds"],
        "vacuum_analyze_s": round(vacuum_s, 1),
        "runs": runs,
        "plans": plans,
    }
    return result

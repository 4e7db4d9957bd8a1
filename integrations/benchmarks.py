"""End-to-end ingest benchmark against the raw PostgreSQL COPY floor, measured in one run.

N messages of mixed formats (X12 214 and DCSA T&T, many events each) are POSTed over real HTTP
to the webhook endpoint served by gunicorn, stored, enqueued to Redis and processed by a real
Celery worker (2 processes): parsed, matched, applied, timelines recomputed (the hooks fire:
exception checks and live updates hang there). The clock runs from the first accept to the
last processed message, after a few warm-up messages. The floor, in the same run: COPY of as
many rows into a scratch table shaped and indexed like the events table.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Max
from django.utils import timezone

from integrations.models import InboundMessage, MessageStatus
from integrations.services import integration_create
from shipments.models import Shipment, ShipmentReference, TrackingEvent
from tenancy.benchmarks import purge_tenant
from tenancy.context import current_tenant_id, tenant_context
from tenancy.services import tenant_create

# The bulk workers' niceness, as deployed (scripts/run.sh, docker-compose.yml).
BULK_NICE = int(os.environ.get("BENCH_BULK_NICE", "10"))
# Worker processes: one per core keeps Python busy while PostgreSQL works on the other's I/O.
WORKERS = int(os.environ.get("BENCH_INGEST_WORKERS", "2"))
# Processed before the clock starts (see bench_ingest).
WARMUP_MESSAGES = 8
X12_CODES = ("AF", "P1", "X1", "D1")
DCSA_CODES = (("TRANSPORT", "DEPA"), ("TRANSPORT", "ARRI"))


def _x12(shipment_refs: list[str], control: int, base: datetime) -> bytes:
    segments = [
        f"ISA*00*          *00*          *ZZ*BENCHCARRIER   *ZZ*MILEPOST       *"
        f"{base:%y%m%d}*{base:%H%M}*U*00401*{control:09d}*0*P*:",
        f"GS*QM*BENCH*MILEPOST*{base:%Y%m%d}*{base:%H%M}*{control}*X*004010",
    ]
    for n, ref in enumerate(shipment_refs, 1):
        body = [f"ST*214*{n:04d}", f"B10*PRO{control}{n}*{ref}*BNCH"]
        for lx, code in enumerate(X12_CODES, 1):
            at = base + timedelta(hours=6 * lx)
            body += [f"LX*{lx}", f"AT7*{code}*NS***{at:%Y%m%d}*{at:%H%M}*UT"]
        body.append(f"SE*{len(body) + 1}*{n:04d}")
        segments += body
    segments += [f"GE*{len(shipment_refs)}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(segments) + "~\n").encode()


def _dcsa(shipment_refs: list[str], base: datetime) -> bytes:
    events = []
    for ref in shipment_refs:
        for n, (event_type, code) in enumerate(DCSA_CODES):
            at = base + timedelta(days=2 + n * 20)
            events.append(
                {
                    "eventID": str(uuid.uuid4()),
                    "eventType": event_type,
                    "eventCreatedDateTime": (at + timedelta(minutes=5)).isoformat(),
                    "eventClassifierCode": "ACT",
                    "eventDateTime": at.isoformat(),
                    "transportEventTypeCode": code,
                    "documentReferences": [
                        {"documentReferenceType": "BKG", "documentReferenceValue": ref}
                    ],
                    "transportCall": {"UNLocationCode": "NLRTM", "modeOfTransport": "VESSEL"},
                }
            )
    return json.dumps(events).encode()


def _shipments(count: int, prefix: str) -> list[str]:
    from milestones.selectors import template_latest_version

    version = template_latest_version(mode="ocean_fcl")
    booked = timezone.now() - timedelta(days=30)
    rows = Shipment.objects.bulk_create(
        [
            Shipment(
                mode="ocean_fcl",
                template_version=version,
                booked_at=booked,
                tenant_id=current_tenant_id(),
            )
            for _ in range(count)
        ]
    )
    refs = [f"{prefix}{n:06d}" for n in range(count)]
    ShipmentReference.objects.bulk_create(
        [
            ShipmentReference(shipment=s, kind="booking", value=ref, tenant_id=s.tenant_id)
            for s, ref in zip(rows, refs, strict=True)
        ]
    )
    return refs


def _copy_floor(rows: int) -> float:
    """Rows/s for COPY of as many event rows into a regular (logged) table shaped and indexed
    like the events table. PostgreSQL refuses COPY FROM into a table under row-level security,
    so the schema owner makes the scratch copy and drops it afterwards."""
    now = datetime.now(UTC).isoformat()
    buffer = io.StringIO()
    for n in range(rows):
        buffer.write(
            f"{current_tenant_id()}\t{n}\tdelivered\t{now}\tACT\tNLRTM\tintegration\t"
            f"x12:bench\tD1\tfloor{n}\t{now}\tf\t\tf\t{{}}\n"
        )
    buffer.seek(0)
    columns = (
        "tenant_id, shipment_id, milestone, occurred_at, classifier, location, source_kind, "
        "source_name, raw_code, dedupe_key, recorded_at, voids, reason, tz_unknown, details"
    )
    table = f"bench_floor_{uuid.uuid4().hex[:8]}"
    owner = connections["owner"]
    with transaction.atomic(using="owner"), owner.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (LIKE shipments_trackingevent INCLUDING DEFAULTS "
            "INCLUDING INDEXES INCLUDING IDENTITY)"
        )
        try:
            started = time.perf_counter()
            cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
            elapsed = time.perf_counter() - started
        finally:
            cursor.execute(f"DROP TABLE {table}")
    return rows / elapsed


class Services:
    """A real WSGI server and Celery worker on a private queue, for the duration of a run."""

    def __init__(self, *, workers: int, port: int, interactive_workers: int = 1) -> None:
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.interactive_queue = f"{self.queue}-interactive"
        self.port = port
        self.workers = workers
        self.interactive_workers = interactive_workers
        self.env = os.environ | {
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_INTERACTIVE_QUEUE": self.interactive_queue,
            "PYTHONUNBUFFERED": "1",
            # As deployed: in debug mode Django also records every query of every process.
            "DJANGO_DEBUG": "0",
        }
        self.processes: list[subprocess.Popen] = []
        self.worker_log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
        self.interactive_log = Path(
            tempfile.mkstemp(prefix="bench-worker-interactive-", suffix=".log")[1]
        )

    def __enter__(self) -> Services:
        bin_dir = Path(sys.executable).parent
        self._start(
            [
                str(bin_dir / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ]
        )
        # As deployed (scripts/run.sh, docker-compose.yml): the bulk workers consume both
        # queues at a lower CPU priority (BULK_NICE), a worker of its own only the interactive
        # one.
        # scripts/lowprio.sh: the niceness of the worker and of its session's autogroup.
        lowprio = ["bash", "scripts/lowprio.sh", str(BULK_NICE)] if BULK_NICE else []
        self._start(
            lowprio + self._worker(f"{self.queue},{self.interactive_queue}", self.workers, "bulk"),
            log=self.worker_log,
        )
        if self.interactive_workers:
            self._start(
                self._worker(self.interactive_queue, self.interactive_workers, "interactive"),
                log=self.interactive_log,
            )
        self._wait_ready()
        return self

    def _worker(self, queues: str, concurrency: int, name: str) -> list[str]:
        return [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-n",
            f"{name}-{self.queue}@%h",
            "--concurrency",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ]

    def _start(self, command: list[str], log: Path | None = None) -> None:
        out = log.open("wb") if log else subprocess.DEVNULL
        self.processes.append(
            subprocess.Popen(  # noqa: S603 — our own executables
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=settings.BASE_DIR,
                start_new_session=True,
            )
        )

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        web = worker = False
        logs = [self.worker_log] + ([self.interactive_log] if self.interactive_workers else [])
        while time.monotonic() < deadline and not (web and worker):
            web = web or _http_ok(self.port, "/healthz")
            worker = worker or all(b"ready." in log.read_bytes() for log in logs)
            time.sleep(0.2)
        if not (web and worker):
            raise RuntimeError(f"benchmark services did not start (web={web}, worker={worker})")

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.worker_log.unlink(missing_ok=True)
        self.interactive_log.unlink(missing_ok=True)


def _http_ok(port: int, path: str) -> bool:
    try:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection_.request("GET", path, headers={"Host": "localhost"})
        return connection_.getresponse().status == 200
    except OSError:
        return False


def _post(port: int, path: str, body: bytes, secret: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "Host": "localhost",
            "Content-Type": "application/octet-stream",
            "X-Milepost-Secret": secret,
        },
    )
    response = conn.getresponse()
    response.read()
    return response.status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _vacuum() -> None:
    """Clean up after earlier runs before the clock starts: otherwise autovacuum reclaims their
    purged rows during the measurement, on the same two cores. Also refreshes statistics."""
    tables = "shipments_trackingevent, shipments_shipment, shipments_shipmentreference"
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}, integrations_inboundmessage")


def _prepare(tenant, messages: int, per_message: int) -> list[tuple[str, bytes, str]]:
    with tenant_context(tenant.pk):
        x12 = integration_create(name="bench x12", kind="x12", partner_name="BNCH")
        dcsa = integration_create(name="bench dcsa", kind="dcsa", partner_name="BNCH")
        refs = _shipments(messages * per_message, prefix="BKG")
    base = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    posts = []
    for m in range(messages):
        chunk = refs[m * per_message : (m + 1) * per_message]
        integration = x12 if m % 2 == 0 else dcsa
        body = _x12(chunk, 1000 + m, base) if m % 2 == 0 else _dcsa(chunk, base)
        path = f"/api/v1/ingest/webhooks/{tenant.pk}/{integration.token}/"
        posts.append((path, body, integration.secret))
    return posts


def _wait_processed(tenant, count: int, timeout: float = 600) -> datetime:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_context(tenant.pk):
            done = InboundMessage.objects.exclude(
                status__in=[MessageStatus.RECEIVED, MessageStatus.PROCESSING]
            )
            if done.count() >= count:
                return done.aggregate(last=Max("processed_at"))["last"]
        time.sleep(0.2)
    raise RuntimeError(f"only some of {count} messages were processed within {timeout} s")


def _send(port: int, posts: list[tuple[str, bytes, str]]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = set(pool.map(lambda p: _post(port, *p), posts))
    if statuses != {202}:
        raise RuntimeError(f"webhook answered {sorted(statuses)}")


def bench_ingest(tenant, *, messages: int | None = None, per_message: int = 40) -> dict:
    """End to end over real HTTP (gunicorn) and real Celery workers, against the COPY floor;
    twice in the same run: with exception detection on every applied batch (the figure,
    ``events_per_s``) and, before it, without (``events_per_s_without_exceptions``, in a
    tenant of its own with the same data).

    A few messages go through first, unmeasured: they warm every server process up (lazy
    imports, URL resolver, broker and database connections) as in a server that has been
    running, so the figure is the steady state rather than process start-up.
    """
    messages = messages or int(os.environ.get("BENCH_INGEST_MESSAGES", "300"))
    bare = tenant_create(slug=f"{tenant.slug}-bare", name=f"{tenant.name} (no detection)")
    try:
        without = ingest_run(bare, messages, per_message, detect=False)
        result = ingest_run(tenant, messages, per_message, detect=True)
    finally:
        # Afterwards: autovacuum after a purge would run during the second measurement.
        purge_tenant(bare)
    result["events_per_s_without_exceptions"] = without["events_per_s"]
    result["floor_rows_per_s_without_exceptions"] = without["floor_rows_per_s"]
    # What detection keeps of the figure (1.0: all of it).
    result["kept_with_exceptions"] = round(result["events_per_s"] / without["events_per_s"], 3)
    return result


def ingest_run(tenant, messages: int, per_message: int = 40, *, detect: bool = True) -> dict:
    """One end-to-end ingest measurement (see bench_ingest)."""
    posts = _prepare(tenant, WARMUP_MESSAGES + messages, per_message)
    _vacuum()
    warmup, timed = posts[:WARMUP_MESSAGES], posts[WARMUP_MESSAGES:]
    services = Services(workers=WORKERS, port=_free_port(), interactive_workers=0)
    services.env["EXCEPTIONS_DETECT_ON_INGEST"] = "1" if detect else "0"
    with services:
        _send(services.port, warmup)
        _wait_processed(tenant, len(warmup))
        with tenant_context(tenant.pk):
            warmup_events = TrackingEvent.objects.count()
        started = timezone.now()
        _send(services.port, timed)
        accepted = timezone.now()
        finished = _wait_processed(tenant, len(posts))
    with tenant_context(tenant.pk):
        events = TrackingEvent.objects.count() - warmup_events
        failed = InboundMessage.objects.exclude(status=MessageStatus.PROCESSED).count()
        floor = _copy_floor(events)
    elapsed = (finished - started).total_seconds()
    events_per_s = events / elapsed
    return {
        "events_per_s": round(events_per_s, 1),
        "floor_rows_per_s": round(floor, 1),
        "ratio": round(events_per_s / floor, 4),
        "events": events,
        "messages": len(timed),
        "messages_not_processed_cleanly": failed,
        "accept_s": round((accepted - started).total_seconds(), 2),
        "total_s": round(elapsed, 2),
        "workers": WORKERS,
    }

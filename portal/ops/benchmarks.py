"""``push``: from an event accepted over HTTP to the websocket message at the dashboards.

Set-up, as deployed: gunicorn (the events API) and the Celery workers, bulk and interactive
(integrations.benchmarks.Services), uvicorn serving config.asgi (the websockets), Redis as
channel layer. ``clients``
websocket clients (default 200) log in as ops users of four tenants and follow their tenant's
ops group (/ws/ops/). A sample posts one event for one shipment to
/api/v1/shipments/<id>/events/ and times, for every client of that tenant, the arrival of the
``timeline.changed`` message naming the shipment: the worker applies the event, refreshes the
timeline and publishes after commit (tenancy.realtime: sequence number, replay copy, group
send), the ASGI server fans it out.

``idle``: nothing else runs. ``loaded``: meanwhile a thread ingests ``BENCH_PUSH_LOAD_EPS``
events per second (default 1,000) into the first tenant through /api/v1/events/ (batches of
100 events on 200 other shipments); the rate reached is reported as ``load_eps``.
``floor``: a bare channel-layer ``group_send`` to a group with one websocket client, through
the same server, in the same run. ``stages_idle`` / ``stages_loaded``: where the samples'
time went, from the stored message's own timestamps (``_stages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client

from integrations.benchmarks import Services, _free_port, _http_ok
from shipments.services import shipment_create
from tenancy.consumers import tenant_group
from tenancy.context import auth_scope, tenant_context
from tenancy.middleware import SESSION_TENANT_KEY
from tenancy.models import Membership, Role, Tenant, User
from tenancy.services import api_key_issue, tenant_create

CLIENTS = int(os.environ.get("BENCH_PUSH_CLIENTS", "200"))
SAMPLES = int(os.environ.get("BENCH_PUSH_SAMPLES", "40"))
LOAD_EPS = int(os.environ.get("BENCH_PUSH_LOAD_EPS", "1000"))
LOAD_BATCH = 100
LOAD_MILESTONES = ("picked_up", "departed", "arrived", "delivered")
TENANTS = 4
WAIT_S = 20.0
WORKERS = int(os.environ.get("BENCH_PUSH_WORKERS", "2"))


class AsgiServer:
    """uvicorn with config.asgi:application in a process of its own."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> AsgiServer:
        uvicorn = str(Path(sys.executable).parent / "uvicorn")
        env = os.environ | {"DJANGO_DEBUG": "0", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603 — our own executable
            [
                uvicorn,
                "config.asgi:application",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=open(os.environ.get("BENCH_PUSH_ASGI_LOG", os.devnull), "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _http_ok(self.port, "/healthz"):
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _session_cookie(user: User, tenant: Tenant) -> str:
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _prepare_tenant(tenant: Tenant, label: str, shipments: int) -> dict[str, Any]:
    user = User.objects.create_user(email=f"push-{label}-{tenant.pk}@bench.test")
    booked = datetime.now(UTC) - timedelta(hours=2)
    with tenant_context(tenant.pk):
        Membership.objects.create(user=user, role=Role.OPS)
        made = [
            shipment_create(
                mode="road_ftl",
                references=[("tracking_number", f"PUSH{label}{n:05d}")],
                booked_at=booked,
            )
            for n in range(shipments)
        ]
        key = api_key_issue(name="bench-push", scopes=["read", "write", "ingest"]).raw_key
    return {
        "tenant": tenant,
        "user": user,
        "cookie": _session_cookie(user, tenant),
        "key": key,
        "public_ids": [s.public_id for s in made],
        "references": [f"PUSH{label}{n:05d}" for n in range(shipments)],
    }


def _post(port: int, path: str, key: str, events: list[dict]) -> int:
    return _post_for(port, path, key, events)[0]


def _post_for(port: int, path: str, key: str, events: list[dict]) -> tuple[int, dict]:
    """The status and the JSON answer (the 202 names the stored message)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps({"events": events}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 — loopback
        return int(response.status), json.loads(response.read() or b"{}")


class Load(threading.Thread):
    """Posts LOAD_EPS events per second in batches until stopped; counts what was accepted."""

    def __init__(self, port: int, key: str, references: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.references = port, key, references
        self.stop = threading.Event()
        self.accepted = 0
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        interval = LOAD_BATCH / LOAD_EPS
        n = 0
        while not self.stop.is_set():
            due = started + n * interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            at = datetime.now(UTC).isoformat()
            # 25 shipments x 4 estimates a batch: carriers report several milestones of a
            # shipment at once, and each shipment touched is one timeline refresh.
            per = len(LOAD_MILESTONES)
            events = [
                {
                    "reference": self.references[
                        (n * LOAD_BATCH // per + i // per) % len(self.references)
                    ],
                    "milestone": LOAD_MILESTONES[i % per],
                    "occurred_at": at,
                    "classifier": "EST",
                    "dedupe_key": f"load-{n}-{i}",
                }
                for i in range(LOAD_BATCH)
            ]
            with contextlib.suppress(OSError):
                if _post(self.port, "/api/v1/events/", self.key, events) == 202:
                    self.accepted += LOAD_BATCH
            n += 1
        self.seconds = time.monotonic() - started


async def _clients(
    ws_port: int, audiences: list[tuple[str, int]], count: int, arrivals: dict
) -> tuple[list[Any], list[asyncio.Task]]:
    """``count`` websocket clients spread over the audiences (cookie, tenant index); each
    records (client, perf_counter) per public id it is told about."""
    import websockets

    sockets, tasks = [], []
    for n in range(count):
        cookie, _ = audiences[n % len(audiences)]
        socket = await websockets.connect(
            f"ws://127.0.0.1:{ws_port}/ws/ops/",
            additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{ws_port}"},
            max_queue=None,
        )
        await socket.recv()  # hello
        sockets.append(socket)

        async def listen(socket=socket, n=n) -> None:
            try:
                async for raw in socket:
                    now = time.perf_counter()
                    message = json.loads(raw)
                    for public_id in message.get("public_ids") or [message.get("probe")]:
                        if public_id in arrivals:
                            arrivals[public_id].append(now)
            except Exception as error:  # a client that fails shows in the sample's error
                arrivals.setdefault("_errors", []).append(f"client {n}: {error!r}")

        tasks.append(asyncio.ensure_future(listen()))
    return sockets, tasks


async def _sample(
    loop_port: int, tenant: dict[str, Any], public_id: str, listeners: int, arrivals: dict
) -> list[float]:
    arrivals[public_id] = []
    event = {
        "milestone": "picked_up",
        "occurred_at": datetime.now(UTC).isoformat(),
        "classifier": "ACT",
        "dedupe_key": f"push-{public_id}-{time.time_ns()}",
    }
    path = f"/api/v1/shipments/{public_id}/events/"
    wall, started = time.time(), time.perf_counter()
    status, answer = await asyncio.get_running_loop().run_in_executor(
        None, _post_for, loop_port, path, tenant["key"], [event]
    )
    if status != 202:
        raise RuntimeError(f"events API answered {status}")
    arrivals.setdefault("_accept_ms", []).append((time.perf_counter() - started) * 1000)
    deadline = time.monotonic() + WAIT_S
    while len(arrivals[public_id]) < listeners and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    got = arrivals.pop(public_id)
    if len(got) < listeners:  # counted as late as the wait, and reported
        arrivals.setdefault("_timeouts", []).append(listeners - len(got))
        got += [started + WAIT_S] * (listeners - len(got))
    # For the stages (see _stages): the request's start and the last arrival, wall clock.
    arrivals.setdefault("_traces", []).append(
        (tenant["tenant"].pk, answer.get("message_id"), wall, wall + max(got) - started)
    )
    return [(at - started) * 1000 for at in got]


def _stages(traces: list[tuple[int, int, float, float]]) -> dict[str, float]:
    """Where a sample's time went, from the stored message's own timestamps (one machine, one
    clock): ``stored`` the request's start to the row's received_at; ``queued`` to the worker's
    pickup (last_attempt_at: commit, enqueue after commit, broker, a free worker); ``applied``
    to processed_at (parse, match, insert, timeline refresh, hooks); ``delivered`` to the last
    client's arrival (commit, the after-commit publish, channel layer, consumer, socket). p50
    and p99 of each over the samples."""
    from integrations.models import InboundMessage

    spans: dict[str, list[float]] = {"stored": [], "queued": [], "applied": [], "delivered": []}
    for tenant_id, message_id, started, last in traces:
        with tenant_context(tenant_id):
            row = InboundMessage.objects.filter(pk=message_id).values(
                "received_at", "last_attempt_at", "processed_at"
            )
            found = row.first()
        if not found or not found["last_attempt_at"] or not found["processed_at"]:
            continue
        stored = found["received_at"].timestamp()
        picked = found["last_attempt_at"].timestamp()
        applied = found["processed_at"].timestamp()
        spans["stored"].append((stored - started) * 1000)
        spans["queued"].append((picked - stored) * 1000)
        spans["applied"].append((applied - picked) * 1000)
        spans["delivered"].append((last - applied) * 1000)
    out: dict[str, float] = {}
    for name, values in spans.items():
        if values:
            out[f"{name}_p50_ms"] = _percentile(values, 0.5)
            out[f"{name}_p99_ms"] = _percentile(values, 0.99)
    return out


async def _floor(ws_port: int, cookie: str, tenant_id: int, samples: int) -> list[float]:
    import websockets

    arrivals: dict[str, list[float]] = {}
    async with websockets.connect(
        f"ws://127.0.0.1:{ws_port}/ws/ops/",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{ws_port}"},
    ) as socket:
        await socket.recv()  # hello
        layer = get_channel_layer()
        out = []
        for n in range(samples):
            probe = f"probe-{n}"
            started = time.perf_counter()
            await layer.group_send(
                tenant_group(tenant_id), {"type": "tenant.event", "payload": {"probe": probe}}
            )
            raw = await asyncio.wait_for(socket.recv(), timeout=WAIT_S)
            assert json.loads(raw)["probe"] == probe
            out.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
    del arrivals
    return out


def bench_push(tenant: Tenant) -> dict:
    extra = [
        tenant_create(slug=f"bench-push-{tenant.pk}-{n}", name=f"Push bench {n}")
        for n in range(TENANTS)  # the last one: the floor's lone client
    ]
    tenants = [tenant, *extra[: TENANTS - 1]]
    prepared = [
        _prepare_tenant(t, f"T{i}", 200 + SAMPLES if i == 0 else SAMPLES)
        for i, t in enumerate(tenants)
    ]
    floor_tenant = _prepare_tenant(extra[-1], "F", 1)
    audiences = [(p["cookie"], i) for i, p in enumerate(prepared)]
    per_tenant = [sum(1 for n in range(CLIENTS) if n % len(audiences) == i) for i in range(4)]
    ws_port, http_port = _free_port(), _free_port()
    try:
        with Services(workers=WORKERS, port=http_port), AsgiServer(ws_port):
            result = asyncio.run(
                _run(ws_port, http_port, prepared, audiences, per_tenant, floor_tenant)
            )
        traces = result.pop("_traces")
        half = len(traces) // 2
        result["stages_idle"] = _stages(traces[:half])
        result["stages_loaded"] = _stages(traces[half:])
    finally:
        from portal.benchmarks import purge_tenant

        for t in extra:
            purge_tenant(t)
        with tenant_context(tenant.pk):
            Membership.objects.filter(user=prepared[0]["user"]).delete()
        with auth_scope():
            User.objects.filter(pk__in=[p["user"].pk for p in [*prepared, floor_tenant]]).delete()
    return result


async def _run(ws_port, http_port, prepared, audiences, per_tenant, floor_tenant) -> dict:
    arrivals: dict[str, list[float]] = {}
    sockets, tasks = await _clients(ws_port, audiences, CLIENTS, arrivals)
    try:
        # warm-up: one of each tenant (first requests load code and templates)
        for i, tenant in enumerate(prepared):
            await _sample(http_port, tenant, tenant["public_ids"][-1], per_tenant[i], arrivals)
        idle = []
        for n in range(SAMPLES // 2):
            i = n % len(prepared)
            tenant = prepared[i]
            idle += await _sample(
                http_port, tenant, tenant["public_ids"][n], per_tenant[i], arrivals
            )
            await asyncio.sleep(0.05)
        load = Load(http_port, prepared[0]["key"], prepared[0]["references"][SAMPLES:])
        load.start()
        await asyncio.sleep(2)  # let the load reach its rate
        loaded = []
        for n in range(SAMPLES // 2, SAMPLES):
            i = n % len(prepared)
            tenant = prepared[i]
            loaded += await _sample(
                http_port, tenant, tenant["public_ids"][n], per_tenant[i], arrivals
            )
            await asyncio.sleep(0.05)
        load.stop.set()
        await asyncio.get_running_loop().run_in_executor(None, load.join)
        floor = await _floor(ws_port, floor_tenant["cookie"], floor_tenant["tenant"].pk, 50)
    finally:
        for socket in sockets:
            with contextlib.suppress(Exception):
                await socket.close()
        for task in tasks:
            task.cancel()
    return {
        "p50_ms_idle": _percentile(idle, 0.5),
        "p99_ms_idle": _percentile(idle, 0.99),
        "p50_ms_loaded": _percentile(loaded, 0.5),
        "p99_ms_loaded": _percentile(loaded, 0.99),
        "floor_p99_ms": _percentile(floor, 0.99),
        "floor_p50_ms": _percentile(floor, 0.5),
        "clients": CLIENTS,
        "tenants": len(prepared),
        "samples_idle": len(idle),
        "samples_loaded": len(loaded),
        "load_eps": round(load.accepted / load.seconds) if load.seconds else 0,
        "load_eps_target": LOAD_EPS,
        "mean_ms_loaded": round(statistics.fmean(loaded), 2),
        # the HTTP round trip to the 202 alone (the rest: worker, publish, fan-out)
        "accept_p50_ms": _percentile(arrivals.get("_accept_ms", [0.0]), 0.5),
        "missed_within_wait": sum(arrivals.get("_timeouts", [])),
        "client_errors": arrivals.get("_errors", [])[:5],
        # idle samples first, then loaded ones (the warm-up's are left out)
        "_traces": arrivals.get("_traces", [])[len(prepared) :],
    }


# --- "ops_list": the dashboard's list page at 1M shipments next to 10k --------------------------

OPS_LIST_PATHS = {
    "list": "/ops/rows/",
    "filtered": "/ops/rows/?status=at_customs&mode=air",
    "page": "/ops/",  # the whole page: tiles (cached 30 s), filters, saved views, rows
}


def _server_times(client: Client, path: str, reads: int) -> dict[str, float]:
    from django.core.cache import cache

    times = []
    for n in range(reads):
        if path == OPS_LIST_PATHS["page"] and n % 10 == 0:
            cache.clear()  # every tenth read counts the tiles afresh
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    return {"p50_ms": _percentile(times, 0.5), "p99_ms": _percentile(times, 0.99)}


def bench_ops_list(tenant: Tenant) -> dict:
    """Server time of the list (rows partial, an uncommon filter, and the whole page) in a
    tenant of BENCH_SCALE_SHIPMENTS (default 1,000,000) shipments and in one of 10,000, built
    like the ``scale`` benchmark's; through Django's test client, DEBUG off."""
    from portal.benchmarks import BIG_SHIPMENTS, SMALL_SHIPMENTS, _build, _vacuum, purge_tenant

    small = tenant_create(slug=f"bench-opslist-small-{int(time.time())}", name="Ops list small")
    users = []
    try:
        _build(tenant, BIG_SHIPMENTS, "B", seed=1)
        _build(small, SMALL_SHIPMENTS, "S", seed=2)
        _vacuum()
        debug, settings.DEBUG = settings.DEBUG, False
        result: dict[str, Any] = {"shipments": BIG_SHIPMENTS, "shipments_small": SMALL_SHIPMENTS}
        try:
            for label, who in (("big", tenant), ("small", small)):
                user = User.objects.create_user(email=f"opslist-{who.pk}@bench.test")
                users.append((who, user))
                with tenant_context(who.pk):
                    Membership.objects.create(user=user, role=Role.OPS)
                client = Client(HTTP_HOST="localhost")
                client.force_login(user)
                session = client.session
                session[SESSION_TENANT_KEY] = who.pk
                session.save()
                for name, path in OPS_LIST_PATHS.items():
                    _server_times(client, path, 10)  # warm
                    figures = _server_times(client, path, 100)
                    suffix = "" if label == "big" else "_small"
                    result[f"{name}_p50_ms{suffix}"] = figures["p50_ms"]
                    result[f"{name}_p99_ms{suffix}"] = figures["p99_ms"]
        finally:
            settings.DEBUG = debug
    finally:
        for who, user in users:
            with tenant_context(who.pk):
                Membership.objects.filter(user=user).delete()
        purge_tenant(small)
        with auth_scope():
            User.objects.filter(pk__in=[user.pk for _, user in users]).delete()
    return result

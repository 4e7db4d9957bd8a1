"""Workers killed at any moment lose nothing and duplicate nothing.

A real Celery worker (prefork, 2 processes) consumes the ingest queue while the test kills its
pool processes, and now and then the whole worker, with SIGKILL, restarting it each time.
Afterwards every stored message is processed and every event exists exactly once.
``make test`` runs it at ~3,600 events; ``make soak`` runs it over 100,000 events.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections
from django.db.models import Count

from config.celery import app
from integrations import benchmarks
from integrations.models import InboundMessage, Integration, MessageStatus
from integrations.services import message_store
from integrations.tasks import requeue_stale
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.services import tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

PER_MESSAGE = 40  # shipments per message: X12 carries 4 events each, DCSA 2
ROOT = Path(__file__).resolve().parents[2]


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class Worker:
    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.log = ROOT / ".local" / "crash-test-worker.log"
        self.log.parent.mkdir(exist_ok=True)
        owner = connections["owner"].settings_dict
        self.env = os.environ | {
            "DJANGO_ENV": "test",
            "DATABASE_URL": _url("default"),
            # the owner alias is unused by the worker; point it at the same test database
            "DATABASE_OWNER_URL": _url("default").replace(
                connections["default"].settings_dict["USER"], owner["USER"], 1
            ),
            "CELERY_VISIBILITY_TIMEOUT": "10",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "--concurrency",
            "2",
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def children(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def kill_pool_process(self, wait_s: float = 20.0) -> bool:
        # A busy machine can take seconds to start the pool: wait for a child to kill.
        deadline = time.monotonic() + wait_s
        children = self.children()
        while not children and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.2)
            children = self.children()
        if not children:
            return False
        os.kill(random.choice(children), signal.SIGKILL)
        return True

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def supervise(self) -> None:
        """Like a process supervisor (systemd, Docker restart policy): restart a dead worker."""
        if self.process.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()


def _store(tenant, posts, integrations: dict) -> None:
    with tenant_context(tenant.pk):
        for _, body, secret in posts:
            if secret not in integrations:
                integrations[secret] = Integration.objects.get(secret=secret)
            message_store(integration=integrations[secret], channel="webhook", body=body)


def _kill(worker: Worker, killed: dict) -> None:
    """Mostly a pool process mid-task; every third time the whole worker, then restart it."""
    if sum(killed.values()) % 3 == 2:
        worker.kill_all()
        killed["worker"] += 1
        worker.start()
    elif worker.kill_pool_process():
        killed["pool"] += 1


def _open_messages(tenant) -> int:
    with tenant_context(tenant.pk):
        return InboundMessage.objects.filter(
            status__in=[MessageStatus.RECEIVED, MessageStatus.PROCESSING]
        ).count()


def _crash_run(messages: int, kills: int, timeout: float) -> dict:
    tenant = tenant_create(slug=f"crash-{messages}", name="Crash test")
    posts = benchmarks._prepare(tenant, messages, PER_MESSAGE)
    expected = sum(PER_MESSAGE * (4 if i % 2 == 0 else 2) for i in range(messages))
    app.control.purge()
    worker = Worker()
    worker.start()
    killed = {"pool": 0, "worker": 0}
    chunk = max(1, messages // kills)
    integrations: dict = {}
    try:
        # Messages keep arriving while workers die: one kill per chunk stored.
        for start in range(0, len(posts), chunk):
            _store(tenant, posts[start : start + chunk], integrations)
            time.sleep(random.uniform(0.2, 0.8))
            worker.supervise()
            _kill(worker, killed)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _open_messages(tenant):
            time.sleep(2)
            worker.supervise()
            # What beat's requeue sweep does every minute, with short grace periods here.
            requeue_stale.apply(kwargs={"received_grace_s": 5, "processing_grace_s": 10})
    finally:
        worker.stop()
    with tenant_context(tenant.pk):
        statuses = dict(
            InboundMessage.objects.values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        events = TrackingEvent.objects.count()
        distinct = TrackingEvent.objects.values("shipment_id", "dedupe_key").distinct().count()
        per_shipment = set(
            TrackingEvent.objects.values("shipment_id")
            .annotate(n=Count("id"))
            .values_list("n", flat=True)
        )
        attempts = max(InboundMessage.objects.values_list("attempts", flat=True))
    return {
        "messages": messages,
        "expected": expected,
        "events": events,
        "distinct": distinct,
        "statuses": statuses,
        "per_shipment": per_shipment,
        "killed": killed,
        "max_attempts": attempts,
    }


def _assert_nothing_lost_or_duplicated(result: dict) -> None:
    assert result["statuses"] == {MessageStatus.PROCESSED: result["messages"]}, result
    assert result["events"] == result["expected"], result
    assert result["distinct"] == result["events"], result
    assert result["per_shipment"] <= {2, 4}, result
    assert result["killed"]["pool"] >= 1 and result["killed"]["worker"] >= 1, result


def test_killed_workers_lose_and_duplicate_nothing():
    started = time.monotonic()
    result = _crash_run(messages=30, kills=6, timeout=240)
    print(f"\ncrash: {result} in {time.monotonic() - started:.1f} s")
    _assert_nothing_lost_or_duplicated(result)


@pytest.mark.soak
def test_killed_workers_lose_and_duplicate_nothing_over_100k_events():
    # 834 messages: 417 X12 (160 events each) + 417 DCSA (80 each) = 100,080 events.
    result = _crash_run(messages=834, kills=30, timeout=1500)
    _assert_nothing_lost_or_duplicated(result)
    assert result["expected"] >= 100_000
    print(f"\ncrash soak: {result}")


def test_a_message_that_keeps_killing_workers_goes_to_the_dead_letters():
    from integrations.models import DeadLetter
    from integrations.tasks import MAX_DELIVERIES, process_message

    tenant = tenant_create(slug="poison", name="Poison")
    posts = benchmarks._prepare(tenant, 1, 2)
    with tenant_context(tenant.pk):
        integration = Integration.objects.get(secret=posts[0][2])
        message = message_store(integration=integration, channel="webhook", body=posts[0][1])
        # As if MAX_DELIVERIES workers had died holding it.
        InboundMessage.objects.filter(pk=message.pk).update(
            attempts=MAX_DELIVERIES, status=MessageStatus.PROCESSING
        )
    assert (
        process_message.apply(kwargs={"tenant_id": tenant.pk, "message_id": message.pk}).get() == []
    )
    with tenant_context(tenant.pk):
        message.refresh_from_db()
        assert message.status == MessageStatus.DEAD
        [letter] = DeadLetter.objects.filter(message=message)
        assert "died or timed out 5 times" in letter.reason
        assert TrackingEvent.objects.count() == 0


def test_stale_messages_are_requeued_and_fresh_ones_left_alone():
    from datetime import timedelta

    from django.utils import timezone

    tenant = tenant_create(slug="stale", name="Stale")
    posts = benchmarks._prepare(tenant, 3, 2)
    with tenant_context(tenant.pk):
        integration = Integration.objects.get(secret=posts[0][2])
        ids = [
            message_store(integration=integration, channel="webhook", body=body).pk
            for _, body, _ in posts[:3]
        ]
        old = timezone.now() - timedelta(minutes=30)
        InboundMessage.objects.filter(pk=ids[0]).update(received_at=old)
        InboundMessage.objects.filter(pk=ids[1]).update(
            status=MessageStatus.PROCESSING, last_attempt_at=old
        )
    app.control.purge()
    counts = requeue_stale.apply().get()
    assert counts[tenant.pk] == 2  # the third is fresh: its own task is still on its way
    app.control.purge()


def _buggy_parse(data: bytes, context) -> None:
    raise RuntimeError("a parser bug on odd input")


def test_one_message_that_trips_a_bug_dies_alone_and_its_batch_mates_apply(monkeypatch):
    """The batch fails as a whole, then each message runs alone: only the culprit is dead.

    The bug is a format plugin whose parser raises (registered for this test only): nothing
    of the pipeline or the task is patched."""
    from integrations import formats
    from integrations.models import DeadLetter
    from integrations.parsers.base import Format
    from integrations.tasks import process_message

    monkeypatch.setitem(formats.FORMATS, "buggy", Format("buggy", "Buggy", _buggy_parse))
    tenant = tenant_create(slug="batch-poison", name="Batch poison")
    posts = benchmarks._prepare(tenant, 4, 2)
    with tenant_context(tenant.pk):
        good = [
            message_store(
                integration=Integration.objects.get(secret=secret), channel="webhook", body=body
            ).pk
            for _, body, secret in posts[:3]
        ]
        poison = message_store(
            integration=None, channel="upload", body=b"odd", format_hint="buggy"
        ).pk
    # One delivery takes every waiting message of the tenant into its batch.
    process_message.apply(kwargs={"tenant_id": tenant.pk, "message_id": good[0]}).get()
    with tenant_context(tenant.pk):
        statuses = dict(InboundMessage.objects.values_list("pk", "status"))
        assert {pk: statuses[pk] for pk in good} == dict.fromkeys(good, MessageStatus.PROCESSED)
        assert statuses[poison] == MessageStatus.DEAD
        [letter] = DeadLetter.objects.filter(message_id=poison)
        assert "a parser bug on odd input" in letter.reason
        assert not DeadLetter.objects.filter(message_id__in=good).exists()
        applied = TrackingEvent.objects.filter(inbound_message_id__in=good).count()
        assert (
            applied == sum(m.events_parsed for m in InboundMessage.objects.filter(pk__in=good)) > 0
        )

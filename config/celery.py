"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from redis.exceptions import RedisError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("milepost")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery's Django fixup closes every database connection before and after every task unless
# this is set: each task then paid a new PostgreSQL backend (connect, authenticate, cold
# catalog and plan caches), 10-20 ms of an interactive event's 60 (the push benchmark). With
# it the fixup closes them only every this many tasks; between tasks, Django's own rule of
# the request cycle applies instead (below: CONN_MAX_AGE, health checks, broken connections).
app.conf.CELERY_DB_REUSE_MAX = 1000


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Any = None, **_: Any) -> None:
    """What Django does around a request: drop connections that are too old, broken, or left
    in a wrong state; keep the others. Not for a task run eagerly (``apply()``, tests): it
    runs in its caller's process, maybe inside the caller's transaction, whose connection is
    not the task's to close (as Celery's own fixup)."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
@worker_process_init.connect
def _tune_gc(**_: Any) -> None:
    """In the worker and in each pool process, once everything is imported."""
    from config.runtime import tune_gc

    tune_gc()


class Heartbeat(bootsteps.StartStopStep):
    """Records this worker's heartbeat (tenancy.heartbeats) while its consumer is connected.

    A consumer step: celery stops it when the broker connection is lost and starts it again
    once reconnected, so a worker that is alive but cut off from the broker stops beating too.
    The timer runs in the worker's main process, beside the event loop, never in a task.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry: Any = None

    def start(self, parent: Any) -> None:
        from tenancy.heartbeats import HEARTBEAT_INTERVAL_S

        self._beat(parent.hostname)
        self.timer_entry = parent.timer.call_repeatedly(
            HEARTBEAT_INTERVAL_S, self._beat, (parent.hostname,)
        )

    def stop(self, parent: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def shutdown(self, parent: Any) -> None:
        from tenancy.heartbeats import worker_heartbeat_clear

        self.stop(parent)
        with contextlib.suppress(RedisError):  # if Redis is gone, the entry goes stale by itself
            worker_heartbeat_clear(hostname=parent.hostname)

    @staticmethod
    def _beat(hostname: str) -> None:
        from tenancy.heartbeats import worker_heartbeat_record

        try:
            worker_heartbeat_record(hostname=hostname)
        except RedisError as error:
            # The consumer notices a lost broker by itself and stops this step until it is back.
            logger.warning("worker heartbeat not recorded: %s", error)


app.steps["consumer"].add(Heartbeat)

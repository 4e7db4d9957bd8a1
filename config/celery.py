"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_process_init
from redis.exceptions import RedisError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("milepost")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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

"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("milepost")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _tune_gc(**_) -> None:
    """In the worker and in each pool process, once everything is imported."""
    from config.runtime import tune_gc

    tune_gc()

"""The server processes tune the garbage collector (config/runtime.py says why)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest
from celery.signals import worker_process_init
from django.conf import settings

from config.runtime import tune_gc


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_freezes_startup_objects_and_applies_thresholds(settings, restore_gc):
    settings.GC_THRESHOLDS = (12345, 7, 3)
    gc.unfreeze()

    assert tune_gc() == (12345, 7, 3)
    assert gc.get_threshold() == (12345, 7, 3)
    assert gc.get_freeze_count() > 10_000  # Django and the project, loaded by now


def test_empty_thresholds_keep_the_interpreter_default(settings, restore_gc):
    gc.set_threshold(700, 10, 10)
    settings.GC_THRESHOLDS = ()

    assert tune_gc() == (700, 10, 10)


def test_each_worker_pool_process_is_tuned_when_it_starts(settings, restore_gc):
    settings.GC_THRESHOLDS = (23456, 10, 10)

    worker_process_init.send(sender=None)

    assert gc.get_threshold() == (23456, 10, 10)


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_web_processes_are_tuned_on_load(module):
    code = f"import gc, {module}; print(*gc.get_threshold(), gc.get_freeze_count() > 0)"
    env = os.environ | {"GC_THRESHOLDS": "34567,10,10"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["34567", "10", "10", "True"]

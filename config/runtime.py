"""Garbage-collector settings for the long-running server processes (web, ws, worker).

Why: CPython collects its youngest generation every 700 net allocations and, every hundred
of those, looks at everything older. A worker applying a batch builds hundreds of thousands
of objects that all live until the batch ends, so the collector walks the same objects (and
all of Django, loaded at start-up) over and over: measured here, a third of the ingest
worker's CPU. Freezing what start-up loaded takes it out of every later collection, and a
larger first threshold collects less often. Reference counting still frees almost every
object at once; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

from django.conf import settings


def tune_gc() -> tuple[int, ...]:
    """Collect start-up garbage, freeze the survivors, apply settings.GC_THRESHOLDS."""
    gc.collect()
    gc.freeze()
    if settings.GC_THRESHOLDS:
        gc.set_threshold(*settings.GC_THRESHOLDS)
    return gc.get_threshold()

"""Celery tasks of exceptions: the beat sweep (every minute, config.settings)."""

from __future__ import annotations

from celery import shared_task

from integrations.exceptions import detection


@shared_task(name="exceptions.sweep")
def sweep() -> int:
    """Every tenant's due deadlines, route deviations and stale feeds (set-based per tenant)."""
    return detection.sweep()

"""Celery tasks of the customer portal: the demo's simulated drivers."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tracking.simulate_drivers")
def simulate_drivers() -> int:
    from portal.tracking.demo import simulate_step

    return simulate_step()

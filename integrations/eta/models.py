"""Lane statistics: how long completed shipments took between two milestones, per lane.

Rebuilt set-based (integrations.eta.services.lane_stats_recompute) nightly and on demand.
A row's key is (mode, carrier, origin, destination, from, to); '' in carrier / origin /
destination is the wider level that pools them (a lane with little history falls back to
the carrier's mode-wide figures, then the mode's)."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from tenancy.models import TenantOwned

BOOKING = "booking"  # from_milestone of transits measured from the booking time


class LaneStat(TenantOwned):
    mode = models.CharField(max_length=16)
    carrier = models.CharField(max_length=120, blank=True)
    origin_locode = models.CharField(max_length=5, blank=True)
    destination_locode = models.CharField(max_length=5, blank=True)
    from_milestone = models.CharField(max_length=40)
    to_milestone = models.CharField(max_length=40)
    samples = models.PositiveIntegerField()
    # Transit quantiles in seconds: the window is p05..p95, the most likely time p50.
    p05_s = models.FloatField()
    p25_s = models.FloatField()
    p50_s = models.FloatField()
    p75_s = models.FloatField()
    p95_s = models.FloatField()
    computed_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["mode", "carrier", "origin_locode", "destination_locode"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "mode",
                    "carrier",
                    "origin_locode",
                    "destination_locode",
                    "from_milestone",
                    "to_milestone",
                ],
                name="lane_stat_uniq",
            )
        ]

    def __str__(self) -> str:
        lane = f"{self.origin_locode or '*'}->{self.destination_locode or '*'}"
        return (
            f"{self.mode} {self.carrier or '*'} {lane} {self.from_milestone}->{self.to_milestone}"
        )

"""A driver's route of one day and its stops, in the order the solver (or a dispatcher) set."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from shipments.models import Shipment
from tenancy.models import TenantOwned, User


class Route(TenantOwned):
    driver = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    vehicle_ref = models.CharField(max_length=60, blank=True)
    start_lat = models.FloatField(null=True, blank=True)
    start_lon = models.FloatField(null=True, blank=True)
    start_at = models.DateTimeField(null=True, blank=True)
    sequenced_at = models.DateTimeField(null=True, blank=True)
    sequenced_by = models.CharField(max_length=12, blank=True)  # "solver" | "dispatcher"
    planned_km = models.FloatField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "driver", "day"], name="route_driver_day")
        ]

    def __str__(self) -> str:
        return f"route {self.driver_id} {self.day}"


class StopKind(models.TextChoices):
    PICKUP = "pickup", "Pickup"
    DELIVERY = "delivery", "Delivery"


class StopStatus(models.TextChoices):
    PENDING = "pending", "Not visited"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RouteStop(TenantOwned):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="stops")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=StopKind.choices, default=StopKind.DELIVERY)
    sequence = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=300, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    service_s = models.PositiveIntegerField(default=180)
    eta = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=StopStatus.choices, default="pending")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["route_id", "sequence", "id"]
        indexes = [models.Index(fields=["tenant", "shipment"], name="routestop_shipment_idx")]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.kind} {self.shipment_id}"

    @property
    def late(self) -> bool:
        return bool(self.eta and self.window_end and self.eta > self.window_end)


class DriverScan(TenantOwned):
    """What the driver page sent, once per idempotency key: the stored scan message (through
    integrations.scans.services.scan_submit) plus what the scan channel has no field for
    (the recipient's name, the failure reason)."""

    driver = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=80)
    reference = models.CharField(max_length=120)
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    milestone = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    message_id = models.BigIntegerField()
    pod_message_id = models.BigIntegerField(null=True, blank=True)
    recipient_name = models.CharField(max_length=120, blank=True)
    failure_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "driver", "idempotency_key"], name="driver_scan_key_uniq"
            )
        ]
        indexes = [models.Index(fields=["tenant", "message_id"], name="driver_scan_msg_idx")]

    def __str__(self) -> str:
        return f"{self.milestone} {self.reference}"

"""Customer portal data: the tenant's portal settings, share links, ratings, the message
thread of a shipment and return requests. All tenant-owned (RLS by tenancy.rls)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.timezone import now

from shipments.models import Shipment
from tenancy.models import TenantOwned, User


class DriverPosition(models.TextChoices):
    EXACT = "exact", "Exact position"
    APPROXIMATE = "approximate", "Approximate (about 1 km)"
    NONE = "none", "Not shown"


class PortalSettings(TenantOwned):
    """What the tenant's customers may see beyond branding (branding lives on Tenant)."""

    sharing_enabled = models.BooleanField(default=True)
    share_link_days = models.PositiveSmallIntegerField(default=30)
    driver_position = models.CharField(
        max_length=12, choices=DriverPosition.choices, default=DriverPosition.APPROXIMATE
    )
    # Links issued before this moment are refused (the "revoke all" switch).
    links_valid_after = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="portal_settings_uniq")]

    def __str__(self) -> str:
        return f"portal settings of {self.tenant_id}"


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


class ShareLink(TenantOwned):
    """A signed, expiring link to one shipment's full page; revocable one by one."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32, default=new_nonce, unique=True)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"share link {self.nonce}"


class Rating(TenantOwned):
    """A customer's rating of a delivery (one per shipment; a new one replaces it)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    followup_answer = models.TextField(blank=True)
    task_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "shipment"], name="rating_shipment_uniq"),
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="rating_stars_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars}/5 for {self.shipment_id}"


class Author(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    DRIVER = "driver", "Driver"
    SUPPORT = "support", "Support"


class ThreadMessage(TenantOwned):
    """The one conversation of a shipment: customer, driver and ops write into it."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    author_kind = models.CharField(max_length=10, choices=Author.choices)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whom the customer addressed ("driver" or "support"); everyone on the thread reads it.
    addressed_to = models.CharField(max_length=10, default="support")
    body = models.TextField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "shipment", "created_at"])]

    def __str__(self) -> str:
        return f"{self.author_kind}: {self.body[:30]}"


class ReturnRequest(TenantOwned):
    """A customer asked to send a delivered shipment back: the return shipment it created."""

    original = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    return_shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "original"], name="return_original_uniq")
        ]

    def __str__(self) -> str:
        return f"return of {self.original_id}"


class SharedDocument(TenantOwned):
    """A shipment document (integrations Attachment) the tenant lets customers download."""

    attachment = models.OneToOneField(
        "integrations.Attachment", on_delete=models.CASCADE, related_name="+"
    )
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.title or f"document {self.attachment_id}"

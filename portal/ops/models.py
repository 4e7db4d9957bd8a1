"""What the dashboard stores of its own: per-user saved list views and shipment tags.

Both are tenant-owned (RLS applies through tenancy.rls like every TenantOwned model)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from tenancy.models import TenantOwned


class SavedView(TenantOwned):
    """A named set of list filters, private to the user who saved it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)  # the list's query string
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "name"], name="ops_saved_view_name_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.name

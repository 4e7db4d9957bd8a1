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


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ShipmentImport(TenantOwned):
    """One uploaded CSV/XLSX file of shipments: its cells (kept so that the Celery task and a
    later look need no file store), the column mapping, progress and the result.

    ``rejected``: ``[{"row": n, "reference": "...", "reason": "..."}]`` (row numbers as in
    the file, header = row 1); ``created``: ``[{"row": n, "reference": ..., "id": "shp_…"}]``.
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    filename = models.CharField(max_length=200)
    headers = models.JSONField(default=list)
    rows = models.JSONField(default=list)  # lists of cell strings, header row excluded
    mapping = models.JSONField(default=dict)  # field name -> column index
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)  # reference already known
    rejected_count = models.PositiveIntegerField(default=0)
    created = models.JSONField(default=list)
    skipped = models.JSONField(default=list)
    rejected = models.JSONField(default=list)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="ops_import_recent_idx")]

    def __str__(self) -> str:
        return self.filename

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 100


class JobKind(models.TextChoices):
    REPLAY = "replay", "Replay"
    EXPORT = "export", "Export"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OpsJob(TenantOwned):
    """A long operation of the dashboard run by Celery (portal/ops/jobs.py): a bulk replay of
    dead-lettered messages or an export of the shipment list. The page polls ``done`` of
    ``total``; ``result`` keeps the counts and the items that failed with their reasons, and
    an export keeps its file (no file store needed, like ShipmentImport keeps its rows).

    ``params``: replay ``{"message_ids": [...], "integration_id": n | None}`` (the messages
    are fixed when the job starts, so a resumed run does the same ones); export
    ``{"query": "<the list's query string>", "format": "csv" | "xlsx"}``.
    """

    kind = models.CharField(max_length=10, choices=JobKind.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    label = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    file_type = models.CharField(max_length=100, blank=True)
    file_data = models.BinaryField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="ops_job_recent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

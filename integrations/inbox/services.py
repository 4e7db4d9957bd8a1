"""Watched folders: partners drop files into INGEST_INBOX_ROOT/<tenant slug>/<token>/.

``integrations.inbox_sweep`` (beat; integrations.inbox.tasks) stores every settled file with
``message_store(channel="inbox")`` and, only once that transaction has committed, moves it to
``processed/`` with a timestamp prefix. A file that cannot be stored goes to ``failed/`` next
to a ``.error.txt`` saying why. A file is never deleted, and never moved to ``processed/``
unless it was stored.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import time
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from integrations.errors import IngestError
from integrations.models import Channel, Integration
from integrations.services import message_store
from tenancy.errors import DomainError
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0
PROCESSED, FAILED = "processed", "failed"
ADVISORY_LOCK_CLASS = 0x1B0C  # pg_try_advisory_xact_lock(class, integration id)
CONTENT_TYPES = {
    ".edi": "application/edi-x12",
    ".x12": "application/edi-x12",
    ".edifact": "application/edifact",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".txt": "text/plain",
}
FORMAT_HINTS = {".csv": "csv"}  # everything else is sniffed ("auto")


def inbox_root() -> Path:
    return Path(settings.INGEST_INBOX_ROOT)


def inbox_path(tenant: Tenant, integration: Integration) -> Path:
    return inbox_root() / tenant.slug / str(integration.token)


def content_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def format_hint_for(name: str) -> str:
    return FORMAT_HINTS.get(Path(name).suffix.lower(), "auto")


def _stamp() -> str:
    return timezone.now().strftime("%Y%m%dT%H%M%S%fZ")


def _move(path: Path, folder: str, prefix: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{prefix}_{path.name}"
    os.replace(path, target)
    return target


def _move_processed(path: Path, message_id: int) -> None:
    try:
        _move(path, PROCESSED, f"{_stamp()}_m{message_id}")
    except OSError:
        # Stored already: at worst the file is stored again next round (a duplicate message,
        # recognised by its checksum), never lost.
        logger.exception("inbox: stored %s as message %s but could not move it", path, message_id)


def _move_failed(path: Path, reason: str) -> None:
    target = _move(path, FAILED, _stamp())
    target.with_name(target.name + ".error.txt").write_text(reason + "\n", encoding="utf-8")


def _settled_files(folder: Path, now: float) -> list[Path]:
    files = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_file():
            continue
        try:
            if now - entry.stat().st_mtime < SETTLE_SECONDS:
                continue  # may still be being written
        except FileNotFoundError:
            continue
        files.append(entry)
    return files


def _try_lock(integration: Integration) -> bool:
    """One sweeper per integration folder at a time (released when the transaction ends)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, integration.pk]
        )
        return bool(cursor.fetchone()[0])


def _store(integration: Integration, path: Path, body: bytes) -> int:
    hint = format_hint_for(path.name)
    with transaction.atomic():
        try:
            message = message_store(
                integration=integration,
                channel=Channel.INBOX,
                body=body,
                content_type=content_type_for(path.name),
                format_hint=hint,
            )
        except IngestError as error:
            if error.code != "invalid_format" or hint == "auto":
                raise
            message = message_store(  # this deployment has no parser for the hint: sniff
                integration=integration,
                channel=Channel.INBOX,
                body=body,
                content_type=content_type_for(path.name),
            )
    return message.pk


def sweep_integration(tenant: Tenant, integration: Integration, now: float | None = None) -> dict:
    """Store the settled files of one integration's folder (in the current tenant context)."""
    folder = inbox_path(tenant, integration)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"stored": 0, "failed": 0}
    if not _try_lock(integration):
        return counts
    for path in _settled_files(folder, time.time() if now is None else now):
        try:
            body = path.read_bytes()
        except OSError as error:
            logger.warning("inbox: cannot read %s: %s", path, error)
            continue
        try:
            message_id = _store(integration, path, body)
        except Exception as error:
            reason = error.message if isinstance(error, DomainError) else repr(error)
            logger.warning("inbox: could not store %s: %s", path, reason)
            try:
                _move_failed(path, f"Could not store {path.name}: {reason}")
            except OSError:
                logger.exception("inbox: could not move %s to failed/", path)
            counts["failed"] += 1
            continue
        transaction.on_commit(
            lambda path=path, message_id=message_id: _move_processed(path, message_id)
        )
        counts["stored"] += 1
    return counts


def sweep_tenant(tenant: Tenant) -> dict:
    totals = {"stored": 0, "failed": 0}
    for integration in Integration.objects.filter(inbox_enabled=True, is_active=True).order_by(
        "pk"
    ):
        try:
            counts = sweep_integration(tenant, integration)
        except OSError as error:
            logger.warning("inbox: folder of integration %s unusable: %s", integration.pk, error)
            continue
        for key, value in counts.items():
            totals[key] += value
    return totals

"""Writes of the scans channel: a validated scan stored raw with its photo and signature."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from integrations.models import Attachment, AttachmentKind, Channel, InboundMessage
from integrations.scans.parse import EXTENSIONS, Upload, scan_clean, upload_check
from integrations.services import message_store
from tenancy.models import ApiKey


@transaction.atomic
def scan_submit(
    *,
    data: dict[str, Any],
    uploads: list[Upload],
    known: set[str],
    scanned_by: dict[str, Any],
    sent_by_key: ApiKey | None = None,
) -> InboundMessage:
    """Validate, store the scan (and its files) and enqueue processing after commit."""
    cleaned = scan_clean(data, known=known)
    for upload in uploads:
        upload_check(upload)
    body = json.dumps(cleaned | {"scanned_by": scanned_by}, sort_keys=True).encode("utf-8")
    message = message_store(
        integration=None,
        channel=Channel.SCAN,
        body=body,
        content_type="application/json",
        format_hint="scan",
        sent_by_key=sent_by_key,
        interactive=True,  # a driver at the door, an ops page watching
    )
    for upload in uploads:
        digest = hashlib.sha256(upload.data).hexdigest()
        extension = EXTENSIONS.get(upload.content_type.split(";")[0].strip().lower(), "bin")
        attachment = Attachment(
            message=message,
            kind=AttachmentKind.PHOTO if upload.kind == "photo" else AttachmentKind.SIGNATURE,
            content_type=upload.content_type[:100],
            size=len(upload.data),
            sha256=digest,
        )
        attachment.file.save(
            f"scan-{message.pk}-{upload.kind}-{digest[:12]}.{extension}",
            ContentFile(upload.data),
            save=False,
        )
        attachment.save()
    return message

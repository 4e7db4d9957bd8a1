"""Celery tasks of ingestion. Bodies are idempotent: acked late, a redelivery re-runs safely."""

from __future__ import annotations

import logging

from django.db import OperationalError, transaction

from config.celery import app
from integrations import pipeline
from tenancy.tasks import TenantTask

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


@app.task(
    base=TenantTask,
    bind=True,
    name="integrations.process_message",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def process_message(
    self,
    *,
    tenant_id: int,
    message_id: int | None = None,
    message_ids: list[int] | None = None,
) -> list[dict]:
    """Process stored messages of one tenant (runs in its context, see TenantTask)."""
    ids = list(message_ids or []) + ([message_id] if message_id is not None else [])
    attempt = self.request.retries + 1
    try:
        with transaction.atomic():
            outcomes = pipeline.process_messages(ids)
    except OperationalError as error:
        if self.request.retries < MAX_RETRIES:
            raise  # autoretry with backoff
        logger.exception("ingest: giving up on messages %s", ids)
        pipeline.messages_give_up(ids, error, attempts=attempt)
        return []
    except Exception as error:
        # Not transient (a bug or data the pipeline cannot handle): retrying will not help.
        logger.exception("ingest: processing failed for messages %s", ids)
        pipeline.messages_give_up(ids, error, attempts=attempt)
        return []
    return [{"message_id": o.message_id, "status": o.status} for o in outcomes]

"""Celery tasks of ingestion. Bodies are idempotent: acked late, a redelivery re-runs safely.

Two queues: the default one takes bulk feeds (a worker there batches whatever of the tenant is
waiting), the interactive one (``settings.CELERY_INTERACTIVE_QUEUE``) takes messages someone
is waiting to see (``InboundMessage.interactive``: one shipment's events from the API, a
driver's scan). Its own worker is never busy with a bulk batch, and an interactive message is
processed alone: never taken into a bulk batch, never taking bulk messages into its own. A
message queued behind a backlog of feeds waited for all of it (the ``push`` benchmark: 20 s
at 1,000 events/s); on its own lane it waits for nothing but its own processing. Nor does
its commit wait for the timeline's heavier hooks (exceptions, rules, webhooks, billing,
routes): they are recorded with the change and run in a transaction right after it
(shipments.services ``timeline_hooks_deferred``), so the live update goes out first.

``process_message`` counts the delivery in its own committed transaction before doing any
work, so a message that kills its worker every time (a poison message) is recognised after
MAX_DELIVERIES and sent to the dead-letter list instead of looping forever.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations import pipeline
from integrations.models import InboundMessage, MessageStatus
from shipments.services import deferred_hooks_run, timeline_hooks_deferred
from tenancy.context import for_each_tenant, tenant_context
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
MAX_DELIVERIES = 5
# Under load a worker takes other waiting messages of the tenant into its batch: one parse
# pass, one reference lookup, one insert and one timeline refresh for all of them.
BATCH_MESSAGES = 12
OPEN_STATUSES = (MessageStatus.RECEIVED, MessageStatus.PROCESSING)
# A stored message whose enqueue was lost (broker down at commit) is re-enqueued by the
# requeue_stale sweep (beat, every 20 s: config/settings.py) once it is this old: within 50 s.
# Longer than a healthy queue's wait, so the sweep rarely duplicates a task still queued (a
# duplicate is a no-op anyway: the message is processed, or held by the worker that has it).
RECEIVED_GRACE_S = 30
# A message a worker took but never finished (the worker died) is re-enqueued after this long.
PROCESSING_GRACE_S = 600


@shared_task(
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
    interactive: bool = False,
) -> list[dict]:
    """Process stored messages of one tenant, each step in that tenant's context.

    ``interactive``: the message is processed alone (see the module docstring)."""
    ids = list(message_ids or []) + ([message_id] if message_id is not None else [])
    with tenant_context(int(tenant_id)):
        live = count_delivery(ids)
    # Even when another worker already holds our message, help with whatever is waiting
    # (bulk only: an interactive message must not wait for a batch it picked up).
    if not interactive:
        with tenant_context(int(tenant_id)):
            return _process(self, live)
    # Someone is watching: the timeline's commit (and its live update) does not wait for the
    # heavier hooks; they run right after, in a transaction of their own.
    with timeline_hooks_deferred() as changed, tenant_context(int(tenant_id)):
        outcomes = _process(self, live, batch=len(live), flush_wait=False)
    if changed:
        _run_deferred_hooks(int(tenant_id), changed)
    return outcomes


def _run_deferred_hooks(tenant_id: int, shipment_ids: set[int]) -> None:
    try:
        with tenant_context(tenant_id):
            deferred_hooks_run(shipment_ids=shipment_ids)
    except Exception:
        # The message is applied; its recorded hooks stay for the beat sweep to run.
        logger.exception("ingest: deferred hooks of shipments %s failed", sorted(shipment_ids))


def queue_for(*, interactive: bool) -> str:
    if interactive:
        return str(settings.CELERY_INTERACTIVE_QUEUE)
    return str(settings.CELERY_TASK_DEFAULT_QUEUE)


def message_enqueue(
    *, tenant_id: int, message_id: int, interactive: bool, **options: object
) -> None:
    """Send ``process_message`` for one stored message to its queue (``options``: Celery's
    apply_async options, e.g. a retry policy)."""
    process_message.apply_async(
        kwargs={"tenant_id": tenant_id, "message_id": message_id, "interactive": interactive},
        queue=queue_for(interactive=interactive),
        **options,
    )


def count_delivery(ids: list[int]) -> list[int]:
    """Record this delivery (committed before any work); give up on poison messages."""
    now = timezone.now()
    # Skip rows another worker has locked (it took them into its batch): waiting for its
    # commit would serialise the workers, and they will be processed by then anyway.
    free = list(
        InboundMessage.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, status__in=OPEN_STATUSES)
        .values_list("pk", flat=True)
    )
    InboundMessage.objects.filter(pk__in=free).update(
        attempts=F("attempts") + 1, last_attempt_at=now, status=MessageStatus.PROCESSING
    )
    rows = InboundMessage.objects.filter(pk__in=ids, last_attempt_at=now)
    attempts = dict(rows.values_list("pk", "attempts"))
    poison = [pk for pk, n in attempts.items() if n > MAX_DELIVERIES]
    if poison:
        error = RuntimeError(f"the worker died or timed out {MAX_DELIVERIES} times on it")
        pipeline.messages_give_up(poison, error, attempts=MAX_DELIVERIES + 1)
    return sorted(pk for pk in attempts if pk not in poison)


def waiting_message_ids(exclude: list[int], limit: int) -> list[int]:
    """Bulk messages nobody has started, locked for this transaction (others skip them).
    Interactive ones are left to their own task on the interactive queue."""
    if limit <= 0:
        return []
    waiting = (
        InboundMessage.objects.select_for_update(skip_locked=True)
        .filter(status=MessageStatus.RECEIVED, interactive=False)
        .exclude(pk__in=exclude)
        .order_by("pk")
    )
    return list(waiting.values_list("pk", flat=True)[:limit])


def _process(
    task: Task, ids: list[int], batch: int = BATCH_MESSAGES, *, flush_wait: bool = True
) -> list[dict]:
    try:
        with transaction.atomic():
            if not flush_wait:
                _commit_without_flush_wait()
            ids = ids + waiting_message_ids(ids, batch - len(ids))
            if not ids:
                return []
            outcomes = pipeline.process_messages(ids)
    except OperationalError as error:
        if task.request.retries < MAX_RETRIES:
            raise  # autoretry with backoff; the messages stay "processing" meanwhile
        logger.exception("ingest: giving up on messages %s", ids)
        pipeline.messages_give_up(ids, error, attempts=task.request.retries + 1)
        return []
    except Exception as error:
        # Not transient (a bug, or data the pipeline cannot handle): retrying will not help.
        # Which message caused it is unknown, so each runs alone: only that one is marked
        # dead, its batch-mates are applied.
        logger.exception("ingest: processing failed for messages %s", ids)
        if len(ids) == 1:
            pipeline.messages_give_up(ids, error, attempts=task.request.retries + 1)
            return []
        return _process_each(task, ids)
    return [{"message_id": o.message_id, "status": o.status} for o in outcomes]


def _commit_without_flush_wait() -> None:
    """An interactive message's commit does not wait for its WAL to reach the disk
    (``synchronous_commit = off``, this transaction only). It holds nothing that leaves the
    database but the live update: the deferred hooks (outbox, notifications, charges) commit
    durably afterwards, and that commit flushes this one's WAL first, so nothing depends on a
    change that could be lost. A crash within the WAL writer's delay (200 ms) loses the
    events, the timeline and the message's "processed" status together: ``requeue_stale``
    processes the durably stored message again. Saves the event the disk's flush."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def _process_each(task: Task, ids: list[int]) -> list[dict]:
    results: list[dict] = []
    for message_id in ids:
        try:
            with transaction.atomic():
                outcomes = pipeline.process_messages([message_id])
        except OperationalError:
            if task.request.retries < MAX_RETRIES:
                raise
            logger.exception("ingest: giving up on message %s", message_id)
            continue  # the stale sweep hands it to a worker again
        except Exception as error:
            logger.exception("ingest: message %s failed on its own", message_id)
            pipeline.messages_give_up([message_id], error, attempts=task.request.retries + 1)
            continue
        results += [{"message_id": o.message_id, "status": o.status} for o in outcomes]
    return results


@shared_task(name="integrations.requeue_stale")
def requeue_stale(
    limit: int = 1000,
    received_grace_s: int = RECEIVED_GRACE_S,
    processing_grace_s: int = PROCESSING_GRACE_S,
) -> dict[int, int]:
    """Re-enqueue messages nobody finished: the enqueue failed (broker down at commit) or the
    worker died holding them. The database, not the broker, is the record of what must be
    processed; a broker's own redelivery of unacked tasks can take minutes."""
    graces = (timedelta(seconds=received_grace_s), timedelta(seconds=processing_grace_s))
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    return for_each_tenant(tenant_ids, lambda tenant_id: _requeue_tenant(tenant_id, limit, graces))


def stale_message_ids(limit: int, graces: tuple[timedelta, timedelta]) -> list[tuple[int, bool]]:
    """(id, interactive) of the messages to enqueue again."""
    now = timezone.now()
    received_grace, processing_grace = graces
    stale = InboundMessage.objects.filter(
        Q(status=MessageStatus.RECEIVED, received_at__lt=now - received_grace)
        | Q(status=MessageStatus.PROCESSING, last_attempt_at__lt=now - processing_grace)
    )
    return list(stale.order_by("pk").values_list("pk", "interactive")[:limit])


def _requeue_tenant(tenant_id: int, limit: int, graces: tuple[timedelta, timedelta]) -> int:
    ids = stale_message_ids(limit, graces)
    for message_id, interactive in ids:
        message_enqueue(tenant_id=tenant_id, message_id=message_id, interactive=interactive)
    if ids:
        logger.warning("ingest: re-enqueued %d stale messages of tenant %s", len(ids), tenant_id)
    return len(ids)

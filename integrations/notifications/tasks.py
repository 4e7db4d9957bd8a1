"""Celery tasks of notifications: deliver one, poll a provider for the delivery status, and
the beat sweep that sends what is due (quiet hours over, backoff waited, lost enqueues).

Each step runs in its own short tenant transaction; the provider is called between them,
with no transaction open (integrations.notifications.services says why)."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.notifications import services
from integrations.notifications.models import DeliveryStatus, Notification
from integrations.notifications.sms import SendFailed, sms_backend
from tenancy.context import for_each_tenant, tenant_context
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

STATUS_CHECKS = 6  # polls of the provider for a final status: 1, 2, 4, 8, 16, 32 minutes


@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver(*, tenant_id: int, notification_id: int) -> str:
    tenant_id = int(tenant_id)
    with tenant_context(tenant_id):
        if not services.notification_claim(notification_id=notification_id):
            return "skipped"
        notification = Notification.objects.get(pk=notification_id)
    result, failure = None, None
    try:
        result = services.notification_send_claimed(notification=notification)
    except SendFailed as error:
        failure = error
    except Exception as error:  # a bug in a sender: recorded, never retried blindly
        logger.exception("notification %s: sender crashed", notification_id)
        failure = SendFailed(f"internal error ({type(error).__name__})", retryable=False)
    with tenant_context(tenant_id):
        outcome = services.notification_record(
            notification=notification, result=result, failure=failure
        )
    if outcome.retry_in_s is not None:
        deliver.apply_async(
            kwargs={"tenant_id": tenant_id, "notification_id": notification_id},
            countdown=outcome.retry_in_s,
        )
    elif outcome.status == DeliveryStatus.SENT and notification.channel == "sms":
        check_status.apply_async(
            kwargs={"tenant_id": tenant_id, "notification_id": notification_id, "check": 1},
            countdown=60,
        )
    return str(outcome.status)


def enqueue_delivery(tenant_id: int, notification_id: int) -> None:
    deliver.delay(tenant_id=tenant_id, notification_id=notification_id)


@shared_task(name="notifications.check_status", acks_late=True)
def check_status(*, tenant_id: int, notification_id: int, check: int = 1) -> str:
    """Ask the SMS provider whether a sent message arrived (its status callback would need a
    public endpoint; a few polls need none)."""
    tenant_id = int(tenant_id)
    with tenant_context(tenant_id):
        notification = Notification.objects.filter(
            pk=notification_id, status=DeliveryStatus.SENT
        ).first()
    if notification is None or not notification.provider_message_id:
        return "done"
    try:
        status, reason = sms_backend().status(message_id=notification.provider_message_id)
    except SendFailed as error:
        status, reason = DeliveryStatus.SENT, error.reason
    if status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        with tenant_context(tenant_id):
            services.notification_status_update(
                notification=notification, status=status, reason=reason
            )
        return status
    if check < STATUS_CHECKS:
        check_status.apply_async(
            kwargs={"tenant_id": tenant_id, "notification_id": notification_id, "check": check + 1},
            countdown=60 * 2**check,
        )
    return "pending"


@shared_task(name="notifications.dispatch_due")
def dispatch_due(limit: int = 500) -> dict[int, int]:
    """Beat: in every tenant, enqueue what is due and fail what is stuck past its lease."""
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))

    def work(tenant_id: int) -> int:
        ids = services.notifications_due(limit=limit)
        for notification_id in ids:
            deliver.delay(tenant_id=tenant_id, notification_id=notification_id)
        return len(ids)

    return {k: int(v) for k, v in for_each_tenant(tenant_ids, work).items()}  # type: ignore[call-overload]

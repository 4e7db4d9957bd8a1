"""Writes of partner webhooks: subscriptions (create, update, delete, rotate the secret, send
a test event) and replays of failed deliveries. Keyword-only, audited, DomainError on a
broken rule (the field named)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations import outbound
from integrations.subscriptions import outbox, selectors, tasks
from integrations.subscriptions.models import (
    TEST_EVENT,
    Delivery,
    DeliveryStatus,
    EventType,
    Subscription,
    new_signing_secret,
)
from integrations.subscriptions.tracking import TRACKING_TYPES
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError
from tenancy.models import ApiKey, User

MAX_SUBSCRIPTIONS = 50  # per tenant: every event fans out to each
ROTATION_OVERLAP = timedelta(hours=24)  # the previous secret keeps signing this long
REPLAY_LIMIT = 10_000
EVENT_TYPES = frozenset(EventType.values)


class WebhookError(DomainError):
    """A partner-webhook rule was broken."""


def _check_url(url: str) -> str:
    """https (http only inside WEBHOOK_ALLOWED_NETWORKS), no literal refused address, no
    localhost: refused now with a field error; a name that resolves to a refused address is
    refused when a delivery connects (integrations.outbound)."""
    url = (url or "").strip()
    outbound.check_url(url, field="url")
    return url


def _check_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted(set(event_types))
    unknown = [value for value in chosen if value not in EVENT_TYPES]
    if unknown or not chosen:
        raise WebhookError(
            f"Choose one or more of {', '.join(sorted(EVENT_TYPES))}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            code="invalid_event_types",
            field="event_types",
        )
    return chosen


def _audit(
    action: str,
    subscription: Subscription,
    *,
    actor: User | None,
    api_key: ApiKey | None,
    changes: dict[str, object] | None = None,
) -> None:
    audit_record(
        action=action,
        target_type="webhook",
        target_id=subscription.pk,
        actor=actor,
        api_key=api_key,
        changes=changes,
    )


@transaction.atomic
def subscription_create(
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    customer_account_ids: Collection[int] | None = None,
    api_key: ApiKey | None = None,
    actor: User | None = None,
) -> Subscription:
    """A new subscription with a new secret. ``customer_account_ids``: the customer scope of
    the caller (None: all accounts); it receives only those accounts' events."""
    url = _check_url(url)
    chosen = _check_event_types(event_types)
    if Subscription.objects.count() >= MAX_SUBSCRIPTIONS:
        raise Conflict(
            f"At most {MAX_SUBSCRIPTIONS} webhooks per tenant.", code="too_many_webhooks"
        )
    now = timezone.now()
    subscription = Subscription.objects.create(
        url=url,
        event_types=chosen,
        description=description,
        customer_account_ids=sorted(customer_account_ids or ()),
        sent_by_key=api_key,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        watching_since=now,
        created_at=now,
        updated_at=now,
    )
    _audit(
        "webhook.create",
        subscription,
        actor=actor,
        api_key=api_key,
        changes={"url": url, "event_types": chosen},
    )
    return subscription


@transaction.atomic
def subscription_update(
    *,
    subscription: Subscription,
    changes: Mapping[str, Any],
    api_key: ApiKey | None = None,
    actor: User | None = None,
) -> Subscription:
    """Change url, event_types, description or is_active. Re-enabling (after a 410, say)
    starts listening again from now; what failed meanwhile can be replayed."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    now = timezone.now()
    changed: dict[str, object] = {}
    if "url" in changes:
        subscription.url = changed["url"] = _check_url(changes["url"])
    if "event_types" in changes:
        chosen = _check_event_types(changes["event_types"])
        if TRACKING_TYPES & set(chosen) and not TRACKING_TYPES & set(subscription.event_types):
            # It starts listening to shipment events now (what came before was not watched).
            subscription.watching_since = now
        subscription.event_types = changed["event_types"] = chosen
    if "description" in changes:
        subscription.description = changed["description"] = changes["description"]
    if "is_active" in changes and bool(changes["is_active"]) != subscription.is_active:
        subscription.is_active = changed["is_active"] = bool(changes["is_active"])
        if subscription.is_active:
            subscription.watching_since = now
            subscription.disabled_reason, subscription.disabled_at = "", None
        else:
            subscription.disabled_reason, subscription.disabled_at = "disabled by a user", now
    subscription.updated_at = now
    subscription.save()
    if changed:
        _audit("webhook.update", subscription, actor=actor, api_key=api_key, changes=changed)
    return subscription


@transaction.atomic
def subscription_delete(
    *, subscription: Subscription, api_key: ApiKey | None = None, actor: User | None = None
) -> None:
    """Delete it with its delivery log (nothing more is sent to it)."""
    _audit("webhook.delete", subscription, actor=actor, api_key=api_key)
    subscription.delete()


@transaction.atomic
def subscription_rotate_secret(
    *,
    subscription: Subscription,
    overlap: timedelta = ROTATION_OVERLAP,
    api_key: ApiKey | None = None,
    actor: User | None = None,
) -> Subscription:
    """A new secret (shown once). For ``overlap`` every delivery is signed with both, so the
    receiver can switch over without losing one; then the old one stops signing."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    now = timezone.now()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + overlap
    subscription.secret = new_signing_secret()
    subscription.updated_at = now
    subscription.save()
    _audit(
        "webhook.rotate_secret",
        subscription,
        actor=actor,
        api_key=api_key,
        changes={"previous_secret_expires_at": subscription.previous_secret_expires_at.isoformat()},
    )
    return subscription


def subscription_test(
    *, subscription: Subscription, api_key: ApiKey | None = None, actor: User | None = None
) -> Delivery:
    """Send a ``webhook.test`` event to this subscription alone (signed like any other)."""
    if not subscription.is_active:
        raise Conflict("This webhook is disabled: enable it first.", code="webhook_disabled")
    with transaction.atomic():
        ids = outbox.outbox_record(
            items=[
                outbox.OutboxItem(
                    event_type=TEST_EVENT,
                    data={
                        "webhook": {"id": str(subscription.pk)},
                        "message": "A test event from Milepost: the signature verifies.",
                    },
                )
            ],
            subscription_ids=[subscription.pk],
        )
        if not ids:  # disabled by a concurrent 410 meanwhile
            raise Conflict("This webhook is disabled: enable it first.", code="webhook_disabled")
        _audit("webhook.test", subscription, actor=actor, api_key=api_key)
        return Delivery.objects.select_related("event").get(pk=ids[0])


@transaction.atomic
def delivery_replay(
    *, delivery: Delivery, api_key: ApiKey | None = None, actor: User | None = None
) -> Delivery:
    """Send a failed delivery again, with a fresh retry schedule and the same webhook-id."""
    delivery = Delivery.objects.select_for_update().select_related("event").get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise Conflict(
            f"Only failed deliveries are replayed; this one is {delivery.status}.",
            code="not_failed",
        )
    _replay([delivery.pk], delivery.subscription_id)
    delivery.refresh_from_db()
    audit_record(
        action="webhook.delivery_replay",
        target_type="webhook_delivery",
        target_id=delivery.pk,
        actor=actor,
        api_key=api_key,
    )
    return delivery


@transaction.atomic
def deliveries_replay_failed(
    *,
    subscription: Subscription,
    since: datetime | None = None,
    api_key: ApiKey | None = None,
    actor: User | None = None,
) -> int:
    """Replay every failed delivery of the subscription (created since ``since``), oldest
    first, at most REPLAY_LIMIT per call; returns how many."""
    failed = selectors.failed_deliveries(subscription=subscription, since=since)
    ids = list(failed.order_by("pk").values_list("pk", flat=True)[:REPLAY_LIMIT])
    _replay(ids, subscription.pk)
    _audit(
        "webhook.replay_failed",
        subscription,
        actor=actor,
        api_key=api_key,
        changes={"replayed": len(ids), "since": since.isoformat() if since else None},
    )
    return len(ids)


def _replay(ids: list[int], subscription_id: int) -> None:
    if not ids:
        return
    Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING,
        step=0,
        next_attempt_at=timezone.now(),
        failed_at=None,
    )
    tenant_id = current_tenant_id()
    transaction.on_commit(lambda: tasks.enqueue(tenant_id, {subscription_id: ids}), robust=True)

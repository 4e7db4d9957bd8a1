"""Writes of notifications: preferences, templates, sending (fan-out to recipients), delivery
with retries, unsubscribing, reading in-app messages.

Sending never happens inside the caller's transaction (an ingest batch, a rule firing): the
rows are written there (queued, idempotent by key) and a Celery task is enqueued after
commit; the provider is called by the worker outside any transaction, so a slow or failing
provider never holds a lock nor fails the batch.

Delivery (``notification_deliver``): claim the row (queued and due -> sending, committed),
call the provider, record the outcome. A retryable failure (timeout, 429, 5xx) goes back to
queued with ``send_after`` moved on by exponential backoff with jitter (or the provider's
Retry-After), up to MAX_ATTEMPTS; anything else, or the last attempt, is failed with the
reason. A row left in "sending" past its lease (the worker died during the call) is failed
as "outcome unknown" instead of retried: the recipient might already have the message, and
a customer must not get two texts.
"""

from __future__ import annotations

import logging
import random
import re
import smtplib
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import formats, timezone, translation

from integrations.notifications import wording
from integrations.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
    NotificationTemplate,
)
from integrations.notifications.quiet import quiet_until
from integrations.notifications.sms import SendFailed, sms_backend
from milestones.default_templates import LABELS
from shipments.models import Shipment, ShipmentReference
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import DomainError, NotFound
from tenancy.models import CustomerAccount, Membership, Role, Tenant, User
from tenancy.realtime import publish_on_commit

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BASE_BACKOFF_S = 30.0
MAX_BACKOFF_S = 3600.0
SENDING_LEASE = timedelta(minutes=10)
UNSUBSCRIBE_SALT = "milepost.notifications.unsubscribe"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
OUTBOUND_CHANNELS = (Channel.EMAIL, Channel.SMS)


class NotificationError(DomainError):
    code = "invalid_notification"


class TokenInvalid(DomainError):
    code = "token_invalid"


class TokenExpired(DomainError):
    code = "token_expired"


# --- channels ------------------------------------------------------------------------------

# What a channel's sender does with one claimed notification: (provider, message id, status)
Sender = Callable[[Notification], tuple[str, str, str]]
_SENDERS: dict[str, Sender] = {}


def register_sender(channel: str, sender: Sender) -> None:
    """The hook for channels delivered elsewhere: the partner API issue registers "webhook"
    here (its outbox delivers it); until then a rule cannot choose that channel."""
    _SENDERS[channel] = sender


# How a delivery is enqueued: set by apps.py to the Celery task (tasks imports this module).
_DELIVERY_QUEUE: list[Callable[[int, int], None]] = [lambda tenant_id, notification_id: None]


def register_delivery_queue(enqueue: Callable[[int, int], None]) -> None:
    _DELIVERY_QUEUE[0] = enqueue


def available_channels() -> list[str]:
    return sorted({Channel.IN_APP.value, *_SENDERS})


# --- preferences ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True)
class PreferenceValues:
    email: str = ""
    phone: str = ""
    locale: str = ""
    timezone: str = ""
    email_enabled: bool = False
    sms_enabled: bool = False
    in_app_enabled: bool = True
    email_milestones: Sequence[str] = ()
    sms_milestones: Sequence[str] = ()
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None


def _check_preference(values: PreferenceValues, known_milestones: set[str]) -> None:
    if values.phone and not E164.match(values.phone):
        raise NotificationError("Use the E.164 form, e.g. +4915112345678.", field="phone")
    if values.sms_enabled and not values.phone:
        raise NotificationError("SMS needs a phone number.", field="phone")
    if values.email_enabled and not values.email:
        raise NotificationError("Email needs an address.", field="email")
    if values.timezone and values.timezone not in _zones():
        raise NotificationError(f"Unknown time zone {values.timezone!r}.", field="timezone")
    if values.locale and not LOCALE.match(values.locale):
        raise NotificationError("Use a language code such as en or de-AT.", field="locale")
    if (values.quiet_hours_start is None) != (values.quiet_hours_end is None):
        raise NotificationError(
            "Give both ends of the quiet hours, or neither.", field="quiet_hours_end"
        )
    for field in ("email_milestones", "sms_milestones"):
        unknown = sorted(set(getattr(values, field)) - known_milestones)
        if unknown:
            raise NotificationError(f"Unknown milestone(s): {', '.join(unknown)}", field=field)


def preference_set(
    *,
    values: PreferenceValues,
    known_milestones: set[str],
    customer_account_id: int | None = None,
    tracking_number: str = "",
    allowed_accounts: frozenset[int] | None = None,
    actor: User | None = None,
) -> NotificationPreference:
    """Create or replace the preferences of a customer account or of a tracking number.

    ``allowed_accounts`` (customer callers): the subject must belong to one of them; anything
    else answers 404 like an unknown subject."""
    tracking_number = tracking_number.strip()
    if bool(tracking_number) == (customer_account_id is not None):
        raise NotificationError(
            "Name either a customer account or a tracking number.", field="customer_account"
        )
    _check_preference(values, known_milestones)
    if tracking_number:
        reference = (
            ShipmentReference.objects.filter(value=tracking_number)
            .select_related("shipment")
            .order_by("pk")
            .first()
        )
        if reference is None:
            raise NotFound("Unknown tracking number.")
        account_id = reference.shipment.customer_account_id
    else:
        assert customer_account_id is not None  # checked above: exactly one subject
        if not CustomerAccount.objects.filter(pk=customer_account_id).exists():
            raise NotFound("Unknown customer account.")
        account_id = customer_account_id
    if allowed_accounts is not None and account_id not in allowed_accounts:
        raise NotFound("Unknown tracking number." if tracking_number else "Unknown account.")
    fields: dict[str, Any] = {
        "email": values.email,
        "phone": values.phone,
        "locale": values.locale,
        "timezone": values.timezone,
        "email_enabled": values.email_enabled,
        "sms_enabled": values.sms_enabled,
        "in_app_enabled": values.in_app_enabled,
        "email_milestones": sorted(set(values.email_milestones)),
        "sms_milestones": sorted(set(values.sms_milestones)),
        "quiet_hours_start": values.quiet_hours_start,
        "quiet_hours_end": values.quiet_hours_end,
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        if tracking_number:
            preference, created = NotificationPreference.objects.update_or_create(
                tracking_number=tracking_number,
                defaults=fields | {"customer_account_id": account_id},
            )
        else:
            preference, created = NotificationPreference.objects.update_or_create(
                customer_account_id=account_id, tracking_number="", defaults=fields
            )
        audit_record(
            action="notification_preference.set",
            target_type="notification_preference",
            target_id=preference.pk,
            actor=actor,
            changes={
                "created": created,
                "email_enabled": values.email_enabled,
                "sms_enabled": values.sms_enabled,
                "in_app_enabled": values.in_app_enabled,
                "sms_milestones": fields["sms_milestones"],
                "email_milestones": fields["email_milestones"],
            },
        )
    return preference


# --- unsubscribe ---------------------------------------------------------------------------


def unsubscribe_token(*, preference: NotificationPreference, channel: str) -> str:
    """Signed (SECRET_KEY, own salt) and timestamped; valid NOTIFICATIONS_UNSUBSCRIBE_DAYS."""
    return signing.dumps(
        {"t": preference.tenant_id, "p": preference.pk, "c": channel},
        salt=UNSUBSCRIBE_SALT,
        compress=True,
    )


@dataclass(frozen=True)
class UnsubscribeClaim:
    tenant_id: int
    preference_id: int
    channel: str


def unsubscribe_token_read(token: str) -> UnsubscribeClaim:
    """What a token says, or TokenInvalid (tampered, malformed) / TokenExpired."""
    max_age = timedelta(days=settings.NOTIFICATIONS_UNSUBSCRIBE_DAYS)
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenExpired(
            "This unsubscribe link has expired; use the link of a newer message.", field="token"
        ) from None
    except (signing.BadSignature, ValueError, UnicodeError):
        raise TokenInvalid("This unsubscribe link is not valid.", field="token") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("t"), int)
        or not isinstance(data.get("p"), int)
        or data.get("c") not in (Channel.EMAIL, Channel.SMS)
    ):
        raise TokenInvalid("This unsubscribe link is not valid.", field="token")
    return UnsubscribeClaim(tenant_id=data["t"], preference_id=data["p"], channel=data["c"])


def unsubscribe_apply(*, claim: UnsubscribeClaim) -> NotificationPreference:
    """Turn the channel off for that recipient (current tenant context = the claim's)."""
    preference = NotificationPreference.objects.filter(pk=claim.preference_id).first()
    if preference is None:
        raise TokenInvalid("This unsubscribe link is not valid.", field="token")
    field = f"{claim.channel}_enabled"
    if getattr(preference, field):
        setattr(preference, field, False)
        preference.updated_at = timezone.now()
        preference.save(update_fields=[field, "updated_at"])
        audit_record(
            action="notification_preference.unsubscribe",
            target_type="notification_preference",
            target_id=preference.pk,
            changes={"channel": claim.channel},
        )
    return preference


def unsubscribe_url(token: str) -> str:
    return f"{settings.MILEPOST_BASE_URL}/api/v1/notifications/unsubscribe/?token={token}"


# --- templates -----------------------------------------------------------------------------


def template_set(
    *, topic: str, channel: str, locale: str, subject: str, body: str, actor: User | None = None
) -> NotificationTemplate:
    if topic not in wording.TOPICS:
        raise NotificationError(f"Unknown topic; one of {', '.join(wording.TOPICS)}", field="topic")
    if not LOCALE.match(locale):
        raise NotificationError("Use a language code such as en or de-AT.", field="locale")
    wording.check_template(subject=subject, body=body, channel=channel)
    with transaction.atomic():
        template, _ = NotificationTemplate.objects.update_or_create(
            topic=topic,
            channel=channel,
            locale=locale.lower(),
            defaults={"subject": subject, "body": body, "updated_at": timezone.now()},
        )
        audit_record(
            action="notification_template.set",
            target_type="notification_template",
            target_id=template.pk,
            actor=actor,
            changes={"topic": topic, "channel": channel, "locale": locale},
        )
    return template


def template_delete(*, template: NotificationTemplate, actor: User | None = None) -> None:
    with transaction.atomic():
        audit_record(
            action="notification_template.delete",
            target_type="notification_template",
            target_id=template.pk,
            actor=actor,
            changes={"topic": template.topic, "channel": template.channel},
        )
        template.delete()


# --- sending -------------------------------------------------------------------------------

AUDIENCE_CUSTOMER = "customer"
ROLE_PREFIX = "role:"


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    locale: str
    zone: str
    preference: NotificationPreference | None = None
    user_id: int | None = None


def _milestone_of(topic: str, cause: Mapping[str, Any]) -> str:
    milestone = cause.get("milestone")
    if isinstance(milestone, str) and milestone:
        return milestone
    return topic if topic in ("out_for_delivery", "delivered") else ""


def _customer_preferences(shipment: Shipment, references: list[str]) -> list[Any]:
    """The tracking-number rows first (the consignee's own wishes), then the account's."""
    condition = Q(tracking_number__in=references)
    if shipment.customer_account_id is not None:
        condition |= Q(customer_account_id=shipment.customer_account_id, tracking_number="")
    rows = list(NotificationPreference.objects.filter(condition))
    return sorted(rows, key=lambda p: (p.tracking_number == "", p.pk))


def _recipients(
    *,
    tenant: Tenant,
    shipment: Shipment,
    references: list[str],
    channel: str,
    audience: str,
    milestone: str,
) -> list[Recipient]:
    if audience.startswith(ROLE_PREFIX):
        members = Membership.objects.filter(
            role=audience.removeprefix(ROLE_PREFIX), is_active=True
        ).select_related("user")
        return [
            Recipient(
                channel=channel,
                address=m.user.email,
                locale=tenant.locale,
                zone=tenant.timezone,
                user_id=m.user_id,
            )
            for m in members
            if channel in (Channel.IN_APP, Channel.EMAIL)
        ]
    preferences = _customer_preferences(shipment, references)
    if channel == Channel.IN_APP:
        account = shipment.customer_account_id
        if account is None:
            return []
        if any(not p.in_app_enabled for p in preferences if not p.tracking_number):
            return []
        members = Membership.objects.filter(
            role=Role.CUSTOMER,
            is_active=True,
            pk__in=Membership.objects.filter(
                membershipcustomeraccount__customer_account_id=account
            ).values("pk"),
        ).select_related("user")
        return [
            Recipient(
                channel=channel,
                address=m.user.email,
                locale=tenant.locale,
                zone=tenant.timezone,
                user_id=m.user_id,
            )
            for m in members
        ]
    found: list[Recipient] = []
    seen: set[str] = set()
    for preference in preferences:
        address = preference.phone if channel == Channel.SMS else preference.email
        if not address or address in seen:
            continue
        seen.add(address)  # the tracking-number row decides for an address it names
        if not getattr(preference, f"{channel}_enabled"):
            continue
        wanted = getattr(preference, f"{channel}_milestones")
        if wanted and milestone and milestone not in wanted:
            continue
        if wanted and not milestone:
            continue  # limited to some milestones, and this is not about one
        found.append(
            Recipient(
                channel=channel,
                address=address,
                locale=preference.locale or tenant.locale,
                zone=preference.timezone or tenant.timezone,
                preference=preference,
            )
        )
    return found


def _template_for(
    rows: Mapping[str, NotificationTemplate], topic: str, channel: str, locales: list[str]
) -> wording.Wording:
    for locale in locales:
        if locale in rows:
            return wording.Wording(rows[locale].subject, rows[locale].body)
        if (topic, channel, locale) in wording.DEFAULTS:
            return wording.DEFAULTS[(topic, channel, locale)]
    return wording.default_wording(topic, channel, locales)


def _eta_window(prediction: Any, locale: str, zone: str) -> str:
    if prediction is None or prediction.likely is None:
        return "-"
    tz = zoneinfo.ZoneInfo(zone)
    earliest = (prediction.earliest or prediction.likely).astimezone(tz)
    latest = (prediction.latest or prediction.likely).astimezone(tz)
    with translation.override(locale.split("-")[0]):
        start = formats.date_format(earliest, "D j M, H:i")
        end_format = "H:i" if earliest.date() == latest.date() else "D j M, H:i"
        return f"{start}\u2013{formats.date_format(latest, end_format)}"  # an en dash


def _branding(tenant: Tenant) -> wording.Branding:
    logo = f"{settings.MILEPOST_BASE_URL}{tenant.logo.url}" if tenant.logo else ""
    return wording.Branding(
        name=tenant.name,
        logo_url=logo,
        primary_colour=tenant.primary_colour,
        accent_colour=tenant.accent_colour,
        support_email=tenant.support_email,
        support_phone=tenant.support_phone,
    )


def _primary_reference(references: list[tuple[str, str]]) -> str:
    for kind, value in references:
        if kind == "tracking_number":
            return value
    return references[0][1] if references else ""


def notifications_send(
    *,
    shipment_id: int,
    channel: str,
    topic: str,
    key: str,
    audience: str = AUDIENCE_CUSTOMER,
    cause: Mapping[str, Any] | None = None,
    message: str = "",
    now: datetime | None = None,
) -> list[Notification]:
    """Write one notification per recipient who wants it (queued; in-app ones delivered by
    being stored) and enqueue their delivery after commit. Idempotent: ``key`` (e.g. the
    rule firing) + channel + recipient is unique, so a replay creates and sends nothing."""
    cause = dict(cause or {})
    now = now or timezone.now()
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    if shipment is None:
        raise NotFound("Unknown shipment.")
    references = list(
        ShipmentReference.objects.filter(shipment_id=shipment.pk)
        .order_by("pk")
        .values_list("kind", "value")
    )
    milestone = _milestone_of(topic, cause)
    tenant = Tenant.objects.get(pk=current_tenant_id())
    recipients = _recipients(
        tenant=tenant,
        shipment=shipment,
        references=[value for _, value in references],
        channel=channel,
        audience=audience,
        milestone=milestone,
    )
    if not recipients:
        return []
    from integrations.eta.selectors import predicted_delivery

    prediction = predicted_delivery([shipment.pk], now=now).get(shipment.pk)
    templates = {
        t.locale: t for t in NotificationTemplate.objects.filter(topic=topic, channel=channel)
    }
    tracking = _primary_reference(references)
    rows: list[Notification] = []
    for recipient in recipients:
        locales = wording.locale_candidates(recipient.locale, tenant.locale)
        text = _template_for(templates, topic, channel, locales)
        token = (
            unsubscribe_token(preference=recipient.preference, channel=channel)
            if recipient.preference is not None and channel in OUTBOUND_CHANNELS
            else ""
        )
        label = LABELS.get(milestone, {})
        values = {
            "tenant_name": tenant.name,
            "tracking_number": tracking,
            "milestone": label.get(locales[0].split("-")[0]) or label.get("en") or milestone,
            "eta_window": _eta_window(prediction, locales[0], recipient.zone),
            "eta": shipment.eta.astimezone(zoneinfo.ZoneInfo(recipient.zone)).isoformat()
            if shipment.eta
            else "",
            "message": message,
            "support_email": tenant.support_email,
            "support_phone": tenant.support_phone,
            "tracking_url": f"{settings.MILEPOST_BASE_URL}/track/{tenant.slug}/{tracking}/",
            "unsubscribe_url": unsubscribe_url(token) if token else "",
        }
        body = wording.render(text.body, values)
        if channel == Channel.SMS:
            body = body[: wording.SMS_MAX_CHARS]
        send_after = now
        if channel in OUTBOUND_CHANNELS and recipient.preference is not None:
            quiet_end = quiet_until(
                now,
                start=recipient.preference.quiet_hours_start,
                end=recipient.preference.quiet_hours_end,
                zone=zoneinfo.ZoneInfo(recipient.zone),
            )
            send_after = quiet_end or now
        in_app = channel == Channel.IN_APP
        rows.append(
            Notification(
                tenant_id=tenant.pk,
                shipment_id=shipment.pk,
                preference=recipient.preference,
                user_id=recipient.user_id,
                channel=channel,
                recipient=recipient.address[:254],
                topic=topic,
                locale=locales[0],
                subject=wording.render(text.subject, values)[:200],
                body=body,
                cause=cause | ({"unsubscribe_token": token} if token else {}),
                idempotency_key=f"{key}:{channel}:{recipient.address}"[:200],
                status=DeliveryStatus.DELIVERED if in_app else DeliveryStatus.QUEUED,
                provider="milepost" if in_app else "",
                delivered_at=now if in_app else None,
                send_after=send_after,
                created_at=now,
            )
        )
    keys = [row.idempotency_key for row in rows]
    existing = set(
        Notification.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    fresh = [row for row in rows if row.idempotency_key not in existing]
    # A concurrent replay of the same firing: the unique key keeps one row.
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    created = list(
        Notification.objects.filter(
            idempotency_key__in=[r.idempotency_key for r in fresh], created_at=now
        )
    )
    _after_commit(created, now)
    return created


def _after_commit(created: list[Notification], now: datetime) -> None:
    tenant_id = current_tenant_id()
    due = [n.pk for n in created if n.channel in _SENDERS and n.send_after <= now]
    users = sorted({n.user_id for n in created if n.channel == Channel.IN_APP and n.user_id})
    for user_id in users:
        ids = [n.pk for n in created if n.user_id == user_id and n.channel == Channel.IN_APP]
        publish_on_commit(
            tenant_id=tenant_id,
            topic=f"inbox.user-{user_id}",
            payload={"type": "notification.created", "notification_ids": ids},
        )
    if due:

        def enqueue() -> None:
            for notification_id in due:
                _DELIVERY_QUEUE[0](tenant_id, notification_id)

        # A broker outage costs only the prompt send: the dispatch sweep finds the rows.
        transaction.on_commit(enqueue, robust=True)


# --- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in_s: float | None = None


def backoff_s(attempt: int, retry_after_s: float | None = None) -> float:
    """Exponential with ±20 % jitter: 30 s, 60 s, 120 s, … at most an hour; a provider's
    Retry-After is honoured when it asks for longer."""
    base = min(MAX_BACKOFF_S, BASE_BACKOFF_S * float(2 ** max(0, attempt - 1)))
    jittered = base * random.uniform(0.8, 1.2)
    return max(jittered, retry_after_s or 0.0)


def notification_claim(*, notification_id: int, now: datetime | None = None) -> bool:
    """queued and due -> sending (attempts + 1, leased); False when someone else has it, it
    is not due, or it is already done."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=DeliveryStatus.QUEUED, send_after__lte=now
    ).update(
        status=DeliveryStatus.SENDING,
        attempts=F("attempts") + 1,
        send_after=now + SENDING_LEASE,
    )
    return claimed == 1


def notification_send_claimed(*, notification: Notification) -> tuple[str, str, str]:
    """Call the channel's sender (no transaction open): (provider, message id, status)."""
    sender = _SENDERS.get(notification.channel)
    if sender is None:
        raise SendFailed(f"no sender for channel {notification.channel}", retryable=False)
    return sender(notification)


def notification_record(
    *,
    notification: Notification,
    result: tuple[str, str, str] | None,
    failure: SendFailed | None,
    now: datetime | None = None,
) -> Outcome:
    now = now or timezone.now()
    fields: dict[str, Any]
    if result is not None:
        provider, message_id, status = result
        fields = {
            "status": status,
            "provider": provider,
            "provider_message_id": message_id[:120],
            "sent_at": now,
            "last_error": "",
            "send_after": now,
        }
        if status == DeliveryStatus.DELIVERED:
            fields["delivered_at"] = now
        Notification.objects.filter(pk=notification.pk).update(**fields)
        return Outcome(status)
    assert failure is not None
    if failure.retryable and notification.attempts < MAX_ATTEMPTS:
        wait = backoff_s(notification.attempts, failure.retry_after_s)
        Notification.objects.filter(pk=notification.pk).update(
            status=DeliveryStatus.QUEUED,
            last_error=failure.reason[:500],
            send_after=now + timedelta(seconds=wait),
        )
        return Outcome(DeliveryStatus.QUEUED, retry_in_s=wait)
    reason = failure.reason
    if failure.retryable:
        reason = f"gave up after {notification.attempts} attempts: {reason}"
    Notification.objects.filter(pk=notification.pk).update(
        status=DeliveryStatus.FAILED, last_error=reason[:500], failed_at=now, send_after=now
    )
    return Outcome(DeliveryStatus.FAILED)


def notification_status_update(*, notification: Notification, status: str, reason: str) -> None:
    """A provider's later word on a sent message (delivered / failed with its reason)."""
    now = timezone.now()
    if status == DeliveryStatus.DELIVERED:
        Notification.objects.filter(pk=notification.pk, status=DeliveryStatus.SENT).update(
            status=status, delivered_at=now
        )
    elif status == DeliveryStatus.FAILED:
        Notification.objects.filter(pk=notification.pk, status=DeliveryStatus.SENT).update(
            status=status, failed_at=now, last_error=reason[:500]
        )


def notifications_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queued and due (quiet hours over, backoff waited, or an enqueue that was lost); and,
    first, fail rows stuck in "sending" past their lease (see the module docstring)."""
    now = now or timezone.now()
    Notification.objects.filter(status=DeliveryStatus.SENDING, send_after__lt=now).update(
        status=DeliveryStatus.FAILED,
        failed_at=now,
        last_error="outcome unknown: the worker stopped during the send; not retried, so "
        "the recipient is not messaged twice",
    )
    due = Notification.objects.filter(status=DeliveryStatus.QUEUED, send_after__lte=now)
    return list(due.order_by("send_after", "pk").values_list("pk", flat=True)[:limit])


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


# --- senders of the built-in channels ------------------------------------------------------


def _send_sms(notification: Notification) -> tuple[str, str, str]:
    result = sms_backend().send(
        to=notification.recipient, body=notification.body, reference=f"n{notification.pk}"
    )
    return result.provider, result.message_id, result.status


def _send_email(notification: Notification) -> tuple[str, str, str]:
    tenant = Tenant.objects.get(pk=notification.tenant_id)
    token = str(notification.cause.get("unsubscribe_token") or "")
    link = unsubscribe_url(token) if token else settings.MILEPOST_BASE_URL
    headers = {"X-Milepost-Notification": str(notification.pk)}
    if token:
        headers["List-Unsubscribe"] = f"<{link}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.NOTIFICATIONS_FROM_EMAIL or settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        reply_to=[tenant.support_email] if tenant.support_email else None,
        headers=headers,
    )
    email.attach_alternative(
        wording.email_html(
            branding=_branding(tenant),
            subject=notification.subject,
            body=notification.body,
            unsubscribe_url=link,
        ),
        "text/html",
    )
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as error:
        raise SendFailed(f"recipient refused: {error.recipients}", retryable=False) from None
    except Exception as error:
        raise _email_failure(error) from None
    status = getattr(email, "anymail_status", None)
    message_id = str(getattr(status, "message_id", "") or "") if status else ""
    # "smtp", "console", … from django.core.mail.backends.<name>.EmailBackend
    provider = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if getattr(settings, "ANYMAIL_ESP", "") and "anymail" in settings.EMAIL_BACKEND.lower():
        provider = settings.ANYMAIL_ESP
    return provider[:40], message_id, DeliveryStatus.SENT


def _email_failure(error: Exception) -> SendFailed:
    """Anymail's refusals are final; its API errors retry on 429/5xx; SMTP/network retry."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    if name in ("AnymailRecipientsRefused", "AnymailInvalidAddress", "AnymailRejectedRecipient"):
        return SendFailed(f"provider refused the recipient ({name})", retryable=False)
    if isinstance(status, int):
        return SendFailed(
            f"HTTP {status} from the email provider", retryable=status == 429 or status >= 500
        )
    if isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600:
        return SendFailed(f"SMTP {error.smtp_code}", retryable=False)
    logger.info("email send failed: %r", error)
    return SendFailed(f"email provider unavailable ({name})", retryable=True)


register_sender(Channel.SMS, _send_sms)
register_sender(Channel.EMAIL, _send_email)


def notifications_of(ids: Iterable[int]) -> list[Notification]:
    return list(Notification.objects.filter(pk__in=list(ids)))

"""Sending: preferences and quiet hours decide who gets what, a replay sends nothing twice,
nothing is sent inside the caller's transaction, and the SMS provider's failures are retried
with backoff and recorded (a local stub of Twilio's API on 127.0.0.1)."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.notifications import services, tasks
from integrations.notifications.models import Notification
from tenancy.context import tenant_context
from tests.integrations.notifications.conftest import PHONE, set_preference

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 7, 2, 10, 0, tzinfo=UTC)  # 12:00 in Berlin


def _send(tenant, shipment, *, channel="sms", topic="delivered", key="firing:1", **extra):
    with tenant_context(tenant.pk):
        return services.notifications_send(
            shipment_id=shipment.pk, channel=channel, topic=topic, key=key, **extra
        )


def _rows(tenant):
    with tenant_context(tenant.pk):
        return list(Notification.objects.order_by("pk"))


def test_an_opted_in_account_gets_the_sms_and_an_opted_out_one_does_not(acme, shipment, enqueued):
    set_preference(
        acme.tenant,
        customer_account_id=acme.customer_account.pk,
        phone=PHONE,
        sms_enabled=True,
        sms_milestones=["out_for_delivery", "delivered"],
    )
    created = _send(acme.tenant, shipment, now=NOON)
    assert [(n.channel, n.recipient, n.status) for n in created] == [("sms", PHONE, "queued")]
    assert "TRK-1001" in created[0].body and "delivered" in created[0].body
    assert "/api/v1/notifications/unsubscribe/?token=" in created[0].body
    # Not one of the milestones this recipient wants by SMS: nothing.
    assert (
        _send(
            acme.tenant,
            shipment,
            topic="milestone",
            cause={"milestone": "departed"},
            key="firing:2",
            now=NOON,
        )
        == []
    )
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=False
    )
    assert _send(acme.tenant, shipment, key="firing:3", now=NOON) == []
    assert len(_rows(acme.tenant)) == 1


def test_the_tracking_number_preference_speaks_for_its_own_address(acme, shipment, enqueued):
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )
    # The consignee of this parcel opted out (same phone) and another number opted in.
    set_preference(acme.tenant, tracking_number="TRK-1001", phone=PHONE, sms_enabled=False)
    assert _send(acme.tenant, shipment, now=NOON) == []
    set_preference(
        acme.tenant, tracking_number="TRK-1001", phone="+4917000000001", sms_enabled=True
    )
    sent = _send(acme.tenant, shipment, key="firing:9", now=NOON)
    assert sorted(n.recipient for n in sent) == ["+4915112345678", "+4917000000001"]


def test_replaying_a_firing_sends_nothing_twice(
    acme, shipment, enqueued, django_capture_on_commit_callbacks
):
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(acme.tenant, shipment, now=NOON)
    with django_capture_on_commit_callbacks(execute=True):
        again = _send(acme.tenant, shipment, now=NOON + timedelta(minutes=5))
    assert len(first) == 1 and again == []
    assert len(_rows(acme.tenant)) == 1
    assert enqueued.of("deliver") == [{"tenant_id": acme.tenant.pk, "notification_id": first[0].pk}]


def test_quiet_hours_in_the_recipients_zone_defer_the_send(
    acme, shipment, enqueued, django_capture_on_commit_callbacks
):
    set_preference(
        acme.tenant,
        customer_account_id=acme.customer_account.pk,
        phone=PHONE,
        sms_enabled=True,
        timezone="America/New_York",
        quiet_hours_start=clock(21),
        quiet_hours_end=clock(7),
    )
    night_in_new_york = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 23:00 EDT
    with django_capture_on_commit_callbacks(execute=True):
        [deferred] = _send(acme.tenant, shipment, now=night_in_new_york)
    assert deferred.send_after == datetime(2026, 7, 2, 11, 0, tzinfo=UTC)  # 07:00 EDT
    assert enqueued.of("deliver") == []  # not due: the sweep sends it after the quiet hours
    with tenant_context(acme.tenant.pk):
        assert services.notifications_due(now=night_in_new_york + timedelta(hours=7)) == []
        assert services.notifications_due(now=datetime(2026, 7, 2, 11, 0, tzinfo=UTC)) == [
            deferred.pk
        ]
        assert not services.notification_claim(notification_id=deferred.pk, now=night_in_new_york)


def test_in_app_messages_go_to_the_accounts_customer_users_live(
    acme, shipment, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(services, "publish_on_commit", lambda **kwargs: published.append(kwargs))
    created = _send(acme.tenant, shipment, channel="in_app", topic="out_for_delivery", now=NOON)
    customer = acme.users["customer"]
    assert [(n.user_id, n.status) for n in created] == [(customer.pk, "delivered")]
    assert published == [
        {
            "tenant_id": acme.tenant.pk,
            "topic": f"inbox.user-{customer.pk}",
            "payload": {"type": "notification.created", "notification_ids": [created[0].pk]},
        }
    ]
    staff = _send(acme.tenant, shipment, channel="in_app", audience="role:ops", key="k2", now=NOON)
    assert [n.user_id for n in staff] == [acme.users["ops"].pk]


def test_sending_happens_after_commit_and_a_broker_outage_does_not_fail_the_caller(
    acme, shipment, twilio, monkeypatch, django_capture_on_commit_callbacks
):
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )

    def broker_down(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.deliver, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        created = _send(acme.tenant, shipment, now=timezone.now())
        assert twilio.requests == []  # nothing leaves inside the caller's transaction
    assert [n.status for n in created] == ["queued"]
    assert twilio.requests == []
    with tenant_context(acme.tenant.pk):  # the sweep finds it
        assert services.notifications_due() == [created[0].pk]


def _deliver(tenant, notification):
    return tasks.deliver.run(tenant_id=tenant.pk, notification_id=notification.pk)


def _queued_sms(acme, shipment):
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )
    [notification] = _send(acme.tenant, shipment, now=timezone.now() - timedelta(seconds=1))
    return notification


def test_an_sms_through_twilio_is_sent_then_delivered(acme, shipment, twilio, enqueued):
    notification = _queued_sms(acme, shipment)
    assert _deliver(acme.tenant, notification) == "sent"
    method, path, headers, body = twilio.requests[0]
    assert (method, path) == ("POST", "/2010-04-01/Accounts/AC123/Messages.json")
    assert headers["authorization"].startswith("Basic ")
    form = urllib.parse.parse_qs(body.decode())
    assert form["To"] == [PHONE] and form["From"] == ["+15005550006"]
    assert "TRK-1001" in form["Body"][0]
    [row] = _rows(acme.tenant)
    assert (row.status, row.provider, row.provider_message_id, row.attempts) == (
        "sent",
        "twilio",
        "SM0001",
        1,
    )
    assert enqueued.of("check_status") == [
        {"tenant_id": acme.tenant.pk, "notification_id": row.pk, "check": 1}
    ]
    twilio.plan = [(200, {"sid": "SM0001", "status": "delivered"}, {})]
    assert tasks.check_status.run(tenant_id=acme.tenant.pk, notification_id=row.pk) == "delivered"
    assert twilio.requests[-1][:2] == ("GET", "/2010-04-01/Accounts/AC123/Messages/SM0001.json")
    [row] = _rows(acme.tenant)
    assert row.status == "delivered" and row.delivered_at is not None


def test_a_later_undelivered_status_records_the_providers_reason(acme, shipment, twilio, enqueued):
    notification = _queued_sms(acme, shipment)
    _deliver(acme.tenant, notification)
    twilio.plan = [
        (
            200,
            {
                "sid": "SM0001",
                "status": "undelivered",
                "error_code": 30003,
                "error_message": "Unreachable destination handset",
            },
            {},
        )
    ]
    assert (
        tasks.check_status.run(tenant_id=acme.tenant.pk, notification_id=notification.pk)
        == "failed"
    )
    [row] = _rows(acme.tenant)
    assert row.status == "failed"
    assert "30003" in row.last_error and "Unreachable destination handset" in row.last_error


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((500, {"code": 20500, "message": "Internal Server Error"}, {}), "HTTP 500"),
        ((503, {}, {}), "HTTP 503"),
        ((0, {}, {}), "timed out"),
    ],
)
def test_provider_failures_are_retried_with_backoff_and_recorded(
    acme, shipment, twilio, enqueued, answer, reason
):
    twilio.plan = [answer]
    notification = _queued_sms(acme, shipment)
    before = timezone.now()
    assert _deliver(acme.tenant, notification) == "queued"
    [row] = _rows(acme.tenant)
    assert (row.status, row.attempts) == ("queued", 1)
    assert reason in row.last_error
    wait = (row.send_after - before).total_seconds()
    assert 0.8 * services.BASE_BACKOFF_S - 1 <= wait <= 1.2 * services.BASE_BACKOFF_S + 2
    [(_, kwargs, countdown)] = [c for c in enqueued.calls if c[0] == "deliver"]
    assert kwargs == {"tenant_id": acme.tenant.pk, "notification_id": row.pk}
    assert countdown == pytest.approx(wait, abs=2)
    # The retry succeeds once the provider is back.
    twilio.plan = [(201, {"sid": "SM0002", "status": "queued"}, {})]
    with tenant_context(acme.tenant.pk):
        Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
    assert _deliver(acme.tenant, notification) == "sent"
    [row] = _rows(acme.tenant)
    assert (row.status, row.attempts, row.last_error, row.provider_message_id) == (
        "sent",
        2,
        "",
        "SM0002",
    )


def test_429_honours_retry_after_and_attempts_run_out(acme, shipment, twilio, enqueued):
    twilio.plan = [(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "900"})]
    notification = _queued_sms(acme, shipment)
    before = timezone.now()
    _deliver(acme.tenant, notification)
    [row] = _rows(acme.tenant)
    assert row.status == "queued" and "code 20429" in row.last_error
    assert (row.send_after - before).total_seconds() >= 899
    for _ in range(services.MAX_ATTEMPTS - 1):
        with tenant_context(acme.tenant.pk):
            Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
        _deliver(acme.tenant, notification)
    [row] = _rows(acme.tenant)
    assert (row.status, row.attempts) == ("failed", services.MAX_ATTEMPTS)
    assert row.last_error.startswith(f"gave up after {services.MAX_ATTEMPTS} attempts")
    assert len(twilio.requests) == services.MAX_ATTEMPTS


def test_a_refused_number_fails_at_once_with_the_providers_reason(acme, shipment, twilio, enqueued):
    twilio.plan = [
        (400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}, {})
    ]
    notification = _queued_sms(acme, shipment)
    assert _deliver(acme.tenant, notification) == "failed"
    [row] = _rows(acme.tenant)
    assert row.status == "failed" and row.attempts == 1 and row.failed_at is not None
    assert row.last_error == "HTTP 400 Bad Request: code 21211: The 'To' number is not valid."
    assert enqueued.calls == []


def test_a_row_stuck_in_sending_is_failed_not_sent_twice(acme, shipment, enqueued):
    notification = _queued_sms(acme, shipment)
    with tenant_context(acme.tenant.pk):
        assert services.notification_claim(notification_id=notification.pk)
        assert not services.notification_claim(notification_id=notification.pk)  # held
        later = timezone.now() + services.SENDING_LEASE + timedelta(seconds=1)
        assert services.notifications_due(now=later) == []
        row = Notification.objects.get(pk=notification.pk)
    assert row.status == "failed" and row.last_error.startswith("outcome unknown")


def test_the_file_backend_writes_the_demo_sms(acme, shipment, settings, tmp_path, enqueued):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    notification = _queued_sms(acme, shipment)
    assert _deliver(acme.tenant, notification) == "delivered"
    [line] = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["to"] == PHONE


def test_email_is_branded_localised_and_unsubscribable(acme, shipment, settings, enqueued):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    tenant = acme.tenant
    tenant.primary_colour, tenant.support_email, tenant.locale = "#0b4f8a", "help@acme.test", "de"
    tenant.save()
    set_preference(
        tenant,
        customer_account_id=acme.customer_account.pk,
        email="shipper@x.test",
        email_enabled=True,
    )
    [notification] = _send(
        tenant,
        shipment,
        channel="email",
        topic="delivered",
        now=timezone.now() - timedelta(seconds=1),
    )
    assert notification.locale == "de" and "zugestellt" in notification.subject
    assert _deliver(tenant, notification) == "sent"
    [message] = mail.outbox
    assert message.to == ["shipper@x.test"] and message.reply_to == ["help@acme.test"]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/api/v1/notifications/unsubscribe/?token=" in message.extra_headers["List-Unsubscribe"]
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "#0b4f8a" in html and "Ihre Sendung TRK-1001" in html


def test_a_tenant_template_replaces_the_default_for_its_locale(acme, shipment, enqueued):
    with tenant_context(acme.tenant.pk):
        services.template_set(
            topic="delivered",
            channel="sms",
            locale="en",
            subject="",
            body="{{ tenant_name }} delivered {{ tracking_number }}!",
        )
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )
    [english] = _send(acme.tenant, shipment, now=NOON)
    assert english.body == "Acme Forwarding delivered TRK-1001!"
    set_preference(
        acme.tenant,
        customer_account_id=acme.customer_account.pk,
        phone=PHONE,
        sms_enabled=True,
        locale="de",
    )
    [german] = _send(acme.tenant, shipment, key="firing:de", now=NOON)
    assert german.body.startswith("Acme Forwarding: TRK-1001 wurde zugestellt.")


def test_sending_to_many_recipients_costs_a_fixed_number_of_queries(acme, shipment, enqueued):
    from tests.tenancy.factories import MembershipFactory

    def queries(key: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            sent = _send(
                acme.tenant, shipment, channel="in_app", audience="role:ops", key=key, now=NOON
            )
        return len(sent), len(captured.captured_queries)

    queries("warm-up")  # the template tolerances of the ETA are cached per process
    one = queries("one")
    for _ in range(5):
        MembershipFactory(tenant=acme.tenant, role="ops")
    six = queries("six")
    assert (one[0], six[0]) == (1, 6)
    assert one[1] == six[1], (one, six)
    set_preference(
        acme.tenant, customer_account_id=acme.customer_account.pk, phone=PHONE, sms_enabled=True
    )
    with CaptureQueriesContext(connection) as captured:
        _send(acme.tenant, shipment, key="sms-one", now=NOON)
    alone = len(captured.captured_queries)
    set_preference(
        acme.tenant, tracking_number="TRK-1001", phone="+4917000000001", sms_enabled=True
    )
    with CaptureQueriesContext(connection) as captured:
        assert len(_send(acme.tenant, shipment, key="sms-two", now=NOON)) == 2
    assert len(captured.captured_queries) == alone

"""Fixtures of the notification tests: a shipment of the personas' customer, its recipient's
preferences, a local stub of Twilio's Messages API, and the tasks' enqueues recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.notifications import services, tasks
from integrations.notifications.models import NotificationPreference
from tenancy.context import tenant_context
from tests.integrations.netstub import StubServer, send
from tests.shipments.factories import ShipmentFactory

PHONE = "+4915112345678"


@pytest.fixture
def shipment(acme):
    return ShipmentFactory(
        tenant=acme.tenant, customer_account=acme.customer_account, reference="TRK-1001"
    )


def set_preference(tenant, **values: Any) -> NotificationPreference:
    subject = {k: values.pop(k) for k in ("customer_account_id", "tracking_number") if k in values}
    with tenant_context(tenant.pk):
        return services.preference_set(
            values=services.PreferenceValues(**values),
            known_milestones={"out_for_delivery", "delivered", "departed", "arrived"},
            **subject,
        )


@dataclass
class Enqueued:
    calls: list[tuple[str, dict[str, Any], float | None]] = field(default_factory=list)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for task, kwargs, _ in self.calls if task == name]


@pytest.fixture
def enqueued(monkeypatch) -> Enqueued:
    """deliver/check_status enqueues recorded instead of sent to the broker."""
    record = Enqueued()

    def recorder(name: str):
        def delay(**kwargs: Any) -> None:
            record.calls.append((name, kwargs, None))

        def apply_async(*, kwargs: dict[str, Any], countdown: float | None = None) -> None:
            record.calls.append((name, kwargs, countdown))

        return delay, apply_async

    for name, task in (("deliver", tasks.deliver), ("check_status", tasks.check_status)):
        delay, apply_async = recorder(name)
        monkeypatch.setattr(task, "delay", delay)
        monkeypatch.setattr(task, "apply_async", apply_async)
    return record


@dataclass
class TwilioStub:
    """Answers from ``plan`` in order (the last one repeats): (status, body dict, headers)."""

    plan: list[tuple[int, dict[str, Any], dict[str, str]]]
    server: StubServer | None = None

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        assert self.server is not None
        return self.server.requests


@pytest.fixture
def twilio(settings) -> Iterator[TwilioStub]:
    stub = TwilioStub(plan=[(201, {"sid": "SM0001", "status": "queued"}, {})])

    def respond(handler) -> None:
        status, body, headers = stub.plan.pop(0) if len(stub.plan) > 1 else stub.plan[0]
        if status == 0:  # never answer in time: the client's deadline must end it
            stub.server.release.wait(5)  # type: ignore[union-attr]
            return
        send(
            handler,
            status,
            json.dumps(body).encode(),
            {"Content-Type": "application/json", **headers},
        )

    stub.server = StubServer(respond)
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_URL = stub.server.url
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret-token"
    settings.TWILIO_FROM = "+15005550006"
    settings.SMS_TIMEOUT_S = 1.0
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    yield stub
    stub.server.close()

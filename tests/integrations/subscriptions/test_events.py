"""Where events come from: timeline changes (created, updated, delivered, milestone reached,
ETA changed), processed documents, the workflow "webhook" action and other apps through
``outbox_record`` — written in the transaction of the change, set-based, only when someone
listens, and only to subscriptions whose customer scope covers the shipment."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from integrations import pipeline
from integrations.documents import services as documents
from integrations.subscriptions import actions, tracking
from integrations.subscriptions.models import Delivery, ShipmentState, WebhookEvent
from integrations.subscriptions.outbox import OutboxItem, outbox_record
from integrations.workflow.actions import action_named
from shipments.services import NewEvent, events_record, timelines_refresh
from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tests.integrations.documents.test_documents import POD_LINES, TRACKING, make_pdf
from tests.integrations.subscriptions.factories import subscription_for
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db

URL = "https://hooks.partner.example/in"
# Times around now: the engine keeps overdue estimates at now or later, and a shipment booked
# long ago is late.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
BOOKED = NOW - timedelta(hours=6)
AT = NOW - timedelta(hours=3)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shipment(tenant, **kwargs):
    return ShipmentFactory(tenant=tenant, booked_at=BOOKED, **kwargs)


def _events(tenant) -> list[tuple[str, dict]]:
    with tenant_context(tenant.pk):
        rows = WebhookEvent.objects.order_by("pk").values_list("type", "body")
        return [(kind, json.loads(body)) for kind, body in rows]


def _types(tenant) -> list[str]:
    return [kind for kind, _ in _events(tenant)]


def _clear(tenant) -> None:
    with tenant_context(tenant.pk):
        WebhookEvent.objects.all().delete()


def _act(shipment, milestone, at, classifier="ACT", key=None) -> NewEvent:
    return NewEvent(
        shipment_id=shipment.pk,
        milestone=milestone,
        occurred_at=at,
        classifier=classifier,
        source_kind="integration",
        source_name="carrier:TEST",
        dedupe_key=key or f"{milestone}:{classifier}:{at.isoformat()}",
    )


def _record(tenant, *events: NewEvent) -> None:
    with tenant_context(tenant.pk):
        events_record(events=list(events))


def test_nobody_listening_costs_one_query_and_writes_nothing(acme, django_assert_num_queries):
    shipment = _shipment(acme.tenant)
    _record(acme.tenant, _act(shipment, "picked_up", AT))
    with tenant_context(acme.tenant.pk), django_assert_num_queries(1):
        tracking.shipments_changed([shipment.pk])
    with tenant_context(acme.tenant.pk):
        assert not WebhookEvent.objects.exists() and not ShipmentState.objects.exists()


def test_a_shipments_life_as_events(acme):
    subscription = subscription_for(acme.tenant, URL)
    shipment = _shipment(acme.tenant, reference="LIFE-1")
    [(kind, created)] = _events(acme.tenant)
    assert kind == "shipment.created"
    assert created["data"]["shipment"]["references"] == [
        {"kind": "tracking_number", "value": "LIFE-1"}
    ]
    assert created["data"]["shipment"]["id"] == shipment.public_id
    assert created["data"]["shipment"]["status"] == "booked"
    _clear(acme.tenant)

    _record(acme.tenant, _act(shipment, "picked_up", AT))
    events = dict(_events(acme.tenant))
    # Picked up three hours after booking: the projected delivery moves too.
    assert sorted(events) == ["eta.changed", "milestone.reached", "shipment.updated"]
    assert events["shipment.updated"]["data"]["changes"] == ["status", "eta", "milestones"]
    reached = events["milestone.reached"]["data"]
    assert reached["milestone"] == {
        "code": "picked_up",
        "actual_at": _iso(AT),
        "source": "integration",
    }
    assert reached["shipment"]["status"] == "in_transit"
    _clear(acme.tenant)

    # A new estimate of delivery moves the ETA: eta.changed with both times.
    with tenant_context(acme.tenant.pk):
        before = type(shipment).objects.get(pk=shipment.pk).eta
    promised = NOW + timedelta(days=5, hours=3)
    _record(acme.tenant, _act(shipment, "delivered", promised, classifier="EST", key="eta-1"))
    events = dict(_events(acme.tenant))
    assert events["eta.changed"]["data"]["previous_eta"] == before.isoformat().replace(
        "+00:00", "Z"
    )
    assert events["eta.changed"]["data"]["eta"] == _iso(promised)
    assert events["shipment.updated"]["data"]["changes"] == ["eta"]
    assert "milestone.reached" not in events
    _clear(acme.tenant)

    _record(
        acme.tenant,
        _act(shipment, "departed", AT + timedelta(hours=1)),
        _act(shipment, "arrived", AT + timedelta(hours=2)),
        _act(shipment, "delivered", AT + timedelta(hours=2, minutes=30)),
    )
    types = _types(acme.tenant)
    assert types.count("milestone.reached") == 3
    assert types.count("shipment.delivered") == 1 and types.count("shipment.updated") == 1
    delivered = dict(_events(acme.tenant))["shipment.delivered"]["data"]
    assert delivered["delivered_at"] == _iso(AT + timedelta(hours=2, minutes=30))
    assert delivered["shipment"]["status"] == "delivered"
    _clear(acme.tenant)

    # The same facts again, or a refresh that changes nothing: no events.
    _record(acme.tenant, _act(shipment, "arrived", AT + timedelta(hours=2)))
    with tenant_context(acme.tenant.pk):
        timelines_refresh(shipment_ids=[shipment.pk])
    assert _events(acme.tenant) == []
    with tenant_context(acme.tenant.pk):
        assert not Delivery.objects.filter(subscription=subscription).exists()


def test_a_subscription_gets_only_the_types_it_chose(acme):
    reached = subscription_for(acme.tenant, URL, ["milestone.reached"])
    documents_only = subscription_for(acme.tenant, URL, ["document.added"])
    shipment = _shipment(acme.tenant)
    _record(acme.tenant, _act(shipment, "picked_up", AT))
    assert _types(acme.tenant) == ["milestone.reached"]  # nobody wanted the others
    with tenant_context(acme.tenant.pk):
        assert Delivery.objects.filter(subscription=reached).count() == 1
        assert not Delivery.objects.filter(subscription=documents_only).exists()


def test_limited_subscriptions_get_only_their_accounts_shipments(acme):
    everyone = subscription_for(acme.tenant, URL)
    limited = subscription_for(acme.tenant, URL, customer_account_ids=[acme.customer_account.pk])
    mine = _shipment(acme.tenant, customer_account=acme.customer_account)
    theirs = _shipment(acme.tenant, customer_account=acme.other_customer_account)
    nobody = _shipment(acme.tenant)
    with tenant_context(acme.tenant.pk):
        seen = {
            sub: set(
                Delivery.objects.filter(subscription=sub).values_list(
                    "event__shipment_id", flat=True
                )
            )
            for sub in (everyone.pk, limited.pk)
        }
    assert seen[everyone.pk] == {mine.pk, theirs.pk, nobody.pk}
    assert seen[limited.pk] == {mine.pk}


def test_a_shipment_older_than_the_subscription_reports_only_what_is_new(acme):
    shipment = _shipment(acme.tenant)
    _record(acme.tenant, _act(shipment, "picked_up", AT))
    subscription_for(acme.tenant, URL)
    _record(acme.tenant, _act(shipment, "departed", AT + timedelta(hours=1)))
    events = _events(acme.tenant)
    assert "shipment.created" not in [kind for kind, _ in events]
    codes = [
        data["data"]["milestone"]["code"] for kind, data in events if "milestone" in data["data"]
    ]
    assert codes == ["departed"]
    _clear(acme.tenant)
    # From now on its state is known: the next change is compared exactly.
    _record(acme.tenant, _act(shipment, "arrived", AT + timedelta(hours=2)))
    codes = [
        d["data"]["milestone"]["code"] for k, d in _events(acme.tenant) if k == "milestone.reached"
    ]
    assert codes == ["arrived"]


def test_a_change_that_rolls_back_leaves_no_event(acme):
    subscription_for(acme.tenant, URL)
    shipment = _shipment(acme.tenant)
    _clear(acme.tenant)
    with pytest.raises(RuntimeError), tenant_context(acme.tenant.pk), transaction.atomic():
        events_record(events=[_act(shipment, "picked_up", AT)])
        assert WebhookEvent.objects.count() >= 1  # written with the change …
        raise RuntimeError("the change fails after the events were written")
    assert _events(acme.tenant) == []  # … and gone with it


@pytest.mark.parametrize("size", [3, 30])
def test_a_batch_costs_the_same_queries_whatever_its_size(
    acme, size, django_assert_max_num_queries
):
    subscription_for(acme.tenant, URL)
    subscription_for(acme.tenant, URL, customer_account_ids=[acme.customer_account.pk])
    shipments = [_shipment(acme.tenant) for _ in range(size)]
    _record(acme.tenant, *[_act(s, "picked_up", AT) for s in shipments])
    _clear(acme.tenant)
    with tenant_context(acme.tenant.pk):
        rows = type(shipments[0]).objects.filter(pk__in=[s.pk for s in shipments])
        assert not any(rows.values_list("is_late", flat=True))
        rows.update(is_late=True)  # as a refresh that made them late would
        # listeners, shipments + states, state upsert, 2 summaries, ids, events, deliveries
        # (the two COPYs into the stages go on the raw cursor, as in shipments/bulk.py)
        with django_assert_max_num_queries(8):
            tracking.shipments_changed([s.pk for s in shipments])
        assert Delivery.objects.filter(event__type="shipment.updated").count() == size
    events = _events(acme.tenant)
    assert [kind for kind, _ in events] == ["shipment.updated"] * size
    assert [body["data"]["changes"] for _, body in events] == [["is_late"]] * size


def test_a_processed_document_adds_document_added_once(
    acme, eager_celery, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    subscription_for(acme.tenant, URL, ["document.added"])
    shipment = _shipment(acme.tenant, references=[("tracking_number", TRACKING)])
    with tenant_context(acme.tenant.pk):
        message = documents.document_store(body=make_pdf(POD_LINES), filename="pod.pdf")
        pipeline.process_messages([message.pk])
        pipeline.process_messages([message.pk], force=True)  # read again: nothing new
    [(kind, body)] = _events(acme.tenant)
    assert kind == "document.added"
    assert body["data"]["document"]["id"] == str(message.pk)
    assert body["data"]["document"]["type"] == "proof_of_delivery"
    assert body["data"]["document"]["content_type"] == "application/pdf"
    assert body["data"]["shipment"]["id"] == shipment.public_id


def test_other_apps_record_through_outbox_record(acme):
    """As the exceptions app will: its event types, data, the shipment added, idempotent."""
    limited = subscription_for(
        acme.tenant,
        URL,
        ["exception.opened"],
        customer_account_ids=[acme.other_customer_account.pk],
    )
    everyone = subscription_for(acme.tenant, URL, ["exception.opened", "exception.resolved"])
    shipment = _shipment(acme.tenant, customer_account=acme.customer_account)
    item = OutboxItem(
        event_type="exception.opened",
        data={"exception": {"id": "7", "kind": "late_departure"}},
        shipment_id=shipment.pk,
        key="exception.opened:7",
    )
    with tenant_context(acme.tenant.pk):
        first = outbox_record(items=[item])
        again = outbox_record(items=[item])
        assert len(first) == 1 and again == []
        [d] = Delivery.objects.filter(pk__in=first)
        assert d.subscription_id == everyone.pk != limited.pk
    [(kind, body)] = _events(acme.tenant)
    assert kind == "exception.opened"
    assert body["data"]["exception"] == {"id": "7", "kind": "late_departure"}
    assert body["data"]["shipment"]["id"] == shipment.public_id


@dataclass
class StandInFiring:
    """What the workflow app's firing offers (actions.Firing); its own is built on 13a."""

    id: int
    rule_id: int
    rule_name: str
    config: dict[str, Any]
    shipment_id: int | None
    context: dict[str, Any] = field(default_factory=dict)


def test_the_webhook_rule_action_is_registered_validates_and_sends_once(acme):
    action = action_named("webhook")
    assert action is actions.WEBHOOK_ACTION
    target = subscription_for(acme.tenant, URL, ["document.added"])
    other = subscription_for(acme.tenant, URL)
    shipment = _shipment(acme.tenant)
    _clear(acme.tenant)
    with tenant_context(acme.tenant.pk):
        assert action.validate({"subscription": str(target.pk)}) == {"subscription": target.pk}
        for bad in ({}, {"subscription": "x"}, {"subscription": 10**12}):
            with pytest.raises(DomainError) as error:
                action.validate(bad)
            assert error.value.field == "subscription"
        firing = StandInFiring(
            id=41,
            rule_id=3,
            rule_name="Late pickup",
            config={"subscription": target.pk},
            shipment_id=shipment.pk,
            context={"trigger": "milestone_late", "milestone": "picked_up"},
        )
        action.run(firing)
        action.run(firing)  # a replayed firing sends nothing new
        assert list(Delivery.objects.values_list("subscription_id", flat=True)) == [target.pk]
        assert other.pk != target.pk
    [(kind, body)] = _events(acme.tenant)
    assert kind == "rule.fired"
    assert body["data"]["rule"] == {"id": "3", "name": "Late pickup"}
    assert body["data"]["context"]["trigger"] == "milestone_late"
    assert body["data"]["shipment"]["id"] == shipment.public_id


def test_another_tenants_subscriptions_never_see_an_event(acme):
    subscription_for(acme.other_tenant, URL)
    _shipment(acme.tenant)
    assert _events(acme.tenant) == [] and _events(acme.other_tenant) == []


def test_adding_shipment_events_to_a_webhook_starts_watching_from_then(acme):
    from integrations.subscriptions.services import subscription_update

    subscription = subscription_for(acme.tenant, URL, ["document.added"])
    shipment = _shipment(acme.tenant)  # created while nobody watched shipments
    with tenant_context(acme.tenant.pk):
        subscription_update(
            subscription=subscription,
            changes={"event_types": ["shipment.created", "milestone.reached"]},
        )
    _record(acme.tenant, _act(shipment, "picked_up", AT))
    assert _types(acme.tenant) == ["milestone.reached"]  # not "created" for an old shipment

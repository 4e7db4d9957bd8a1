"""Deferred timeline hooks: inside ``timeline_hooks_deferred`` a refreshed timeline runs only
its immediate hooks (the live updates) in the changing transaction and records the rest in
DeferredHooks; ``deferred_hooks_run`` runs them once, the beat sweep picks up what a crash left.
An interactive ingest (one shipment's events from the API) works this way, so its live update
does not wait for exceptions, rules, webhooks, billing and routes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exceptions.models import ShipmentException
from integrations.models import InboundMessage, MessageStatus
from integrations.services import message_store
from integrations.tasks import process_message
from shipments import hooks
from shipments.models import DeferredHooks
from shipments.services import (
    NewEvent,
    deferred_hooks_run,
    events_record,
    timeline_hooks_deferred,
)
from shipments.tasks import run_deferred_hooks
from tenancy.context import tenant_context
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def probes(monkeypatch):
    """Two recording hooks in place of the real ones: one immediate, one deferrable."""
    calls: dict[str, list[list[int]]] = {"immediate": [], "deferrable": []}

    def immediate(ids: list[int]) -> None:
        calls["immediate"].append(sorted(ids))

    def deferrable(ids: list[int]) -> None:
        calls["deferrable"].append(sorted(ids))

    monkeypatch.setattr(hooks, "_timeline_changed", [(immediate, False), (deferrable, True)])
    return calls


def _forget(probes) -> None:
    """Creating a shipment refreshes its timeline too: start counting after it."""
    for seen in probes.values():
        seen.clear()


def _record(shipment, key: str) -> None:
    events_record(
        events=[
            NewEvent(
                shipment_id=shipment.pk,
                milestone="picked_up",
                occurred_at=timezone.now() - timedelta(hours=1),
                classifier="ACT",
                source_kind="integration",
                source_name="carrier:test",
                dedupe_key=key,
            )
        ]
    )


def _pending(tenant) -> list[int]:
    with tenant_context(tenant.pk):
        return sorted(DeferredHooks.objects.values_list("shipment_id", flat=True))


def test_without_deferral_every_hook_runs_with_the_change(acme, probes):
    with tenant_context(acme.tenant.pk):
        shipment = ShipmentFactory(tenant=acme.tenant)
        _forget(probes)
        _record(shipment, "a")
    assert probes == {"immediate": [[shipment.pk]], "deferrable": [[shipment.pk]]}
    assert _pending(acme.tenant) == []


def test_deferred_hooks_are_recorded_with_the_change_and_run_once(acme, probes):
    with tenant_context(acme.tenant.pk):
        shipment = ShipmentFactory(tenant=acme.tenant)
        _forget(probes)
        with timeline_hooks_deferred() as changed:
            _record(shipment, "a")
    assert changed == {shipment.pk}
    assert probes == {"immediate": [[shipment.pk]], "deferrable": []}
    assert _pending(acme.tenant) == [shipment.pk]
    with tenant_context(acme.tenant.pk):
        assert deferred_hooks_run(shipment_ids=changed) == [shipment.pk]
        assert deferred_hooks_run(shipment_ids=changed) == []  # forgotten once run
    assert probes["deferrable"] == [[shipment.pk]]
    assert _pending(acme.tenant) == []


def test_a_failing_hook_leaves_the_record_for_later(acme, monkeypatch):
    def broken(ids: list[int]) -> None:
        raise RuntimeError("hook down")

    with tenant_context(acme.tenant.pk):
        shipment = ShipmentFactory(tenant=acme.tenant)
        monkeypatch.setattr(hooks, "_timeline_changed", [(broken, True)])
        with timeline_hooks_deferred():
            _record(shipment, "a")
    with pytest.raises(RuntimeError), tenant_context(acme.tenant.pk):
        deferred_hooks_run(shipment_ids=[shipment.pk])
    assert _pending(acme.tenant) == [shipment.pk]


def test_the_beat_sweep_runs_what_a_crash_left_after_the_grace_only(acme, probes):
    with tenant_context(acme.tenant.pk):
        old, recent = ShipmentFactory(tenant=acme.tenant), ShipmentFactory(tenant=acme.tenant)
        _forget(probes)
        with timeline_hooks_deferred():
            _record(old, "a")
            _record(recent, "b")
        DeferredHooks.objects.filter(shipment=old).update(
            since=timezone.now() - timedelta(minutes=1)
        )
    assert run_deferred_hooks() == 1
    assert probes["deferrable"] == [[old.pk]]
    assert _pending(acme.tenant) == [recent.pk]  # its runner may still be on the way


def test_another_tenants_deferred_hooks_are_invisible(acme, probes):
    with tenant_context(acme.tenant.pk):
        shipment = ShipmentFactory(tenant=acme.tenant)
        _forget(probes)
        with timeline_hooks_deferred():
            _record(shipment, "a")
    with tenant_context(acme.other_tenant.pk):
        assert not DeferredHooks.objects.exists()
        assert deferred_hooks_run(shipment_ids=[shipment.pk]) == []
    assert probes["deferrable"] == []
    assert _pending(acme.tenant) == [shipment.pk]


def test_an_interactive_message_opens_its_exception_right_after_its_commit(acme):
    """The real hooks: a road shipment booked two days ago whose order event arrives over the
    API has missed its pickup; the interactive task leaves nothing deferred behind."""
    tenant = acme.tenant
    with tenant_context(tenant.pk):
        shipment = ShipmentFactory(tenant=tenant, booked_at=timezone.now() - timedelta(days=2))
        body = {
            "shipment": shipment.public_id,
            "events": [
                {
                    "milestone": "order_created",
                    "occurred_at": (timezone.now() - timedelta(days=2)).isoformat(),
                    "dedupe_key": "o-1",
                }
            ],
        }
        message = message_store(
            integration=None,
            channel="upload",
            body=json.dumps(body).encode(),
            format_hint="api_events",
            interactive=True,
        )
    process_message.apply(
        kwargs={"tenant_id": tenant.pk, "message_id": message.pk, "interactive": True}
    ).get()
    with tenant_context(tenant.pk):
        assert InboundMessage.objects.get(pk=message.pk).status == MessageStatus.PROCESSED
        opened = ShipmentException.objects.filter(shipment=shipment, milestone="picked_up")
        assert list(opened.values_list("type", flat=True)) == ["missed_milestone"]
    assert _pending(tenant) == []


def _stored(tenant, shipment, *, interactive: bool, key: str) -> int:
    body = {
        "shipment": shipment.public_id,
        "events": [
            {"milestone": "picked_up", "occurred_at": timezone.now().isoformat(), "dedupe_key": key}
        ],
    }
    with tenant_context(tenant.pk):
        return message_store(
            integration=None,
            channel="upload",
            body=json.dumps(body).encode(),
            format_hint="api_events",
            interactive=interactive,
        ).pk


def test_only_an_interactive_messages_commit_skips_the_flush_wait(acme, monkeypatch):
    """Its transaction holds nothing but the change and its live update (the hooks commit
    durably after it); a bulk batch's hooks are in its own transaction: durable."""
    seen: list[str] = []

    def flush_setting(ids: list[int]) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    tenant = acme.tenant
    with tenant_context(tenant.pk):
        shipment = ShipmentFactory(tenant=tenant)
    monkeypatch.setattr(hooks, "_timeline_changed", [(flush_setting, False)])
    for interactive in (False, True):  # SET LOCAL lasts to the end of the test's transaction
        message_id = _stored(tenant, shipment, interactive=interactive, key=f"f-{interactive}")
        process_message.apply(
            kwargs={"tenant_id": tenant.pk, "message_id": message_id, "interactive": interactive}
        ).get()
    assert seen == ["on", "off"]

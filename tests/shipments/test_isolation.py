"""Tenant isolation of every milestone and shipment table, proven in PostgreSQL and the ORM."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from milestones.models import (
    MilestoneDefinition,
    MilestoneTemplate,
    TemplateVersion,
    TrackingPolicy,
)
from milestones.services import tracking_policy_set
from shipments.models import Leg, Shipment, ShipmentLink, ShipmentReference, TrackingEvent
from shipments.selectors import shipment_by_reference, shipment_get, shipment_list
from shipments.services import (
    NewEvent,
    ShipmentError,
    event_correct,
    events_record,
    shipment_link,
)
from tenancy.context import set_db_context, tenant_context
from tests.shipments.conftest import BOOKED, act, hours, new_shipment, new_tenant

pytestmark = pytest.mark.django_db

MODELS = [
    MilestoneTemplate,
    TemplateVersion,
    MilestoneDefinition,
    TrackingPolicy,
    Shipment,
    ShipmentReference,
    Leg,
    ShipmentLink,
    TrackingEvent,
]


def _populate(tenant, prefix: str) -> dict:
    parent = new_shipment(tenant, reference=f"{prefix}-PARENT")
    child = new_shipment(tenant, reference=f"{prefix}-CHILD")
    with tenant_context(tenant.pk):
        tracking_policy_set(source_priority=["integration", "user", "projection"])
        shipment_link(parent=parent, child=child, kind="linehaul")
        Leg.objects.create(shipment=child, sequence=1, segment="last_mile", mode="road_ftl")
        events_record(events=[act(parent, "picked_up", BOOKED + hours(20))])
    return {"parent": parent, "child": child}


@pytest.fixture
def two_tenants(db):
    a, b = new_tenant(), new_tenant()
    return a, b, _populate(a, "A"), _populate(b, "B")


def _raw_tenant_ids(model) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tenant_id FROM {model._meta.db_table}")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_raw_sql_sees_only_the_context_tenants_rows(two_tenants, model):
    a, b, _, _ = two_tenants
    with transaction.atomic():
        set_db_context(a.pk)
        seen_by_a = _raw_tenant_ids(model)
    with transaction.atomic():
        set_db_context(b.pk)
        seen_by_b = _raw_tenant_ids(model)
    with transaction.atomic():
        set_db_context(None)
        assert _raw_tenant_ids(model) == []
    assert seen_by_a and set(seen_by_a) == {a.pk}
    assert seen_by_b and set(seen_by_b) == {b.pk}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_orm_returns_only_the_context_tenants_rows(two_tenants, model):
    a, _, _, _ = two_tenants
    with tenant_context(a.pk):
        tenants = list(model.objects.values_list("tenant_id", flat=True))
        # Even the unfiltered base manager is confined by PostgreSQL.
        unfiltered = list(model._base_manager.values_list("tenant_id", flat=True))
    assert tenants and set(tenants) == {a.pk}
    assert sorted(unfiltered) == sorted(tenants)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_raw_sql_cannot_change_another_tenants_rows(two_tenants, model):
    a, b, _, _ = two_tenants
    table = model._meta.db_table
    with tenant_context(b.pk):
        before = model.objects.count()
    with tenant_context(a.pk), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [b.pk])
        assert cursor.rowcount == 0
    with tenant_context(b.pk):
        assert model.objects.count() == before


def test_selectors_do_not_reach_into_another_tenant(two_tenants):
    a, _, _, rows_b = two_tenants
    with tenant_context(a.pk):
        assert shipment_by_reference(value="B-PARENT") is None
        assert rows_b["parent"].pk not in set(shipment_list().values_list("pk", flat=True))
        with pytest.raises(Shipment.DoesNotExist):
            shipment_get(shipment_id=rows_b["parent"].pk)


def test_events_record_cannot_attach_an_event_to_another_tenants_shipment(two_tenants):
    a, b, rows_a, rows_b = two_tenants
    theirs = rows_b["child"]
    with tenant_context(a.pk):
        with pytest.raises(ShipmentError) as raised:
            events_record(
                events=[
                    act(rows_a["child"], "picked_up", BOOKED + hours(30)),
                    act(theirs, "picked_up", BOOKED + hours(30), dedupe_key="sneaky"),
                ]
            )
        assert raised.value.code == "unknown_shipment"
        # Nothing of the batch was written, not even the event for A's own shipment.
        assert not TrackingEvent.objects.filter(shipment=rows_a["child"]).exists()
    for tenant in (a, b):
        with tenant_context(tenant.pk):
            assert not TrackingEvent.objects.filter(dedupe_key="sneaky").exists()
            assert not TrackingEvent.objects.filter(shipment_id=theirs.pk, tenant_id=a.pk).exists()
    with tenant_context(b.pk):
        assert Shipment.objects.get(pk=theirs.pk).current_stage == ""


def test_postgresql_refuses_raw_events_for_another_tenants_or_a_missing_shipment(two_tenants):
    """The per-statement trigger that replaces the foreign key (shipments migration 0004)."""
    a, _, rows_a, rows_b = two_tenants
    insert = (
        "INSERT INTO shipments_trackingevent (tenant_id, shipment_id, milestone, occurred_at,"
        " classifier, location, source_kind, source_name, raw_code, dedupe_key, recorded_at,"
        " voids, reason, tz_unknown, details)"
        " VALUES (%s, %s, 'picked_up', now(), 'ACT', '', 'user', 'raw', '', %s, now(),"
        " false, '', false, '{}')"
    )
    for shipment_id in (rows_b["child"].pk, 10**12):
        with (
            pytest.raises(IntegrityError, match="unknown shipment"),
            tenant_context(a.pk),
            connection.cursor() as cursor,
        ):
            cursor.execute(insert, [a.pk, shipment_id, f"raw-{shipment_id}"])
    with tenant_context(a.pk), connection.cursor() as cursor:
        cursor.execute(insert, [a.pk, rows_a["child"].pk, "raw-ok"])
        assert TrackingEvent.objects.filter(dedupe_key="raw-ok").count() == 1


def test_deleting_a_shipment_with_raw_sql_deletes_its_events(two_tenants):
    a, _, rows_a, _ = two_tenants
    parent = rows_a["parent"]
    with tenant_context(a.pk), connection.cursor() as cursor:
        assert TrackingEvent.objects.filter(shipment=parent).exists()
        cursor.execute("DELETE FROM shipments_shipmentlink WHERE parent_id = %s", [parent.pk])
        cursor.execute(
            "DELETE FROM shipments_shipmentreference WHERE shipment_id = %s", [parent.pk]
        )
        cursor.execute("DELETE FROM shipments_shipment WHERE id = %s", [parent.pk])
        assert not TrackingEvent.objects.filter(shipment_id=parent.pk).exists()


def test_an_event_cannot_supersede_another_tenants_event(two_tenants, ops_user):
    a, b, rows_a, rows_b = two_tenants
    with tenant_context(b.pk):
        their_event = TrackingEvent.objects.get(shipment=rows_b["parent"])
    with tenant_context(a.pk):
        with pytest.raises(ShipmentError) as raised:
            events_record(
                events=[
                    NewEvent(
                        shipment_id=rows_a["parent"].pk,
                        milestone="picked_up",
                        occurred_at=BOOKED,
                        classifier="ACT",
                        source_kind="user",
                        source_name="user:x",
                        supersedes_id=their_event.pk,
                        voids=True,
                    )
                ]
            )
        assert raised.value.code == "unknown_event"
        # Nor can a correction point at an event of a different shipment of the same tenant.
        own_event = TrackingEvent.objects.get(shipment=rows_a["parent"])
        with pytest.raises(ShipmentError):
            events_record(
                events=[
                    NewEvent(
                        shipment_id=rows_a["child"].pk,
                        milestone="picked_up",
                        occurred_at=BOOKED,
                        classifier="ACT",
                        source_kind="user",
                        source_name="user:x",
                        supersedes_id=own_event.pk,
                    )
                ]
            )
        # The legitimate path still works.
        correction = event_correct(
            event=own_event, reason="fix", actor=ops_user, occurred_at=BOOKED + hours(21)
        )
        assert correction.supersedes_id == own_event.pk
        assert TrackingEvent.objects.filter(tenant_id=a.pk).count() == 2


def test_a_link_to_another_tenants_shipment_is_refused(two_tenants):
    a, _, rows_a, rows_b = two_tenants
    with tenant_context(a.pk):
        links = set(ShipmentLink.objects.values_list("pk", flat=True))
        for parent, child in (
            (rows_b["parent"], rows_a["parent"]),
            (rows_a["child"], rows_b["child"]),
        ):
            with pytest.raises(ShipmentError) as raised:
                shipment_link(parent=parent, child=child, kind="consolidation")
            assert raised.value.code == "unknown_shipment"
        assert set(ShipmentLink.objects.values_list("pk", flat=True)) == links

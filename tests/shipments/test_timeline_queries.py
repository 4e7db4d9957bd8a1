"""Reading a timeline costs a constant number of queries, and the events come by index."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from milestones.selectors import template_latest_version
from shipments.models import Shipment
from shipments.selectors import shipment_timeline
from shipments.services import events_record, shipment_link
from tenancy.context import tenant_context
from tests.shipments.conftest import BOOKED, act, hours, new_shipment, new_tenant

pytestmark = pytest.mark.django_db


def _events(shipment, count: int) -> list:
    milestones = ["picked_up", "departed", "arrived", "delivered"]
    return [
        act(
            shipment,
            milestones[n % len(milestones)],
            BOOKED + hours(n % 90),
            classifier="EST" if n % 3 else "ACT",
            source_name=f"carrier:{n % 7}",
            dedupe_key=f"bulk:{n}",
        )
        for n in range(count)
    ]


def _queries_to_read(shipment) -> list[str]:
    shipment = Shipment.objects.get(pk=shipment.pk)
    with CaptureQueriesContext(connection) as captured:
        timeline = shipment_timeline(shipment=shipment)
    assert timeline.rows
    return [q["sql"] for q in captured.captured_queries]


def test_reading_a_timeline_takes_the_same_queries_whatever_the_event_count(tenant):
    small, large = new_shipment(tenant), new_shipment(tenant)
    few_parents, many_parents = new_shipment(tenant), new_shipment(tenant)
    parents = [new_shipment(tenant) for _ in range(3)]
    with tenant_context(tenant.pk):
        events_record(events=_events(small, 5))
        events_record(events=_events(large, 200))
        shipment_link(parent=parents[0], child=few_parents, kind="linehaul")
        for parent in parents:
            shipment_link(parent=parent, child=many_parents, kind="linehaul")
            events_record(events=_events(parent, 20))
        events_record(events=_events(many_parents, 50))

        baseline = _queries_to_read(small)
        assert len(baseline) <= 5, baseline
        assert len(_queries_to_read(large)) == len(baseline)
        with_one_parent = _queries_to_read(few_parents)
        with_three_parents = _queries_to_read(many_parents)
    assert len(with_three_parents) == len(with_one_parent)
    # Parents cost at most the one prefetch of their references, never a query per parent.
    assert len(baseline) <= len(with_one_parent) <= len(baseline) + 1, with_one_parent


def test_recording_events_for_many_shipments_takes_constant_queries(tenant):
    shipments = [new_shipment(tenant) for _ in range(6)]
    with tenant_context(tenant.pk):
        with CaptureQueriesContext(connection) as two:
            events_record(events=[e for s in shipments[:2] for e in _events(s, 10)])
        with CaptureQueriesContext(connection) as four:
            events_record(events=[e for s in shipments[2:] for e in _events(s, 30)])
    assert len(four) == len(two)


def _make_bulk_shipments(count: int) -> list[Shipment]:
    version = template_latest_version(mode="road_ftl")
    return Shipment.objects.bulk_create(
        [
            Shipment(
                mode="road_ftl",
                template_version=version,
                booked_at=BOOKED,
                tenant_id=version.tenant_id,
            )
            for _ in range(count)
        ]
    )


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_the_per_shipment_events_query_uses_an_index_on_realistic_statistics():
    tenant, other = new_tenant(), new_tenant()
    for owner_tenant in (tenant, other):
        with tenant_context(owner_tenant.pk):
            shipments = _make_bulk_shipments(200)
            events_record(events=[e for s in shipments for e in _events(s, 100)], refresh=False)
    # The data is committed; the table owner gathers real statistics (the app role may not).
    assert connections["owner"].settings_dict["NAME"] == connection.settings_dict["NAME"]
    with connections["owner"].cursor() as cursor:
        cursor.execute("ANALYZE shipments_trackingevent")
        # (FORCE RLS hides the rows even from the owner; ANALYZE still samples all of them.)
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'shipments_trackingevent'")
        assert cursor.fetchone()[0] == 40_000
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'shipments_trackingevent'"
        )
        indexes = [row[0] for row in cursor.fetchall()]
    assert any("(tenant_id, shipment_id, dedupe_key)" in i for i in indexes), indexes

    with tenant_context(tenant.pk):
        target = Shipment.objects.order_by("pk")[100]
        sql = [q for q in _queries_to_read(target) if "shipments_trackingevent" in q]
        assert len(sql) == 1
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "on"
            cursor.execute("EXPLAIN " + sql[0])
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on shipments_trackingevent" not in plan, plan
    assert "Index" in plan and "shipments_trackingevent" in plan, plan

"""The shipments API: create, list (filters, keyset pages), read, edit, cancel, timeline,
templates; cross-tenant and customer-limited callers on every endpoint; query counts."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shipments.models import ReferenceKind, Shipment, ShipmentLink, ShipmentReference
from shipments.services import events_record
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.shipments.api_fixtures import Api, new_shipment
from tests.shipments.api_fixtures import api as api
from tests.shipments.factories import ShipmentFactory

pytestmark = pytest.mark.django_db
PUBLIC_ID = re.compile(r"^shp_[0-9a-hjkmnp-tv-z]{16}$")


def url(shipment: Shipment, tail: str = "") -> str:
    return f"/api/v1/shipments/{shipment.public_id}/{tail}"


# --- create ---------------------------------------------------------------------------------


def test_create_with_the_minimal_body_answers_201_with_an_opaque_id(api: Api):
    response = api.client("full").post("/api/v1/shipments/", new_shipment(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert PUBLIC_ID.match(body["id"])
    assert body["references"] == [{"kind": "tracking_number", "value": "NEW1"}]
    assert body["booked_at"] == "2026-03-05T08:00:00Z"
    assert body["status"] == "booked"
    with tenant_context(api.personas.tenant.pk):
        shipment = Shipment.objects.get(public_id=body["id"])
        # The public id is also a (hidden) reference: events posted to it are matched by it.
        assert ShipmentReference.objects.filter(
            shipment=shipment, kind=ReferenceKind.MILEPOST, value=body["id"]
        ).exists()


def test_ids_are_random_not_sequential(api: Api):
    client = api.client("full")
    ids = [
        client.post("/api/v1/shipments/", new_shipment(f"SEQ{n}"), format="json").json()["id"]
        for n in range(3)
    ]
    assert len(set(ids)) == 3
    assert all(PUBLIC_ID.match(i) for i in ids)


def test_create_with_every_optional_field(api: Api):
    parent = api.mine
    body = new_shipment(
        "FULL1",
        carrier="Nordic Haulage",
        service="express",
        customer="SHIPPER1",
        shipper_name="Acme Tools",
        consignee_name="Baltic Retail",
        origin={"locode": "DEHAM"},
        destination={"address": "Hamngatan 1, Stockholm", "lat": 59.33, "lon": 18.07},
        promised_at="2026-03-07T17:00:00+01:00",
        parent={"id": parent.public_id, "kind": "consolidation"},
    )
    response = api.client("full").post("/api/v1/shipments/", body, format="json")
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["customer"] == "SHIPPER1"
    assert out["origin"]["locode"] == "DEHAM"
    assert out["destination"] == {
        "locode": "",
        "address": "Hamngatan 1, Stockholm",
        "lat": 59.33,
        "lon": 18.07,
    }
    assert out["promised_at"] == "2026-03-07T16:00:00Z"
    assert out["parent"] == parent.public_id
    with tenant_context(api.personas.tenant.pk):
        assert ShipmentLink.objects.filter(parent=parent, child__public_id=out["id"]).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"booked_at": "2026-03-05T09:00:00"}, "booked_at"),  # no offset: refused, not guessed
        ({"booked_at": "2024-01-01T12:99:00Z"}, "booked_at"),  # well-formed, impossible
        ({"booked_at": "9999-12-31T23:00:00-10:00"}, "booked_at"),  # past the calendar in UTC
        ({"references": []}, "references"),
        ({"mode": "teleport"}, "mode"),
        ({"customer": "NOPE"}, "customer"),
        ({"template": 999999}, "template"),
        ({"parent": {"id": "shp_0000000000000000"}}, "parent"),
        ({"origin": {"lat": 10}}, "origin"),
        ({"references": [{"kind": "milepost", "value": "x"}]}, "references"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(api: Api, change, field):
    response = api.client("full").post("/api/v1/shipments/", new_shipment() | change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_a_reference_already_taken_is_refused(api: Api):
    response = api.client("full").post("/api/v1/shipments/", new_shipment("MINE1"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_reference"


def test_a_template_of_another_mode_is_refused(api: Api):
    templates = api.client("full").get("/api/v1/templates/").json()["results"]
    air = next(t for t in templates if t["mode"] == "air")
    response = api.client("full").post(
        "/api/v1/shipments/", new_shipment(template=air["id"]), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["template"]


# --- list -----------------------------------------------------------------------------------


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["id"] for s in response.json()["results"]]


def test_list_filters(api: Api):
    client = api.client("full")
    with tenant_context(api.personas.tenant.pk):
        Shipment.objects.filter(pk=api.theirs.pk).update(carrier="DHL", is_late=True)
        Shipment.objects.filter(pk=api.mine.pk).update(is_late=False)
    assert set(_ids(client.get("/api/v1/shipments/"))) == {
        api.mine.public_id,
        api.theirs.public_id,
    }
    assert _ids(client.get("/api/v1/shipments/?reference=MINE1")) == [api.mine.public_id]
    assert _ids(client.get("/api/v1/shipments/?carrier=DHL")) == [api.theirs.public_id]
    assert _ids(client.get("/api/v1/shipments/?late=true")) == [api.theirs.public_id]
    assert _ids(client.get("/api/v1/shipments/?late=false")) == [api.mine.public_id]
    assert _ids(client.get("/api/v1/shipments/?customer=SHIPPER2")) == [api.theirs.public_id]
    assert _ids(client.get("/api/v1/shipments/?customer=UNKNOWN")) == []
    assert len(_ids(client.get("/api/v1/shipments/?status=booked&mode=road_ftl"))) == 2
    assert _ids(client.get("/api/v1/shipments/?mode=air")) == []


def test_updated_since_lists_what_changed_oldest_first(api: Api):
    client = api.client("full")
    mine = client.get(url(api.mine)).json()
    since = mine["updated_at"]
    response = client.patch(url(api.theirs), {"carrier": "Changed"}, format="json")
    assert response.status_code == 200
    listed = client.get("/api/v1/shipments/", {"updated_since": since})
    assert _ids(listed)[-1] == api.theirs.public_id  # the latest change comes last
    later = response.json()["updated_at"]
    assert _ids(client.get("/api/v1/shipments/", {"updated_since": later})) == [
        api.theirs.public_id
    ]


@pytest.mark.parametrize(
    "query",
    [
        "status=nope",
        "mode=nope",
        "late=maybe",
        "limit=0",
        "limit=201",
        "cursor=garbage",
        "updated_since=yesterday",
        "updated_since=2026-03-01T00:00:00",
    ],
)
def test_bad_list_parameters_are_400_naming_them(api: Api, query):
    response = api.client("full").get(f"/api/v1/shipments/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()["error"]["fields"]


def test_offsets_postgresql_refuses_are_taken_in_utc(api: Api):
    client = api.client("full")
    # Python allows offsets up to 23:59, PostgreSQL only 15:59: found by schemathesis as a 500.
    listed = client.get("/api/v1/shipments/?updated_since=2973-03-28T12:16:35.95-16:50")
    assert listed.status_code == 200 and listed.json()["results"] == []
    body = new_shipment() | {"booked_at": "2026-03-05T09:00:00+20:00"}
    created = client.post("/api/v1/shipments/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["booked_at"] == "2026-03-04T13:00:00Z"


def test_an_unencoded_plus_of_an_offset_is_read_as_plus(api: Api):
    client = api.client("full")
    encoded = _ids(client.get("/api/v1/shipments/?updated_since=2026-01-01T00:00:00%2B01:00"))
    raw = _ids(client.get("/api/v1/shipments/?updated_since=2026-01-01T00:00:00+01:00"))
    assert encoded == raw and len(raw) == 2


def test_cursor_pages_walk_every_shipment_once_in_order(api: Api):
    tenant = api.personas.tenant
    same_time = api.mine.booked_at  # ties on booked_at are broken by the public id
    for n in range(5):
        ShipmentFactory(tenant=tenant, reference=f"PAGE{n}", booked_at=same_time)
    client = api.client("full")
    seen: list[str] = []
    link = "/api/v1/shipments/?limit=2"
    pages = 0
    while link:
        response = client.get(link)
        seen += _ids(response)
        link = response.json()["next"]
        pages += 1
        assert "?limit=2" in (link or "?limit=2") or "limit=2" in link
    assert pages == 4
    assert len(seen) == len(set(seen)) == 7
    with tenant_context(tenant.pk):
        expected = list(
            Shipment.objects.order_by("-booked_at", "-public_id").values_list(
                "public_id", flat=True
            )
        )
    assert seen == expected


def test_a_cursor_of_another_order_is_refused(api: Api):
    client = api.client("full")
    ShipmentFactory(tenant=api.personas.tenant, reference="P3")
    cursor = client.get("/api/v1/shipments/?limit=1").json()["next"].split("cursor=")[1]
    response = client.get(
        f"/api/v1/shipments/?limit=1&updated_since=2020-01-01T00:00:00Z&cursor={cursor}"
    )
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]


def _context_bookkeeping(sql: str) -> bool:
    return "set_config(" in sql or "milepost_context_binding()" in sql


def _view_queries(captured: CaptureQueriesContext) -> int:
    """SELECTs after the caller is resolved (the middleware's and the base view's), without
    the signed tenant context's bookkeeping (binding, setting, clearing: tenancy.context)."""
    sqls = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and not _context_bookkeeping(q["sql"])
    ]
    start = next(
        n for n, sql in enumerate(sqls) if "customer_account_id" in sql and "apikey" in sql
    )
    return len(sqls) - start - 1


def test_the_list_costs_a_fixed_number_of_queries(api: Api):
    client = api.client("full")
    for n in range(10):
        ShipmentFactory(tenant=api.personas.tenant, reference=f"Q{n}")
    client.get("/api/v1/shipments/")  # warm: the key's last use is recorded once a while
    with CaptureQueriesContext(connection) as small:
        assert client.get("/api/v1/shipments/?limit=2").status_code == 200
    with CaptureQueriesContext(connection) as large:
        assert client.get("/api/v1/shipments/?limit=12&status=booked").status_code == 200
    assert len(small) == len(large)
    # key, context, page, references, parent links (+ transaction bookkeeping)
    # After resolving the caller (tenant, key, its customer accounts): the page's keys, its
    # rows, their references and parent links, whatever its size.
    assert _view_queries(large) == 4


def test_a_page_is_its_filtered_keys_then_its_rows_by_id_alone(api: Api):
    """The rows query names the page's ids and nothing else: repeating the filters let the
    planner walk the filter's index again and fetch every match of a big tenant (README,
    "List plans"). The page is still exactly the filtered, scoped answer."""
    client = api.client("full")
    with tenant_context(api.personas.tenant.pk):
        Shipment.objects.filter(pk=api.theirs.pk).update(mode="air", status="at_customs")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/shipments/?status=at_customs&mode=air")
    assert _ids(response) == [api.theirs.public_id]
    shipment_selects = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "shipments_shipment"' in q["sql"]
    ]
    keys, rows = shipment_selects[-2:]
    assert "\"status\" = 'at_customs'" in keys and "\"mode\" = 'air'" in keys
    where = rows.split(" WHERE ", 1)[1]
    assert 'public_id" IN' in where
    assert "status" not in where and "mode" not in where
    # A customer-limited key's page is still only its accounts' shipments.
    with tenant_context(api.personas.tenant.pk):
        Shipment.objects.filter(pk=api.mine.pk).update(mode="air", status="at_customs")
    both = _ids(client.get("/api/v1/shipments/?status=at_customs&mode=air"))
    assert sorted(both) == sorted([api.mine.public_id, api.theirs.public_id])
    limited = api.client("limited").get("/api/v1/shipments/?status=at_customs&mode=air")
    assert _ids(limited) == [api.mine.public_id]


# --- detail, edit, cancel -------------------------------------------------------------------


def test_patch_changes_the_editable_fields_and_moves_updated_at(api: Api):
    client = api.client("full")
    before = client.get(url(api.mine)).json()
    response = client.patch(
        url(api.mine),
        {"carrier": "Nordic", "destination": {"locode": "SESTO"}, "customer": "SHIPPER2"},
        format="json",
    )
    assert response.status_code == 200, response.content
    after = response.json()
    assert after["carrier"] == "Nordic"
    assert after["destination"]["locode"] == "SESTO"
    assert after["customer"] == "SHIPPER2"
    assert after["updated_at"] > before["updated_at"]
    assert (
        client.patch(url(api.mine), {"promised_at": "2026-03-01T10:00"}, format="json").status_code
        == 400
    )


def test_cancel_records_the_cancellation_once(api: Api):
    client = api.client("full")
    response = client.post(url(api.mine, "cancel/"), {"reason": "customer called"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    again = client.post(url(api.mine, "cancel/"), {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"


# --- timeline -------------------------------------------------------------------------------


def _record(shipment: Shipment, milestone: str, at: str, classifier: str = "ACT", **extra):
    from datetime import datetime

    from shipments.services import NewEvent

    with tenant_context(shipment.tenant_id):
        events_record(
            events=[
                NewEvent(
                    shipment_id=shipment.pk,
                    milestone=milestone,
                    occurred_at=datetime.fromisoformat(at),
                    classifier=classifier,
                    source_kind="integration",
                    source_name="x12:ACME",
                    dedupe_key=f"{milestone}{at}",
                    **extra,
                )
            ]
        )


def test_the_timeline_shows_every_milestone_with_times_location_and_source(api: Api):
    _record(api.mine, "picked_up", "2026-03-02T08:00:00+00:00", location="DEHAM")
    response = api.client("full").get(url(api.mine, "timeline/"))
    assert response.status_code == 200
    body = response.json()
    assert body["shipment"] == api.mine.public_id
    assert body["status"] == "in_transit"
    picked = next(m for m in body["milestones"] if m["code"] == "picked_up")
    assert picked == picked | {
        "label": "Picked up",
        "actual_at": "2026-03-02T08:00:00Z",
        "location": "DEHAM",
        "source": "integration",
        "source_name": "x12:ACME",
        "reached": True,
    }
    assert {"planned_at", "estimated_at"} <= picked.keys()
    later = next(m for m in body["milestones"] if m["code"] == "delivered")
    assert later["reached"] is False and later["estimated_at"]


def test_the_timeline_as_of_a_past_time_knows_only_what_was_recorded_then(api: Api):
    before = api.client("full").get(url(api.mine, "timeline/"), {"as_of": "2026-03-01T00:00:00Z"})
    _record(api.mine, "picked_up", "2026-03-02T08:00:00+00:00")
    now = api.client("full").get(url(api.mine, "timeline/")).json()
    past = api.client("full").get(
        url(api.mine, "timeline/"), {"as_of": "2026-03-01T00:00:00+00:00"}
    )
    assert before.status_code == past.status_code == 200
    assert now["status"] == "in_transit"
    assert past.json()["status"] == "booked"
    assert past.json()["as_of"] == "2026-03-01T00:00:00Z"


def test_customer_limited_callers_see_only_customer_visible_milestones(api: Api):
    from milestones.models import MilestoneDefinition

    with tenant_context(api.personas.tenant.pk):
        MilestoneDefinition.objects.filter(
            version_id=api.mine.template_version_id, code="departed"
        ).update(customer_visible=False)
    _record(api.mine, "picked_up", "2026-03-02T08:00:00+00:00")
    staff = api.client("full").get(url(api.mine, "timeline/")).json()
    limited = api.client("limited").get(url(api.mine, "timeline/")).json()
    customer = api.client("customer").get(url(api.mine, "timeline/")).json()
    codes = {m["code"] for m in staff["milestones"]}
    assert "departed" in codes
    for view in (limited, customer):
        assert {m["code"] for m in view["milestones"]} == codes - {"departed"}
        assert all(m["source_name"] is None for m in view["milestones"])


def test_a_timeline_read_costs_a_fixed_number_of_queries(api: Api):
    client = api.client("full")
    for n in range(30):
        _record(api.mine, "departed", f"2026-03-02T{n % 24:02d}:{n:02d}:00+00:00", "EST")
    client.get(url(api.mine, "timeline/"))  # warm the template cache of this process
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(api.mine, "timeline/")).status_code == 200
    # The shipment row only: the timeline is cached on it (no events are read).
    assert _view_queries(captured) == 1
    assert not any("shipments_trackingevent" in q["sql"] for q in captured.captured_queries)
    with CaptureQueriesContext(connection) as past:
        response = client.get(url(api.mine, "timeline/"), {"as_of": "2026-03-03T00:00:00Z"})
        assert response.status_code == 200
    # As of a past time: the engine's constant number (shipments.timeline.compute_for).
    assert _view_queries(past) == 4


def test_a_timeline_read_is_one_tenant_transaction_with_two_reads(api: Api):
    """The whole request, middleware included: the key is looked up (with its tenant and its
    customer accounts) inside the request's own tenant transaction, then the shipment row.
    Before, the key had a transaction of its own and the accounts a query of their own: 12
    round trips a request instead of 6 (the ``api`` benchmark's hot path)."""
    client = api.client("full")
    client.get(url(api.mine, "timeline/"))  # warm: the key's last use is recorded once a while
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(api.mine, "timeline/")).status_code == 200
    sqls = [q["sql"] for q in captured.captured_queries]
    assert sum("milepost_context_binding()" in sql for sql in sqls) == 1  # one context
    reads = [sql for sql in sqls if sql.startswith("SELECT") and not _context_bookkeeping(sql)]
    assert len(reads) == 2, reads
    assert "tenancy_apikey" in reads[0] and "shipments_shipment" in reads[1]


def test_templates_list_the_latest_version_with_milestones(api: Api):
    response = api.client("full").get("/api/v1/templates/")
    assert response.status_code == 200
    road = next(t for t in response.json()["results"] if t["mode"] == "road_ftl")
    assert road["version"] == 1
    assert [m["code"] for m in road["milestones"]][:2] == ["order_created", "picked_up"]


# --- access: every endpoint, every kind of caller -----------------------------------------


@covers_url(
    "api-shipments",
    "api-shipment-detail",
    "api-shipment-cancel",
    "api-shipment-timeline",
    "api-templates",
)
def test_access_by_tenant_scope_and_customer(api: Api):
    mine, theirs = api.mine, api.theirs
    reads = [
        lambda c, s: c.get(url(s)),
        lambda c, s: c.get(url(s, "timeline/")),
    ]
    writes = [
        lambda c, s: c.patch(url(s), {"carrier": "x"}, format="json"),
        lambda c, s: c.post(url(s, "cancel/"), {}, format="json"),
    ]
    # Another tenant's key sees none of A's shipments: 404, exactly like a missing one.
    outsider = api.client("outsider")
    for call in reads + writes:
        assert call(outsider, mine).status_code == 404
    assert _ids(outsider.get("/api/v1/shipments/")) == []
    # So does another tenant's admin session.
    rival = api.personas.client("outsider")
    assert rival.get(url(mine)).status_code == 404
    # A key limited to SHIPPER1 sees its shipment and not the other account's.
    limited = api.client("limited")
    for call in reads:
        assert call(limited, mine).status_code == 200
        assert call(limited, theirs).status_code == 404
    assert _ids(limited.get("/api/v1/shipments/")) == [mine.public_id]
    assert limited.patch(url(theirs), {"carrier": "x"}, format="json").status_code == 404
    assert limited.post(url(theirs, "cancel/"), {}, format="json").status_code == 404
    # ... and creates shipments only for its own accounts.
    created = limited.post("/api/v1/shipments/", new_shipment("LIM1"), format="json")
    assert created.status_code == 400 and "customer" in created.json()["error"]["fields"]
    other = limited.post(
        "/api/v1/shipments/", new_shipment("LIM2", customer="SHIPPER2"), format="json"
    )
    assert other.status_code == 400
    ok = limited.post(
        "/api/v1/shipments/", new_shipment("LIM3", customer="SHIPPER1"), format="json"
    )
    assert ok.status_code == 201
    assert limited.patch(url(mine), {"customer": "SHIPPER2"}, format="json").status_code == 400
    # A customer member: like the limited key, and never writes.
    customer = api.personas.client("customer")
    assert customer.get(url(mine)).status_code == 200
    assert customer.get(url(theirs)).status_code == 404
    assert customer.get("/api/v1/templates/").status_code == 200
    assert (
        customer.patch(url(mine), {"carrier": "x"}, content_type="application/json").status_code
        == 403
    )
    # Scopes: a read-only key reads and writes nothing.
    read = api.client("read")
    assert read.get(url(mine)).status_code == 200
    assert read.post("/api/v1/shipments/", new_shipment("RO1"), format="json").status_code == 403
    assert read.patch(url(mine), {"carrier": "x"}, format="json").status_code == 403
    assert read.post(url(mine, "cancel/"), {}, format="json").status_code == 403
    # Roles: a driver reads no shipments; anonymous callers get 401.
    assert api.personas.client("driver").get("/api/v1/shipments/").status_code == 403
    from rest_framework.test import APIClient

    anonymous = APIClient()
    for path in ("/api/v1/shipments/", url(mine), url(mine, "timeline/"), "/api/v1/templates/"):
        assert anonymous.get(path).status_code in (401, 403)
    # Staff sessions: ops may do everything.
    ops = api.personas.client("ops")
    assert ops.get("/api/v1/shipments/").status_code == 200
    assert ops.post(url(theirs, "cancel/"), {}, content_type="application/json").status_code == 200
    # Ids that are not public ids are not URLs at all.
    assert api.client("full").get(f"/api/v1/shipments/{mine.pk}/").status_code == 404

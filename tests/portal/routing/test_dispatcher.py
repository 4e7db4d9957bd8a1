"""The dispatcher's route pages (/ops/routes/, /ops/routes/<id>/): the day's routes per driver
with stops, ETAs and windows; a re-order is checked (same stops, visited ones first), saved
through portal.routing.services (ETAs recomputed, sequenced_by "dispatcher", audited) and
pushed to the driver's page; the solver can take over again. Office roles read, admin/ops
change, drivers and customers get 404, and another tenant's route is a 404 like a missing one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from config.asgi import application
from portal.routing import services
from portal.routing.models import Route, RouteStop
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.portal.conftest import last_mile

pytestmark = [pytest.mark.urls("config.urls")]

NAMES = ["Jonas Weber", "Lea Schmidt", "Paul Becker", "Mia Wolf"]


def _make_route(world) -> Route:
    personas = world.personas
    acme = personas.tenant
    with tenant_context(acme.pk):
        route = services.route_for(driver=personas.users["driver"])
        route.start_lat, route.start_lon = 53.60, 9.95
        route.save()
        for n, name in enumerate(NAMES):
            shipment = last_mile(
                acme,
                f"ACMEDISP{n}",
                consignee_name=name,
                destination_lat=53.55 + n * 0.012,
                destination_lon=9.96 + (n % 2) * 0.03,
            )
            services.stop_add(
                route=route,
                shipment=shipment,
                window_start=timezone.now(),
                window_end=timezone.now() + timedelta(hours=4),
            )
        services.route_sequence(route=route)
    return route


@pytest.fixture
def route(world) -> Route:
    return _make_route(world)


@pytest.fixture
def rival_route(world) -> Route:
    rival = world.personas.other_tenant
    with tenant_context(rival.pk):
        route = services.route_for(driver=world.personas.outsider)
        services.stop_add(route=route, shipment=world.b)
    return route


def _order(tenant, route) -> list[int]:
    with tenant_context(tenant.pk):
        return list(route.stops.order_by("sequence").values_list("pk", flat=True))


def _visit_first(tenant, route) -> int:
    with tenant_context(tenant.pk):
        first = route.stops.order_by("sequence").first()
        RouteStop.objects.filter(pk=first.pk).update(status="done", done_at=timezone.now())
        return first.pk


@pytest.mark.django_db
@covers_url("ops-routes")
def test_routes_page_lists_the_days_routes_with_stops_etas_and_windows(world, route, rival_route):
    personas = world.personas
    for who in ("ops", "sales", "admin", "finance"):
        response = personas.client(who).get(reverse("ops-routes"))
        assert response.status_code == 200, who
    html = response.content.decode()
    assert "driver@acme.test" in html
    positions = [html.index(name) for name in _names_in_order(personas.tenant, route)]
    assert positions == sorted(positions)  # stops in the route's order
    assert "ETA" in html and "window" in html
    assert "RIVAL55555" not in html and world.b.consignee_name not in html
    other_day = personas.client("ops").get(reverse("ops-routes"), {"day": "2001-01-01"})
    assert "No routes on this day." in other_day.content.decode()


def _names_in_order(tenant, route) -> list[str]:
    with tenant_context(tenant.pk):
        return list(route.stops.order_by("sequence").values_list("name", flat=True))


@pytest.mark.django_db
@covers_url("ops-route", "ops-route-order")
def test_reorder_saves_recomputes_etas_audits_and_marks_the_dispatcher(world, route):
    personas = world.personas
    acme = personas.tenant
    visited = _visit_first(acme, route)
    ops = personas.client("ops")
    page = ops.get(reverse("ops-route", args=[route.pk])).content.decode()
    assert 'draggable="true"' in page and f'value="{_order(acme, route)[1]}:up"' in page
    assert f'value="{visited}:up"' not in page  # a visited stop has no move buttons
    before = _order(acme, route)
    with tenant_context(acme.pk):
        etas_before = dict(RouteStop.objects.filter(route=route).values_list("pk", "eta"))
    wanted = [before[0], *reversed(before[1:])]
    response = ops.post(reverse("ops-route-order", args=[route.pk]), {"stop": wanted}, follow=True)
    assert response.status_code == 200
    assert "Order saved" in response.content.decode()
    assert _order(acme, route) == wanted
    with tenant_context(acme.pk):
        saved = Route.objects.get(pk=route.pk)
        assert saved.sequenced_by == "dispatcher"
        pending = list(RouteStop.objects.filter(route=route, status="pending").order_by("sequence"))
        etas = [s.eta for s in pending]
        assert all(etas) and etas == sorted(etas)  # ETAs follow the new order
        assert any(s.eta != etas_before[s.pk] for s in pending)
        entry = AuditLog.objects.get(action="route.reorder", target_id=str(route.pk))
        assert entry.actor_id == personas.users["ops"].pk
        assert entry.changes["stops"] == wanted


@pytest.mark.django_db
@covers_url("ops-route-order")
def test_an_order_must_keep_every_stop_once_and_visited_stops_first(world, route):
    personas = world.personas
    acme = personas.tenant
    visited = _visit_first(acme, route)
    before = _order(acme, route)
    url = reverse("ops-route-order", args=[route.pk])
    ops = personas.client("ops")
    refusals = {
        "missing": (before[:-1], "exactly once"),
        "doubled": ([*before[:-1], before[0]], "exactly once"),
        "visited moved": ([*before[1:], visited], "visited stay first"),
        "garbage": (["x", *before[1:]], "ids"),
    }
    for label, (stops, says) in refusals.items():
        response = ops.post(url, {"stop": stops}, follow=True)
        assert says in response.content.decode(), label
    assert _order(acme, route) == before
    with tenant_context(acme.pk):
        assert not AuditLog.objects.filter(action="route.reorder").exists()
        with pytest.raises(services.RouteError):
            services.route_order_check(route=route, stop_ids=[*before[1:], visited])


@pytest.mark.django_db
@covers_url("ops-route-order")
def test_move_buttons_work_without_javascript(world, route):
    acme = world.personas.tenant
    before = _order(acme, route)
    ops = world.personas.client("ops")
    ops.post(
        reverse("ops-route-order", args=[route.pk]),
        {"stop": before, "move": f"{before[2]}:up"},
    )
    assert _order(acme, route) == [before[0], before[2], before[1], before[3]]
    ops.post(
        reverse("ops-route-order", args=[route.pk]),
        {"stop": _order(acme, route), "move": f"{before[0]}:down"},
    )
    assert _order(acme, route) == [before[2], before[0], before[1], before[3]]


@pytest.mark.django_db
@covers_url("ops-route-sequence")
def test_resequence_with_the_solver_takes_over_from_the_dispatcher(world, route):
    acme = world.personas.tenant
    solver_order = _order(acme, route)
    ops = world.personas.client("ops")
    ops.post(reverse("ops-route-order", args=[route.pk]), {"stop": list(reversed(solver_order))})
    response = ops.post(reverse("ops-route-sequence", args=[route.pk]), follow=True)
    assert "Re-sequenced by the solver" in response.content.decode()
    assert _order(acme, route) == solver_order
    with tenant_context(acme.pk):
        assert Route.objects.get(pk=route.pk).sequenced_by == "solver"
        assert AuditLog.objects.filter(action="route.sequence").count() == 2


@pytest.mark.django_db
@covers_url("ops-routes", "ops-route", "ops-route-order", "ops-route-sequence")
@pytest.mark.parametrize("who", ["driver", "customer"])
def test_drivers_and_customers_get_404_everywhere(world, route, who):
    client = world.personas.client(who)
    before = _order(world.personas.tenant, route)
    assert client.get(reverse("ops-routes")).status_code == 404
    assert client.get(reverse("ops-route", args=[route.pk])).status_code == 404
    order = client.post(
        reverse("ops-route-order", args=[route.pk]), {"stop": list(reversed(before))}
    )
    assert order.status_code == 404
    assert client.post(reverse("ops-route-sequence", args=[route.pk])).status_code == 404
    assert _order(world.personas.tenant, route) == before


@pytest.mark.django_db
@covers_url("ops-route", "ops-route-order", "ops-route-sequence")
@pytest.mark.parametrize("who", ["sales", "finance"])
def test_sales_and_finance_read_but_do_not_reorder(world, route, who):
    client = world.personas.client(who)
    before = _order(world.personas.tenant, route)
    page = client.get(reverse("ops-route", args=[route.pk]))
    assert page.status_code == 200
    assert 'name="move"' not in page.content.decode() and "draggable" not in page.content.decode()
    order = client.post(
        reverse("ops-route-order", args=[route.pk]), {"stop": list(reversed(before))}
    )
    assert order.status_code == 404
    assert client.post(reverse("ops-route-sequence", args=[route.pk])).status_code == 404
    assert _order(world.personas.tenant, route) == before


@pytest.mark.django_db
@covers_url("ops-route", "ops-route-order", "ops-route-sequence")
def test_another_tenants_route_is_a_404_like_a_missing_one(world, route, rival_route):
    personas = world.personas
    before = _order(personas.tenant, route)
    outsider = personas.client("outsider")  # admin of tenant B
    assert outsider.get(reverse("ops-route", args=[route.pk])).status_code == 404
    assert outsider.get(reverse("ops-route", args=[987654])).status_code == 404
    assert (
        outsider.post(
            reverse("ops-route-order", args=[route.pk]), {"stop": list(reversed(before))}
        ).status_code
        == 404
    )
    assert outsider.post(reverse("ops-route-sequence", args=[route.pk])).status_code == 404
    assert _order(personas.tenant, route) == before
    # and A's dispatcher cannot reach B's route either
    ops = personas.client("ops")
    assert ops.get(reverse("ops-route", args=[rival_route.pk])).status_code == 404
    assert ops.post(reverse("ops-route-sequence", args=[rival_route.pk])).status_code == 404


def _headers(client):
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [
        (b"origin", b"http://localhost"),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_reorder_is_pushed_to_that_drivers_page_only(world):
    route = _make_route(world)
    personas = world.personas
    acme = personas.tenant
    before = _order(acme, route)

    def reorder() -> None:
        with tenant_context(acme.pk):
            services.route_order_set(
                route=Route.objects.get(pk=route.pk),
                stop_ids=list(reversed(before)),
                actor=personas.users["ops"],
            )

    async def scenario():
        sockets = {}
        for who in ("driver", "ops", "outsider"):
            client = await sync_to_async(personas.client)(who)
            communicator = WebsocketCommunicator(
                application, "/ws/driver/", headers=_headers(client)
            )
            connected, _ = await communicator.connect(timeout=5)
            assert connected, who
            sockets[who] = communicator
        customer = await sync_to_async(personas.client)("customer")
        refused = WebsocketCommunicator(application, "/ws/driver/", headers=_headers(customer))
        assert await refused.connect(timeout=5) == (False, 4403)
        await sync_to_async(reorder)()
        message = await sockets["driver"].receive_json_from(timeout=5)
        assert message["type"] == "route.changed" and message["route"] == route.pk
        assert set(message) == {"type", "route", "seq"}  # names the route, nothing more
        assert await sockets["ops"].receive_nothing(timeout=0.3)  # another user's own group
        assert await sockets["outsider"].receive_nothing(timeout=0.3)
        for communicator in sockets.values():
            await communicator.disconnect()

    async_to_sync(scenario)()

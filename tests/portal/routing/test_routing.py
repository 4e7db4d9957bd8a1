"""Stop sequencing: the solver beats the input order, respects windows, ETAs follow the
sequence and the driver's position; dispatchers re-order; other tenants get 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.routing import benchmarks, services, solver
from portal.routing.models import Route, RouteStop
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.portal.conftest import last_mile, record

pytestmark = [pytest.mark.urls("config.urls")]


def test_solver_shortens_a_zigzag_and_keeps_every_stop():
    start = solver.Point(53.55, 10.0)
    points = [solver.Point(53.55 + (0.05 if i % 2 else -0.05), 10.0 + i * 0.01) for i in range(12)]
    jobs = [solver.Job(key=i, at=p) for i, p in enumerate(points)]
    plan = solver.solve([solver.Vehicle(key=1, start=start)], jobs)
    assert sorted(plan.routes[1]) == list(range(12))
    assert plan.km < solver.route_km(start, points) * 0.8


def test_time_windows_are_respected():
    start = solver.Point(53.55, 10.0)
    near, far = solver.Point(53.551, 10.001), solver.Point(53.60, 10.10)
    # the near stop only opens in two hours: the far one goes first
    jobs = [
        solver.Job(key=1, at=near, window=(7200, 9000)),
        solver.Job(key=2, at=far, window=(0, 3600)),
    ]
    plan = solver.solve([solver.Vehicle(key=9, start=start)], jobs)
    assert plan.routes[9] == [2, 1]
    assert plan.arrivals[1] >= 7200


def test_road_model_speeds_grow_with_distance():
    assert solver.speed_kmh(1) < solver.speed_kmh(5) < solver.speed_kmh(30) < solver.speed_kmh(200)
    assert solver.road_km(53.5, 10.0, 53.6, 10.0) == pytest.approx(11.12 * solver.DETOUR, rel=0.01)


def test_benchmark_200_stops_10_drivers_within_5_s():
    result = benchmarks.bench_routing()
    assert result["stops"] == 200 and result["drivers"] == 10
    assert result["seconds"] <= 5.0, result
    assert result["distance_ratio_vs_input_order"] < 0.5, result


@pytest.fixture
def route(world):
    personas = world.personas
    acme = personas.tenant
    driver = personas.users["driver"]
    extra = [last_mile(acme, f"ACMER{i}", destination_lat=53.55 + i * 0.01) for i in range(3)]
    with tenant_context(acme.pk):
        route = services.route_for(driver=driver)
        route.start_lat, route.start_lon = 53.60, 9.95
        route.save()
        for shipment in [world.a, *extra]:
            services.stop_add(route=route, shipment=shipment)
        services.route_sequence(route=route)
    return route


@pytest.mark.django_db
def test_etas_follow_sequence_and_scans_close_stops(world, route):
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        stops = list(RouteStop.objects.filter(route=route).order_by("sequence"))
        etas = [s.eta for s in stops]
        assert all(etas) and etas == sorted(etas)
        assert route.planned_km > 0
    record(acme, world.a, "delivered", 1)
    with tenant_context(acme.pk):
        stop = RouteStop.objects.get(route=route, shipment=world.a)
        assert stop.status == "done"
        assert stop.done_at is not None
        # a fresh position moves the remaining ETAs
        before = {s.pk: s.eta for s in RouteStop.objects.filter(route=route, status="pending")}
        services.etas_recompute(
            route=route,
            start=(solver.Point(53.0, 9.0), timezone.now() + timedelta(hours=1)),
        )
        after = {s.pk: s.eta for s in RouteStop.objects.filter(route=route, status="pending")}
        assert all(after[k] > before[k] for k in before)


@pytest.mark.django_db
@covers_url("route-order", "route-sequence")
def test_dispatcher_reorders_and_other_tenants_get_404(world, route):
    personas = world.personas
    with tenant_context(personas.tenant.pk):
        ids = list(
            RouteStop.objects.filter(route=route).order_by("sequence").values_list("pk", flat=True)
        )
    ops = personas.client("ops")
    reversed_ids = list(reversed(ids))
    response = ops.post(
        reverse("route-order", args=[route.pk]),
        {"stop_ids": reversed_ids},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert [s["id"] for s in response.json()["stops"]] == reversed_ids
    assert response.json()["sequenced_by"] == "dispatcher"
    bad = ops.post(
        reverse("route-order", args=[route.pk]),
        {"stop_ids": ids[:1]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert ops.post(reverse("route-sequence", args=[route.pk])).status_code == 200
    for who in ("outsider", "driver", "customer"):
        response = personas.client(who).post(
            reverse("route-order", args=[route.pk]),
            {"stop_ids": ids},
            content_type="application/json",
        )
        assert response.status_code in (403, 404), (who, response.status_code)
    outsider = personas.client("outsider").post(reverse("route-sequence", args=[route.pk]))
    assert outsider.status_code == 404
    with tenant_context(personas.other_tenant.pk):
        assert not Route.objects.exists()

"""Benchmark "routing": 200 stops for 10 drivers sequenced by the solver, against input order.

The stops are spread over a 30 km square around Hamburg (seeded, reproducible) with a
quarter of them carrying a two-hour time window; each driver starts at one of two depots.
"Input order" is the dispatch list as it came: stop i goes to driver i mod 10, in list
order. ``distance_ratio_vs_input_order`` is the solver's total road distance divided by that
of the input order in the same run (lower is better).
"""

from __future__ import annotations

import random
import time
from typing import Any

from portal.routing import solver

STOPS = 200
DRIVERS = 10


def problem(seed: int = 16) -> tuple[list[solver.Vehicle], list[solver.Job]]:
    rng = random.Random(seed)
    depots = [solver.Point(53.55, 9.99), solver.Point(53.60, 10.10)]
    vehicles = [
        solver.Vehicle(key=d, start=depots[d % 2], start_s=8 * 3600) for d in range(DRIVERS)
    ]
    jobs = []
    for i in range(STOPS):
        at = solver.Point(53.42 + rng.random() * 0.27, 9.77 + rng.random() * 0.45)
        window = None
        if i % 4 == 0:
            open_s = rng.choice([9, 11, 13, 15]) * 3600
            window = (open_s, open_s + 2 * 3600)
        jobs.append(solver.Job(key=i, at=at, service_s=180, window=window))
    return vehicles, jobs


def bench_routing(tenant: Any = None) -> dict:
    vehicles, jobs = problem()
    input_km = sum(
        solver.route_km(v.start, [j.at for j in jobs[v.key :: DRIVERS]]) for v in vehicles
    )
    started = time.perf_counter()
    plan = solver.solve(vehicles, jobs)
    seconds = time.perf_counter() - started
    assigned = sum(len(keys) for keys in plan.routes.values())
    return {
        "stops": assigned,
        "drivers": len(vehicles),
        "seconds": round(seconds, 3),
        "solver_km": round(plan.km, 1),
        "input_order_km": round(input_km, 1),
        "distance_ratio_vs_input_order": round(plan.km / input_km, 3),
    }

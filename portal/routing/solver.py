"""Stop sequencing: VROOM (pyvroom) over a road model built from straight-line distances.

No external routing service: the distance of a leg is the great-circle distance times a
detour factor, and its duration follows from a speed that grows with the leg's length (short
hops are town streets, long ones are arterials and motorways). Time windows are hard
constraints for the solver; a stop it cannot fit in its window is still appended at the end
of the nearest route, so no stop is ever dropped from a driver's day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DETOUR = 1.3  # road km per straight-line km (typical European road networks: 1.2 to 1.4)
SPEED_BANDS_KMH = ((2.0, 18.0), (10.0, 30.0), (40.0, 55.0), (math.inf, 75.0))
EARTH_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def road_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * DETOUR


def speed_kmh(km: float) -> float:
    for limit, speed in SPEED_BANDS_KMH:
        if km <= limit:
            return speed
    return SPEED_BANDS_KMH[-1][1]


def drive_seconds(km: float) -> float:
    return km / speed_kmh(km) * 3600.0 if km > 0 else 0.0


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Job:
    key: int  # the caller's id of the stop
    at: Point
    service_s: int = 180
    window: tuple[int, int] | None = None  # seconds after the plan's time zero


@dataclass(frozen=True)
class Vehicle:
    key: int
    start: Point
    start_s: int = 0  # seconds after time zero when the driver sets off


@dataclass
class Plan:
    routes: dict[int, list[int]] = field(default_factory=dict)  # vehicle key -> job keys
    arrivals: dict[int, int] = field(default_factory=dict)  # job key -> seconds after zero
    km: float = 0.0


def matrices(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    """(durations in s, distances in m) between every pair, vectorised."""
    lat = np.radians(np.array([p.lat for p in points]))
    lon = np.radians(np.array([p.lon for p in points]))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    km = 2 * EARTH_KM * np.arcsin(np.minimum(1.0, np.sqrt(a))) * DETOUR
    speed = np.full(km.shape, SPEED_BANDS_KMH[-1][1])
    for limit, band in reversed(SPEED_BANDS_KMH):
        speed = np.where(km <= limit, band, speed)
    seconds = np.where(km > 0, km / speed * 3600.0, 0.0)
    return seconds.round().astype(np.uint32), (km * 1000).round().astype(np.uint32)


def route_km(start: Point, stops: Sequence[Point]) -> float:
    total, here = 0.0, start
    for stop in stops:
        total += road_km(here.lat, here.lon, stop.lat, stop.lon)
        here = stop
    return total


CLUSTER_ABOVE = 60  # more jobs than this over several vehicles: cluster first, route second


def solve(
    vehicles: Sequence[Vehicle], jobs: Sequence[Job], *, exploration: int | None = None
) -> Plan:
    """Assign and order the jobs over the vehicles. A fleet-sized problem is split first
    (balanced angular sweep around the jobs' centre, each sector to the nearest free
    vehicle), then each vehicle's share is one VROOM problem: hundreds of stops stay within
    seconds on a busy 2-core machine, where a single VROOM problem of 200 took 4 to 18 s."""
    if len(vehicles) > 1 and len(jobs) > CLUSTER_ABOVE:
        plan = Plan(routes={v.key: [] for v in vehicles})
        for vehicle, share in _sectors(vehicles, jobs):
            part = solve_vroom([vehicle], share, exploration=exploration)
            plan.routes[vehicle.key] = part.routes[vehicle.key]
            plan.arrivals.update(part.arrivals)
            plan.km += part.km
        return plan
    return solve_vroom(vehicles, jobs, exploration=exploration)


def _sectors(vehicles: Sequence[Vehicle], jobs: Sequence[Job]) -> list[tuple[Vehicle, list[Job]]]:
    lat0 = sum(j.at.lat for j in jobs) / len(jobs)
    lon0 = sum(j.at.lon for j in jobs) / len(jobs)
    scale = math.cos(math.radians(lat0))
    ordered = sorted(jobs, key=lambda j: math.atan2(j.at.lat - lat0, (j.at.lon - lon0) * scale))
    size = math.ceil(len(ordered) / len(vehicles))
    sectors = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    free = list(vehicles)
    out = []
    for sector in sectors:
        c_lat = sum(j.at.lat for j in sector) / len(sector)
        c_lon = sum(j.at.lon for j in sector) / len(sector)
        best = min(free, key=lambda v: haversine_km(v.start.lat, v.start.lon, c_lat, c_lon))
        free.remove(best)
        out.append((best, sector))
    return out


def solve_vroom(
    vehicles: Sequence[Vehicle], jobs: Sequence[Job], *, exploration: int | None = None
) -> Plan:
    """Assign and order the jobs over the vehicles (each route open-ended: no return).

    ``exploration``: VROOM's search depth (0 to 5); by default deep for a driver's day (tens of
    stops, milliseconds) and shallow for a whole fleet (hundreds: seconds on 2 cores)."""
    import vroom

    if exploration is None:
        exploration = 4 if len(jobs) <= 30 else 2 if len(jobs) <= CLUSTER_ABOVE else 0

    plan = Plan(routes={v.key: [] for v in vehicles})
    if not jobs or not vehicles:
        return plan
    points = [v.start for v in vehicles] + [j.at for j in jobs]
    durations, distances = matrices(points)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=durations)
    problem.set_distances_matrix(profile="car", matrix_input=distances)
    problem.add_vehicle(
        [
            vroom.Vehicle(
                id=index + 1,
                start=index,
                profile="car",
                time_window=vroom.TimeWindow(v.start_s, v.start_s + 24 * 3600),
            )
            for index, v in enumerate(vehicles)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                id=index + 1,
                location=len(vehicles) + index,
                default_service=j.service_s,
                time_windows=[vroom.TimeWindow(*j.window)] if j.window else [],
            )
            for index, j in enumerate(jobs)
        ]
    )
    solution = problem.solve(exploration_level=exploration, nb_threads=2)
    frame = solution.routes
    placed: set[int] = set()
    # service starts at arrival + waiting (a driver early for a window waits for it)
    waiting = frame["waiting_time"] if "waiting_time" in frame else [0] * len(frame)
    for vehicle_id, kind, job_id, arrival, wait in zip(
        frame["vehicle_id"], frame["type"], frame["id"], frame["arrival"], waiting, strict=True
    ):
        if kind != "job":
            continue
        job = jobs[int(job_id) - 1]
        plan.routes[vehicles[int(vehicle_id) - 1].key].append(job.key)
        plan.arrivals[job.key] = int(arrival) + int(wait)
        placed.add(job.key)
    # Jobs no window allows: appended to the route whose last stop is nearest (never dropped).
    for job in jobs:
        if job.key in placed:
            continue
        best = min(vehicles, key=lambda v: _tail_km(plan, v, job, jobs))
        plan.routes[best.key].append(job.key)
    by_key = {j.key: j for j in jobs}
    plan.km = sum(route_km(v.start, [by_key[k].at for k in plan.routes[v.key]]) for v in vehicles)
    return plan


def _tail_km(plan: Plan, vehicle: Vehicle, job: Job, jobs: Sequence[Job]) -> float:
    keys = plan.routes[vehicle.key]
    last = next((j.at for j in jobs if keys and j.key == keys[-1]), vehicle.start)
    return road_km(last.lat, last.lon, job.at.lat, job.at.lon)


def etas(start: Point, start_s: float, stops: Sequence[tuple[Point, int]]) -> list[float]:
    """Arrival seconds of each stop (point, service seconds) driven in this order."""
    out, here, clock = [], start, start_s
    for point, service in stops:
        clock += drive_seconds(road_km(here.lat, here.lon, point.lat, point.lon))
        out.append(clock)
        clock += service
        here = point
    return out

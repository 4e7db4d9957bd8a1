"""Small, dependency-free geodesy for geofences: great-circle distance and arrival estimates."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (spherical model, <0.5% off)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def valid_lat(value: object) -> bool:
    return isinstance(value, int | float) and _is_number(value) and -90.0 <= value <= 90.0


def valid_lon(value: object) -> bool:
    return isinstance(value, int | float) and _is_number(value) and -180.0 <= value <= 180.0


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def eta(at: datetime, distance_m: float, speed_kmh: float | None) -> datetime | None:
    """When a vehicle ``distance_m`` away at ``speed_kmh`` arrives; None without usable speed."""
    if speed_kmh is None or speed_kmh < 1.0:
        return None
    seconds = max(0.0, distance_m) / (speed_kmh / 3.6)
    return at + timedelta(seconds=round(seconds))

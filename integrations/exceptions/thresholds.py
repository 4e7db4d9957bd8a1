"""Default thresholds in code; a tenant overrides them with ExceptionThreshold rows.

Minutes after the cause's basis (for a missed milestone: the planned time plus the template's
tolerance; a customs hold: when the hold began; dark: the last event or position) at which
it is an exception, and at which it becomes major and critical. Route deviation counts in
kilometres off the origin→destination line instead of minutes. ``mode`` "" is every mode.

Closeness to the promise raises severity too: within PROMISE_MAJOR of the promised delivery
an exception is at least major, within PROMISE_CRITICAL critical.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from integrations.exceptions.models import ExceptionThreshold, ExceptionType

H = 60
D = 24 * H

PROMISE_MAJOR = timedelta(hours=24)
PROMISE_CRITICAL = timedelta(hours=4)


@dataclass(frozen=True)
class Threshold:
    after: int
    major: int
    critical: int


DEFAULTS: dict[tuple[str, str], Threshold] = {
    (ExceptionType.MISSED_MILESTONE, ""): Threshold(0, 4 * H, D),
    (ExceptionType.DELAYED_DEPARTURE, ""): Threshold(0, 2 * H, 12 * H),
    (ExceptionType.CUSTOMS_HOLD, ""): Threshold(2 * D, 3 * D, 5 * D),
    (ExceptionType.LONG_DWELL, ""): Threshold(D, 2 * D, 3 * D),
    (ExceptionType.STALE_FEED, ""): Threshold(6 * H, 12 * H, D),
    (ExceptionType.PREDICTED_LATE, ""): Threshold(30, 2 * H, 8 * H),
    (ExceptionType.CASCADE, ""): Threshold(0, 4 * H, D),
    (ExceptionType.ROUTE_DEVIATION, ""): Threshold(50, 150, 300),  # kilometres
    # The expected interval between reports per mode: silent longer, it is dark.
    (ExceptionType.DARK_SHIPMENT, ""): Threshold(D, 2 * D, 3 * D),
    (ExceptionType.DARK_SHIPMENT, "ocean_fcl"): Threshold(3 * D, 5 * D, 7 * D),
    (ExceptionType.DARK_SHIPMENT, "ocean_lcl"): Threshold(3 * D, 5 * D, 7 * D),
    (ExceptionType.DARK_SHIPMENT, "multimodal"): Threshold(2 * D, 4 * D, 6 * D),
    (ExceptionType.DARK_SHIPMENT, "air"): Threshold(12 * H, D, 2 * D),
    (ExceptionType.DARK_SHIPMENT, "road_ftl"): Threshold(6 * H, 12 * H, D),
    (ExceptionType.DARK_SHIPMENT, "road_ltl"): Threshold(12 * H, D, 2 * D),
    (ExceptionType.DARK_SHIPMENT, "last_mile"): Threshold(2 * H, 4 * H, 8 * H),
    (ExceptionType.DARK_SHIPMENT, "first_mile"): Threshold(6 * H, 12 * H, D),
}


def defaults_values_sql() -> tuple[str, list[object]]:
    """``(VALUES …)`` of the defaults, for joining in detection SQL: (type, mode, a, m, c)."""
    rows = []
    params: list[object] = []
    for (kind, mode), t in DEFAULTS.items():
        rows.append("(%s, %s, %s::int, %s::int, %s::int)")
        params += [str(kind), mode, t.after, t.major, t.critical]
    return "(VALUES " + ", ".join(rows) + ") AS dft(type, mode, a, m, c)", params


def tenant_threshold(kind: str) -> Threshold:
    """The tenant-wide value for ``kind`` (no template, milestone or account scope)."""
    row = (
        ExceptionThreshold.objects.filter(
            type=kind, template__isnull=True, milestone="", customer_account__isnull=True
        )
        .values_list("after_minutes", "major_minutes", "critical_minutes")
        .first()
    )
    return Threshold(*row) if row else DEFAULTS[(kind, "")]

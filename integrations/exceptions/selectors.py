"""Reads of exceptions: the API's list, and the dashboard's queue and KPI.

SLA: how soon an unresolved exception should be handled, by severity, from when it opened
(``SLA``). The queue groups unresolved exceptions by type and severity with the earliest SLA
due time of each group and how many are past it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from integrations.exceptions.models import (
    ExceptionStatus,
    ExceptionType,
    Severity,
    ShipmentException,
)
from tenancy.context import current_tenant_id, for_each_tenant

SLA: dict[str, timedelta] = {
    Severity.CRITICAL: timedelta(hours=1),
    Severity.MAJOR: timedelta(hours=4),
    Severity.MINOR: timedelta(hours=24),
}
SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2}


def sla_due_at(exception: ShipmentException) -> datetime:
    return exception.opened_at + SLA[exception.severity]


def sla_hours() -> list[tuple[str, float]]:
    """(severity, hours) of the SLA, most urgent first (for the queue's legend)."""
    return [
        (str(severity), SLA[severity].total_seconds() / 3600)
        for severity in sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__)
    ]


def exception_list(
    *,
    type: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    shipment_id: int | None = None,
) -> QuerySet[ShipmentException]:
    found = ShipmentException.objects.select_related("shipment", "assignee_user")
    if type:
        found = found.filter(type=type)
    if severity:
        found = found.filter(severity=severity)
    if status == "unresolved":
        found = found.exclude(status=ExceptionStatus.RESOLVED)
    elif status:
        found = found.filter(status=status)
    if shipment_id is not None:
        found = found.filter(shipment_id=shipment_id)
    return found.order_by("-opened_at", "-id")


def exception_by_public_id(public_id: str) -> ShipmentException | None:
    return exception_list().filter(public_id=public_id).first()


@dataclass(frozen=True)
class QueueGroup:
    type: str
    type_label: str
    severity: str
    count: int
    oldest_opened_at: datetime
    sla_due_at: datetime  # the earliest due time of the group
    overdue: int  # past their SLA now


QUEUE_SQL = """
SELECT type, severity, count(*), min(opened_at),
       min(opened_at + %s::interval * (severity = 'critical')::int
                     + %s::interval * (severity = 'major')::int
                     + %s::interval * (severity = 'minor')::int),
       count(*) FILTER (WHERE opened_at + CASE severity WHEN 'critical' THEN %s::interval
                                                   WHEN 'major' THEN %s::interval
                                                   ELSE %s::interval END < %s)
FROM exceptions_shipmentexception
WHERE tenant_id = %s AND status <> 'resolved' {accounts}
GROUP BY type, severity
"""


def exception_queue(
    *, now: datetime | None = None, customer_account_ids: Iterable[int] | None = None
) -> list[QueueGroup]:
    """Unresolved exceptions of the current tenant grouped by type and severity, the most
    urgent first (critical, then by SLA due). One query (exception_queue_idx)."""
    now = now or timezone.now()
    slas = [SLA[Severity.CRITICAL], SLA[Severity.MAJOR], SLA[Severity.MINOR]]
    params: list[Any] = [*slas, *slas, now, current_tenant_id()]
    accounts = ""
    if customer_account_ids is not None:
        accounts = (
            "AND shipment_id IN (SELECT id FROM shipments_shipment "
            "WHERE customer_account_id = ANY(%s))"
        )
        params.append(sorted(customer_account_ids))
    labels = dict(ExceptionType.choices)
    with connection.cursor() as cursor:
        cursor.execute(QUEUE_SQL.format(accounts=accounts), params)
        groups = [
            QueueGroup(t, str(labels.get(t, t)), sev, n, oldest, due, overdue)
            for t, sev, n, oldest, due, overdue in cursor.fetchall()
        ]
    order: dict[str, int] = {str(k): v for k, v in SEVERITY_ORDER.items()}
    return sorted(groups, key=lambda g: (order.get(g.severity, 9), g.sla_due_at))


def open_exception_count() -> int:
    """KPI "exceptions open" of the current tenant (every unresolved exception)."""
    return ShipmentException.objects.exclude(status=ExceptionStatus.RESOLVED).count()


def open_exception_counts(tenant_ids: Sequence[int]) -> dict[int, int]:
    """The KPI per tenant, each counted in its own context (for operators' overviews)."""
    return {
        k: int(v)  # type: ignore[call-overload]
        for k, v in for_each_tenant(list(tenant_ids), lambda _t: open_exception_count()).items()
    }

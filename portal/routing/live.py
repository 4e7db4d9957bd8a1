"""Live updates of routes: after a dispatcher's re-order or a re-sequence, the driver's page,
the dispatchers' route pages and the customer pages of the route's pending stops hear of it.

The driver's group is ``tenant_group(tenant, "driver-<user id>")`` (joined by
portal.driver.consumers for that user only). The message names the route and nothing else:
the page re-reads its stops (``/driver/stops/``), so a message never carries more than the
page may show.
"""

from __future__ import annotations

from portal.routing.models import Route, RouteStop, StopStatus
from portal.tracking import live as tracking_live
from tenancy.realtime import publish_on_commit


def driver_topic(driver_id: int) -> str:
    return f"driver-{driver_id}"


def route_changed_publish(route: Route) -> None:
    """After commit: the driver's page, the tenant's ops feed (the routes pages) and the
    tracking pages of the stops still to do (their ETA window follows the route)."""
    payload = {"type": "route.changed", "route": route.pk}
    publish_on_commit(
        tenant_id=route.tenant_id, topic=driver_topic(route.driver_id), payload=payload
    )
    publish_on_commit(tenant_id=route.tenant_id, payload=payload)
    pending = RouteStop.objects.filter(route=route, status=StopStatus.PENDING).select_related(
        "shipment"
    )
    for stop in pending:
        tracking_live.publish_shipment(stop.shipment)

"""The driver page's websocket (``/ws/driver/``): a field member joins its own route's group
only (``tenant_group(tenant, "driver-<own user id>")``), so a re-order by a dispatcher reaches
that driver's page and nobody else's. Messages name the route; the page re-reads its stops."""

from __future__ import annotations

from portal.routing.live import driver_topic
from tenancy.consumers import TenantConsumer, tenant_group
from tenancy.models import FIELD


class DriverConsumer(TenantConsumer):
    allowed_roles = FIELD

    def initial_groups(self) -> list[str]:
        return [tenant_group(self.tenant_id, driver_topic(self.membership.user_id))]

    async def tenant_event(self, message: dict) -> None:
        await self.send_json(message["payload"])

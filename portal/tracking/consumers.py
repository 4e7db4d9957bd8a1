"""The customer page's websocket, joined with the page's signed access token (never an id).

It joins only the group of that one shipment of that one tenant (tenancy.consumers.
tenant_group) and sends ``tracking_view`` at the token's level: the same customer-visible
dict the page rendered, re-read after each nudge (portal.tracking.live carries no data).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.tracking import selectors, tokens
from portal.tracking.i18n import pick_locale
from portal.tracking.live import shipment_topic
from tenancy.consumers import tenant_group
from tenancy.context import tenant_context
from tenancy.models import Tenant


class TrackingConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"].get("token", "")
        self.access = tokens.access_read(token)
        self.group = ""
        if self.access is None:
            await self.close(code=4403)
            return
        snapshot = await self._snapshot()
        if snapshot is None:
            await self.close(code=4404)
            return
        self.group = tenant_group(self.access.tenant_id, shipment_topic(self.access.public_id))
        await self.accept()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: dict, **kwargs: object) -> None:
        """The page never sends anything that matters; ignore it."""

    async def tenant_event(self, message: dict) -> None:
        snapshot = await self._snapshot()
        if snapshot is None:  # the share link was revoked meanwhile
            await self.close(code=4404)
            return
        await self.send_json(snapshot)

    @database_sync_to_async
    def _snapshot(self) -> dict | None:
        from portal.tracking.views import access_shipment

        access = self.access
        assert access is not None
        tenant = Tenant.objects.filter(pk=access.tenant_id).first()
        if tenant is None:
            return None
        with tenant_context(tenant.pk):
            shipment = access_shipment(access)
            if shipment is None:
                return None
            headers = dict(self.scope.get("headers") or [])
            accept = headers.get(b"accept-language", b"").decode("latin-1")
            locale = pick_locale(tenant_locale=tenant.locale, accept=accept)
            return selectors.tracking_view(
                shipment=shipment, tenant=tenant, full=access.full, locale=locale
            )

"""The dashboard's websockets: authenticated on connect, permission checked before any join.

``/ws/ops/`` follows the tenant's ops group; ``/ws/ops/?shipment=shp_…`` one shipment's group
instead (404-alike close 4404 for another tenant's or a missing shipment). ``&since=<seq>``
on (re)connect replays what the group published after that sequence number (tenancy.replay),
then a ``{"type": "resumed", "gap": …}`` marker (gap: older messages were dropped, reload).
``/ws/customer/`` joins the groups of the caller's customer accounts (customer role only).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from shipments import selectors as shipment_selectors
from shipments.live import customer_group, shipment_group
from tenancy.consumers import TenantConsumer, tenant_group
from tenancy.context import tenant_context
from tenancy.models import OFFICE, MembershipCustomerAccount, Role
from tenancy.replay import current_seq, messages_since


class OpsConsumer(TenantConsumer):
    allowed_roles = OFFICE

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.wanted_shipment = (query.get("shipment") or [""])[0]
        raw_since = (query.get("since") or [""])[0]
        self.since = int(raw_since) if raw_since.isdigit() else None
        await super().connect()

    def initial_groups(self) -> list[str]:
        return []  # chosen in after_accept, which may need the database

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        if self.wanted_shipment:
            found = await self._shipment_exists(self.wanted_shipment)
            if not found:
                await self.close(code=4404)
                return
            group = shipment_group(self.tenant_id, self.wanted_shipment)
        else:
            group = tenant_group(self.tenant_id)
        await self.join(group)
        if self.since is not None:
            missed, gap = await messages_since(group, self.since)
            for message in missed:
                await self.send_json(message)
            await self.send_json({"type": "resumed", "gap": gap, "count": len(missed)})
        else:
            await self.send_json({"type": "hello", "seq": await current_seq(group)})

    @database_sync_to_async
    def _shipment_exists(self, public_id: str) -> bool:
        with tenant_context(self.tenant_id):
            return shipment_selectors.shipment_by_public_id(public_id=public_id) is not None

    async def tenant_event(self, message: dict) -> None:
        await self.send_json(message["payload"])


class CustomerConsumer(TenantConsumer):
    """Live updates for a customer: only the groups of the accounts it may see."""

    allowed_roles = frozenset({Role.CUSTOMER})

    def initial_groups(self) -> list[str]:
        return []

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        for account_id in await self._accounts():
            await self.join(customer_group(self.tenant_id, account_id))

    @database_sync_to_async
    def _accounts(self) -> list[int]:
        with tenant_context(self.tenant_id):
            return list(
                MembershipCustomerAccount.objects.filter(
                    membership_id=self.membership.pk
                ).values_list("customer_account_id", flat=True)
            )

    async def tenant_event(self, message: dict) -> None:
        await self.send_json(message["payload"])

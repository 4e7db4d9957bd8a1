"""Websocket base: authenticate in connect, resolve the tenant, join only permitted groups."""

from __future__ import annotations

import re

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tenancy.middleware import SESSION_TENANT_KEY
from tenancy.models import OFFICE, Role
from tenancy.selectors import membership_for_tenant, memberships_of_user

_GROUP_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def tenant_group(tenant_id: int, topic: str = "ops") -> str:
    """The one place group names are made: always tenant-prefixed, channel-layer-safe."""
    return f"tenant-{tenant_id}.{_GROUP_SAFE.sub('-', topic)}"[:99]


class TenantConsumer(AsyncJsonWebsocketConsumer):
    """Closes with 4401 (no login) or 4403 (no tenant) before joining anything."""

    allowed_roles: frozenset[str] = frozenset(Role.values)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.membership = await self._membership(user)
        if self.membership is None or self.membership.role not in self.allowed_roles:
            await self.close(code=4403)
            return
        self.tenant_id = self.membership.tenant_id
        self.groups_joined: list[str] = []
        await self.accept()
        for group in self.initial_groups():
            await self.join(group)

    @database_sync_to_async
    def _membership(self, user):
        memberships = memberships_of_user(user=user)
        session = self.scope.get("session")
        wanted = session.get(SESSION_TENANT_KEY) if session is not None else None
        return membership_for_tenant(memberships=memberships, tenant_id=wanted)

    def initial_groups(self) -> list[str]:
        return [tenant_group(self.tenant_id)]

    async def join(self, group: str) -> None:
        if not group.startswith(f"tenant-{self.tenant_id}."):
            raise PermissionError(f"group {group} is outside tenant {self.tenant_id}")
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)


class TenantEventsConsumer(TenantConsumer):
    """Ops live feed: every event published to the tenant's ops group."""

    allowed_roles = OFFICE

    async def tenant_event(self, message: dict) -> None:
        await self.send_json(message["payload"])

"""Extension points of tenancy: higher layers subscribe here instead of being imported.

E.g. milestones gives every new tenant its copies of the default templates (registered in
``milestones.apps``). Hooks run inside the caller's transaction and tenant context.
"""

from __future__ import annotations

from collections.abc import Callable

TenantCreated = Callable[[int], None]

_tenant_created: list[TenantCreated] = []


def on_tenant_created(hook: TenantCreated) -> TenantCreated:
    if hook not in _tenant_created:
        _tenant_created.append(hook)
    return hook


def tenant_created(tenant_id: int) -> None:
    for hook in list(_tenant_created):
        hook(tenant_id)

"""factory_boy factories of integrations, built through the services (as production does)."""

from __future__ import annotations

from typing import Any

import factory

from integrations.models import Integration
from integrations.services import integration_create
from tenancy.context import tenant_context
from tenancy.models import Tenant


class IntegrationFactory(factory.Factory):
    """``IntegrationFactory(tenant=t, kind="dcsa", poll_adapter="simulated", …)``."""

    class Meta:
        model = Integration

    name = factory.Sequence(lambda n: f"Carrier {n}")
    kind = "x12"

    @classmethod
    def _create(
        cls, model_class: type[Integration], *, tenant: Tenant, **kwargs: Any
    ) -> Integration:
        with tenant_context(tenant.pk):
            return integration_create(**kwargs)

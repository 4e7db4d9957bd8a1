"""Billing fixtures: the personas with default templates in both tenants."""

from __future__ import annotations

import pytest

from milestones.services import templates_install_defaults
from tenancy.context import tenant_context


@pytest.fixture
def acme(personas):
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    return personas

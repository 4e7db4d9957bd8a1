"""Fixtures shared by the ingestion tests."""

from __future__ import annotations

import pytest

from config.celery import app
from milestones.services import templates_install_defaults
from tenancy.context import tenant_context
from tests.shipments.places_fixtures import place_registry  # noqa: F401  (fixture)


@pytest.fixture
def eager_celery():
    """Run tasks in the test process. Not autouse: the crash test needs a real worker."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def acme(personas):
    """The personas, both tenants with their default milestone templates installed."""
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    return personas

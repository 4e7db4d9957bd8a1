"""The data step of migration 0002 marks existing delivery attempts and holds repeatable, in
each tenant's context (row-level security is forced on the definitions table)."""

from __future__ import annotations

import importlib
import types

import pytest
from django.apps import apps
from django.db import connection

from milestones.models import MilestoneDefinition
from tenancy.context import tenant_context
from tenancy.services import tenant_create

pytestmark = pytest.mark.django_db

migration = importlib.import_module("milestones.migrations.0002_definition_repeatable")


def _repeatable(tenant) -> set[str]:
    with tenant_context(tenant.pk):
        return set(
            MilestoneDefinition.objects.filter(repeatable=True).values_list("code", flat=True)
        )


def test_existing_definitions_of_attempts_and_holds_become_repeatable():
    tenants = [tenant_create(slug=f"mig-{n}", name=f"Migration {n}") for n in range(2)]
    for tenant in tenants:
        with tenant_context(tenant.pk):  # what definitions stored before the field looked like
            MilestoneDefinition.objects.update(repeatable=False)
        assert _repeatable(tenant) == set()
    migration.mark_repeatable(apps, types.SimpleNamespace(connection=connection))
    for tenant in tenants:
        assert _repeatable(tenant) == {"out_for_delivery", "failed_delivery", "customs_hold"}
        with tenant_context(tenant.pk):
            departed = MilestoneDefinition.objects.filter(code="departed").first()
            assert departed is not None and not departed.repeatable

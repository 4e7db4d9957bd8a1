"""Fixtures of the workflow tests: rules saved through the service, pending firings run as
the Celery task would after commit, and the notification enqueues recorded."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.workflow import services
from integrations.workflow.models import Firing, Rule, Task
from tenancy.context import tenant_context
from tests.integrations.notifications.conftest import enqueued  # noqa: F401  (fixture)


def rule(tenant, **values: Any) -> Rule:
    with tenant_context(tenant.pk):
        return services.rule_save(name=values.pop("name", "r"), **values)


def run_firings(tenant) -> list[str]:
    """Run every pending firing (what workflow.run_firings does after commit)."""
    with tenant_context(tenant.pk):
        ids = list(Firing.objects.filter(status="pending").values_list("pk", flat=True))
        return [services.firing_run(firing_id=i) for i in ids]


def firings(tenant, **filters: Any) -> list[Firing]:
    with tenant_context(tenant.pk):
        return list(Firing.objects.filter(**filters).order_by("id"))


def tasks(tenant, **filters: Any) -> list[Task]:
    with tenant_context(tenant.pk):
        return list(Task.objects.filter(**filters).order_by("id"))


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Firings are run by the tests (run_firings), not sent to a broker after commit."""
    monkeypatch.setattr(services, "_runner", None)

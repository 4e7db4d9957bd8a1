"""Celery tasks for a tenant run inside that tenant's context (RLS included)."""

from __future__ import annotations

import pytest
from django.db import connection

from config.celery import app
from tenancy.models import CustomerAccount
from tenancy.tasks import TenantTask
from tests.tenancy.factories import CustomerAccountFactory, TenantFactory

pytestmark = pytest.mark.django_db


@app.task(base=TenantTask, name="tests.visible_accounts")
def visible_accounts(*, tenant_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT code FROM tenancy_customeraccount ORDER BY code")
        raw = [row[0] for row in cursor.fetchall()]
    orm = sorted(CustomerAccount.objects.values_list("code", flat=True))
    return {"raw": raw, "orm": orm}


def test_tenant_task_sees_only_its_tenant():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=tenant_a, code="A1")
    CustomerAccountFactory(tenant=tenant_b, code="B1")
    assert visible_accounts.apply(kwargs={"tenant_id": tenant_a.pk}).get() == {
        "raw": ["A1"],
        "orm": ["A1"],
    }
    assert visible_accounts.apply(kwargs={"tenant_id": tenant_b.pk}).get()["raw"] == ["B1"]


def test_tenant_task_without_tenant_fails_loudly():
    result = visible_accounts.apply(kwargs={})
    assert result.failed()
    assert "tenant_id" in str(result.result)

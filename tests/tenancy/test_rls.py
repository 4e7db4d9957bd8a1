"""PostgreSQL enforces tenancy on its own: proven with raw SQL as the application role."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from tenancy.context import TenantContextMissing, set_db_context, tenant_context
from tenancy.models import CustomerAccount, TenantOwned
from tenancy.rls import POLICY_NAME, tenant_owned_models
from tests.tenancy.factories import CustomerAccountFactory, TenantFactory

pytestmark = pytest.mark.django_db


def _tables_with_tenant_column() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
        )
        return {row[0] for row in cursor.fetchall()}


def _rls_state() -> dict[str, tuple[bool, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        return {name: (enabled, forced) for name, enabled, forced in cursor.fetchall()}


def _policies() -> dict[str, tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
            "AND policyname = %s",
            [POLICY_NAME],
        )
        return {table: (qual, check) for table, qual, check in cursor.fetchall()}


def test_every_tenant_owned_table_has_forced_rls_and_a_tenant_policy():
    tables = _tables_with_tenant_column()
    assert {m._meta.db_table for m in tenant_owned_models()} <= tables
    assert "tenancy_membership" in tables
    state, policies = _rls_state(), _policies()
    missing = sorted(t for t in tables if state.get(t) != (True, True) or t not in policies)
    assert missing == [], f"tables without RLS+FORCE+policy: {missing}"
    signed = "tenant_id = ( SELECT milepost_tenant_id() AS milepost_tenant_id)"
    for table in tables:
        qual, check = policies[table]
        # The signed, once-per-statement check (tests/tenancy/test_signed_context.py), and
        # never the bare setting, which any SQL can set.
        assert signed in qual and check == f"({signed})", table
        assert "current_setting" not in qual + check, table


def test_tenant_owned_models_have_no_hidden_many_to_many_tables():
    # An auto-created M2M table has no tenant_id, so RLS could not protect it.
    for model in apps.get_models():
        if issubclass(model, TenantOwned):
            for m2m in model._meta.many_to_many:
                assert not m2m.remote_field.through._meta.auto_created, (
                    f"{model.__name__}.{m2m.name} needs an explicit tenant-owned through model"
                )


def test_app_role_cannot_bypass_rls():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tableowner = current_user"
        )
        assert cursor.fetchone()[0] == 0


def _count_accounts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT code FROM tenancy_customeraccount ORDER BY code")
        return [row[0] for row in cursor.fetchall()]


def test_raw_sql_sees_nothing_without_context_and_only_own_rows_with_it():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=tenant_a, code="A1")
    CustomerAccountFactory(tenant=tenant_a, code="A2")
    CustomerAccountFactory(tenant=tenant_b, code="B1")

    with transaction.atomic():
        set_db_context(None)
        assert _count_accounts() == []
    with transaction.atomic():
        set_db_context(tenant_a.pk)
        assert _count_accounts() == ["A1", "A2"]
    with transaction.atomic():
        set_db_context(tenant_b.pk)
        assert _count_accounts() == ["B1"]


def test_raw_sql_cannot_write_a_row_for_another_tenant():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=tenant_b, code="B1")
    with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
        set_db_context(tenant_a.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenancy_customeraccount (tenant_id, code, name, contact_email,"
                " created_at) VALUES (%s, 'X', 'X', '', now())",
                [tenant_b.pk],
            )
    with transaction.atomic():
        set_db_context(tenant_a.pk)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tenancy_customeraccount SET name = 'stolen'")
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM tenancy_customeraccount")
            assert cursor.rowcount == 0
    with tenant_context(tenant_b.pk):
        assert CustomerAccount.objects.get().name != "stolen"


def test_orm_refuses_tenant_queries_without_context():
    with pytest.raises(TenantContextMissing):
        list(CustomerAccount.objects.all())


def test_orm_refuses_to_save_a_row_into_another_tenant():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    with tenant_context(tenant_a.pk), pytest.raises(PermissionError):
        CustomerAccount(tenant=tenant_b, code="X", name="X").save()


def test_nested_context_restores_the_outer_tenant():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=tenant_a, code="A1")
    CustomerAccountFactory(tenant=tenant_b, code="B1")
    with tenant_context(tenant_a.pk):
        with tenant_context(tenant_b.pk):
            assert _count_accounts() == ["B1"]
        assert _count_accounts() == ["A1"]
        assert list(CustomerAccount.objects.values_list("code", flat=True)) == ["A1"]

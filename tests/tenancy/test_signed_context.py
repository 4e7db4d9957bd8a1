"""The RLS context cannot be forged from SQL: raw SQL as the app role with a hand-made context.

Each probe is what an attacker with SQL injection could run as the application role: set the
context settings to anything (the bare id, a made-up or wrongly keyed signature, a signature
copied from another transaction or from the other domain) and read. Every one sees 0 rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.utils import ProgrammingError
from django.test import override_settings

from tenancy.context import (
    TenantContextRejected,
    current_tenant_id_or_none,
    set_db_context,
    sign,
    tenant_context,
    transaction_binding,
    user_context,
)
from tenancy.models import CustomerAccount, Membership
from tenancy.rls import (
    BINDING_FUNCTION,
    KEY_TABLE,
    PRIVATE_SCHEMA,
    TENANT_FUNCTION,
    USER_FUNCTION,
    apply_rls,
)
from tests.tenancy.factories import (
    CustomerAccountFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(db):
    a, b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=a, code="A1")
    CustomerAccountFactory(tenant=b, code="B1")
    CustomerAccountFactory(tenant=b, code="B2")
    return a, b


def _raw(sql: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _codes() -> list[str]:
    return [code for (code,) in _raw("SELECT code FROM tenancy_customeraccount ORDER BY code")]


def _forge(tenant_token: str = "", user_token: str = "") -> None:
    """What injected SQL can do: set the settings to anything, in its own transaction."""
    _raw(
        "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
        [settings.TENANT_DB_SETTING, tenant_token, settings.USER_DB_SETTING, user_token],
    )


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_the_signed_context_shows_the_tenant_and_only_it(two_tenants):
    _, b = two_tenants
    with transaction.atomic():
        set_db_context(b.pk)
        assert _codes() == ["B1", "B2"]
        assert _raw(f"SELECT {TENANT_FUNCTION}()") == [(b.pk,)]


def test_hand_made_tenant_contexts_see_nothing(two_tenants):
    a, b = two_tenants
    with transaction.atomic():
        binding = transaction_binding()
        genuine = sign("tenant", a.pk, binding)
        forgeries = [
            str(b.pk),  # the old, unsigned context
            f"{b.pk}:{'0' * 64}",
            f"{b.pk}:{genuine.split(':')[1]}",  # A's signature on B's id
            f"{b.pk}:{_mac('guessed-key', f'tenant:{b.pk}:{binding}')}",  # another key
            f"{b.pk}:{_mac(settings.RLS_CONTEXT_KEY, f'tenant:{b.pk}:1:1')}",  # other binding
            f"{b.pk}:{_mac(settings.RLS_CONTEXT_KEY, f'user:{b.pk}:{binding}')}",  # user domain
            f"{b.pk}",
            f"{b.pk}:",
            f"0{b.pk}:{genuine.split(':')[1]}",
            f"{b.pk}' OR true --:x",
            "-1:x",
            ":",
        ]
        for token in forgeries:
            _forge(token)
            assert _codes() == [], token
            assert _raw(f"SELECT {TENANT_FUNCTION}()") == [(None,)], token
        _forge(genuine)  # control: the same probe with the app's own token sees A
        assert _codes() == ["A1"]


def test_forged_context_cannot_write_either(two_tenants):
    _, b = two_tenants
    with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
        _forge(str(b.pk))
        _raw(
            "INSERT INTO tenancy_customeraccount (tenant_id, code, name, contact_email,"
            " created_at) VALUES (%s, 'X', 'X', '', now())",
            [b.pk],
        )
    with transaction.atomic():
        _forge(str(b.pk))
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tenancy_customeraccount SET name = 'stolen'")
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM tenancy_customeraccount")
            assert cursor.rowcount == 0


def test_a_forged_user_context_reads_no_memberships(db):
    tenant = TenantFactory()
    victim = UserFactory()
    MembershipFactory(tenant=tenant, user=victim)
    with transaction.atomic():
        _forge(user_token=str(victim.pk))
        assert _raw("SELECT count(*) FROM tenancy_membership") == [(0,)]
        _forge(user_token=sign("tenant", victim.pk, transaction_binding()))  # wrong domain
        assert _raw("SELECT count(*) FROM tenancy_membership") == [(0,)]
    with user_context(victim.pk):
        assert _raw("SELECT count(*) FROM tenancy_membership") == [(1,)]
        assert list(Membership._base_manager.values_list("user_id", flat=True)) == [victim.pk]


@pytest.mark.django_db(transaction=True)
def test_a_signature_copied_from_another_transaction_sees_nothing():
    a = TenantFactory()
    CustomerAccountFactory(tenant=a, code="A1")
    try:
        with tenant_context(a.pk):
            (copied,) = _raw("SELECT current_setting(%s)", [settings.TENANT_DB_SETTING])[0]
            assert _codes() == ["A1"]
        # Same connection (same backend), next transaction: the copy no longer verifies.
        with transaction.atomic():
            _forge(copied)
            assert _codes() == []
        # Another connection, even inside a transaction open at the same time: nothing either.
        with tenant_context(a.pk):
            (live,) = _raw("SELECT current_setting(%s)", [settings.TENANT_DB_SETTING])[0]
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("BEGIN")
                    cursor.execute(
                        "SELECT set_config(%s, %s, true)", [settings.TENANT_DB_SETTING, live]
                    )
                    cursor.execute("SELECT count(*) FROM tenancy_customeraccount")
                    assert cursor.fetchone() == (0,)
                    cursor.execute("ROLLBACK")
            finally:
                other.close()
    finally:
        with tenant_context(a.pk):
            CustomerAccount.objects.all().delete()


def test_the_app_role_cannot_read_the_key_or_replace_the_verifier():
    probes = [
        f"SELECT key FROM {KEY_TABLE}",
        f"SELECT count(*) FROM {KEY_TABLE}",
        f"CREATE TABLE {PRIVATE_SCHEMA}.mine (id int)",
        f"CREATE OR REPLACE FUNCTION public.{TENANT_FUNCTION}() RETURNS bigint "
        "LANGUAGE sql AS 'SELECT 1::bigint'",
        f"ALTER FUNCTION public.{TENANT_FUNCTION}() SECURITY INVOKER",
        f"CREATE FUNCTION public.{TENANT_FUNCTION}(x int) RETURNS bigint "
        "LANGUAGE sql AS 'SELECT 1::bigint'",
    ]
    for probe in probes:
        with pytest.raises(DatabaseError), transaction.atomic():
            _raw(probe)
    # By oid: the app role may not even resolve the table's name.
    assert _raw(
        "SELECT has_schema_privilege(current_user, n.oid, 'USAGE'), "
        "has_table_privilege(current_user, c.oid, 'SELECT, INSERT, UPDATE, DELETE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        [PRIVATE_SCHEMA, KEY_TABLE.split(".")[1]],
    ) == [(False, False)]


def test_the_verifiers_are_security_definer_functions_of_the_owner_with_a_fixed_path():
    rows = _raw(
        "SELECT p.proname, p.prosecdef, pg_get_userbyid(p.proowner), p.proconfig, "
        "p.provolatile, p.proparallel FROM pg_proc p "
        "WHERE p.pronamespace = 'public'::regnamespace AND p.proname = ANY(%s) ORDER BY 1",
        [[TENANT_FUNCTION, USER_FUNCTION, BINDING_FUNCTION]],
    )
    owner = settings.DATABASES["owner"]["USER"]
    assert [r[0] for r in rows] == sorted([BINDING_FUNCTION, TENANT_FUNCTION, USER_FUNCTION])
    for name, definer, proowner, config, volatility, parallel in rows:
        assert proowner == owner
        assert (volatility, parallel) == ("s", "r"), name  # stable; leader only (own pid)
        if name != BINDING_FUNCTION:
            assert definer is True
            assert config == ["search_path=pg_catalog, pg_temp"]


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_the_policy_is_checked_once_per_statement_not_per_row(two_tenants):
    _, b = two_tenants
    for n in range(30):
        CustomerAccountFactory(tenant=b, code=f"B-{n:02d}")
    with tenant_context(b.pk):
        ((plan,),) = _raw(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM tenancy_customeraccount WHERE name <> ''"
        )
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    initplans = [n for n in nodes if n.get("Subplan Name", "").startswith("InitPlan")]
    assert len(initplans) == 1
    assert initplans[0]["Actual Loops"] == 1  # evaluated once...
    assert plan[0]["Plan"]["Actual Rows"] == 32  # ...for a statement over many rows
    assert not [n for n in nodes if n.get("Subplan Name", "").startswith("SubPlan")]


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_the_policy_survives_a_parallel_plan():
    a, b = TenantFactory(), TenantFactory()
    CustomerAccountFactory(tenant=a, code="A1")
    with tenant_context(b.pk):
        CustomerAccount.objects.bulk_create(
            [CustomerAccount(tenant=b, code=f"P{n}", name="x" * 200) for n in range(3000)]
        )
    # Committed and analysed (by the owner), so the plan does not depend on autovacuum's timing.
    with connections["owner"].cursor() as cursor:
        cursor.execute("ANALYZE tenancy_customeraccount")
    try:
        with tenant_context(b.pk):
            for setting in (
                "parallel_setup_cost = 0",
                "parallel_tuple_cost = 0",
                "min_parallel_table_scan_size = 0",
                "max_parallel_workers_per_gather = 2",
                "enable_indexscan = off",
                "enable_bitmapscan = off",
            ):
                _raw(f"SET LOCAL {setting}")
            plan = "\n".join(r[0] for r in _raw("EXPLAIN SELECT code FROM tenancy_customeraccount"))
            assert "Gather" in plan, plan  # workers scan; the leader verified the context once
            assert _raw("SELECT count(*) FROM tenancy_customeraccount") == [(3000,)]
            assert _raw("SELECT count(*) FROM tenancy_customeraccount WHERE code = 'A1'") == [(0,)]
    finally:
        for tenant in (a, b):
            with tenant_context(tenant.pk):
                CustomerAccount.objects.all().delete()


def test_a_database_with_another_key_refuses_the_context_loudly(two_tenants):
    a, _ = two_tenants
    with (
        override_settings(RLS_CONTEXT_KEY="not-the-key-migrate-wrote"),
        pytest.raises(TenantContextRejected, match="migrate"),
        tenant_context(a.pk),
    ):
        pass
    assert current_tenant_id_or_none() is None


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_migrate_writes_the_configured_key():
    a = TenantFactory()
    CustomerAccountFactory(tenant=a, code="A1")
    try:
        with override_settings(RLS_CONTEXT_KEY="a-rotated-key"):
            apply_rls("owner")
            with tenant_context(a.pk):
                assert _codes() == ["A1"]
        with pytest.raises(TenantContextRejected), tenant_context(a.pk):
            pass
    finally:
        apply_rls("owner")
    with tenant_context(a.pk):
        assert _codes() == ["A1"]
        CustomerAccount.objects.all().delete()


def test_leaving_a_nested_context_leaves_no_rights_in_the_transaction(two_tenants):
    a, b = two_tenants
    with transaction.atomic():
        with tenant_context(a.pk):
            assert _codes() == ["A1"]
        assert _codes() == []
        assert _raw(f"SELECT {TENANT_FUNCTION}(), {USER_FUNCTION}()") == [(None, None)]
    with tenant_context(a.pk, user_id=7):
        with tenant_context(b.pk):
            assert _codes() == ["B1", "B2"]
        assert _raw(f"SELECT {TENANT_FUNCTION}(), {USER_FUNCTION}()") == [(a.pk, 7)]


@pytest.mark.django_db(transaction=True)
def test_a_context_needs_a_transaction():
    with pytest.raises(transaction.TransactionManagementError):
        set_db_context(1)


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_a_data_migration_needs_the_signed_context_on_the_owner_connection():
    """What a RunPython step does (migrate runs as the owner; RLS is forced for it too)."""
    a = TenantFactory()
    CustomerAccountFactory(tenant=a, code="A1")
    owner = connections["owner"]

    def rename() -> int:
        with owner.cursor() as cursor:
            cursor.execute("UPDATE tenancy_customeraccount SET name = 'migrated'")
            return cursor.rowcount

    with transaction.atomic(using="owner"):
        with owner.cursor() as cursor:  # the old way: a bare setting is no context any more
            cursor.execute(
                "SELECT set_config(%s, %s, true)", [settings.TENANT_DB_SETTING, str(a.pk)]
            )
        assert rename() == 0
    with tenant_context(a.pk, using="owner"):
        assert rename() == 1
    with tenant_context(a.pk):
        assert CustomerAccount.objects.get().name == "migrated"


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_the_rls_benchmark_measures_the_signed_policy_as_an_initplan():
    from tenancy.benchmarks import bench_rls

    figures = bench_rls(TenantFactory(), rows=2_000, repeats=1)
    assert figures["initplan"] is True
    assert figures["visible_rows"] == 1_000
    assert figures["signed_ms"] > 0 and figures["floor_ms"] > 0

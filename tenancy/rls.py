"""Row-level security for every tenant-owned table, applied after each migrate.

Nobody has to remember a policy for a new model: any concrete subclass of TenantOwned gets
RLS enabled and forced plus the tenant policy, and the app role gets its grants. The test
``tests/tenancy/test_rls.py`` fails if any table with a tenant_id column lacks them.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import connections

POLICY_NAME = "tenant_isolation"


def tenant_condition() -> str:
    return f"tenant_id = NULLIF(current_setting('{settings.TENANT_DB_SETTING}', true), '')::bigint"


def tenant_owned_models() -> list[type]:
    from tenancy.models import TenantOwned

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and not model._meta.proxy and model._meta.managed
    ]


def policy_statements(model: type, quote) -> list[str]:
    table = quote(model._meta.db_table)
    check = tenant_condition()
    visible = f"({check}) OR ({model.rls_extra_condition})" if model.rls_extra_condition else check
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"CREATE POLICY {POLICY_NAME} ON {table} USING ({visible}) WITH CHECK ({check})",
        # No statistics on tenant_id: the planner then takes every tenant for 1/200 of a table.
        # With them, a tenant that is new since the last ANALYZE looks empty (it is not among
        # the most common values), and joins on its rows get plans quadratic in its size.
        f"ALTER TABLE {table} ALTER COLUMN tenant_id SET STATISTICS 0",
    ]


def grant_statements(app_role: str, database: str, quote) -> list[str]:
    role, database = quote(app_role), quote(database)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Set-based writes stage their rows in session temp tables (shipments.bulk).
        f"GRANT TEMPORARY ON DATABASE {database} TO {role}",
    ]


def apply_rls(using: str = "owner") -> None:
    connection = connections[using]
    quote = connection.ops.quote_name
    statements = [s for model in tenant_owned_models() for s in policy_statements(model, quote)]
    app_role = settings.DATABASES["default"]["USER"]
    if app_role and app_role != connection.settings_dict["USER"]:
        statements += grant_statements(app_role, connection.settings_dict["NAME"], quote)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def on_post_migrate(sender, using: str = "owner", **kwargs) -> None:
    # ``flush`` (used between transactional tests) also sends post_migrate, on the app role's
    # connection, which may not alter tables; policies survive a flush anyway.
    if using == "owner":
        apply_rls(using)

"""Row-level security for every tenant-owned table, applied after each migrate.

Nobody has to remember a policy for a new model: any concrete subclass of TenantOwned gets
RLS enabled and forced plus the tenant policy, and the app role gets its grants. The test
``tests/tenancy/test_rls.py`` fails if any table with a tenant_id column lacks them.

The policies do not trust a plain setting (any SQL may call ``set_config``): they compare
with ``milepost_tenant_id()``, a SECURITY DEFINER function owned by the owner role that
returns the tenant only when the setting carries a valid HMAC for this transaction (see
tenancy.context). The key lives in a schema the app role has no privilege on; it is written
from settings.RLS_CONTEXT_KEY on every migrate, so it follows the configuration.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Model

from tenancy.context import SCOPE_DOMAIN, TENANT_DOMAIN, USER_DOMAIN

POLICY_NAME = "tenant_isolation"
PRIVATE_SCHEMA = "milepost_private"
KEY_TABLE = f"{PRIVATE_SCHEMA}.context_key"
# The verified context, callable by the app role (reading your own context is harmless).
TENANT_FUNCTION = "milepost_tenant_id"
USER_FUNCTION = "milepost_user_id"
SCOPE_FUNCTION = "milepost_scope"
BINDING_FUNCTION = "milepost_context_binding"
CLEAR_SESSIONS_FUNCTION = "milepost_clear_expired_sessions"
GLOBAL_POLICY_NAME = "accounts_isolation"


def tenant_condition() -> str:
    # A scalar subquery is an initplan: the signature is checked once per statement, not per row.
    return f"tenant_id = (SELECT {TENANT_FUNCTION}())"


def user_condition(column: str = "user_id") -> str:
    return f"{column} = (SELECT {USER_FUNCTION}())"


def tenant_owned_models() -> list[type[Model]]:
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


def _verifier(
    name: str,
    setting: str,
    domain: str,
    hmac_function: str,
    returns: str = "bigint",
    pattern: str = "^[0-9]{1,18}$",
) -> str:
    """SQL of a function returning the signed value in ``setting`` if its HMAC is valid, else
    NULL.

    Token format (tenancy.context.sign): ``<value>:<hex HMAC-SHA256 of "domain:value:binding">``.
    SECURITY DEFINER with a fixed search_path: it runs as the owner, who alone can read the
    key, and nothing the app role creates (temp objects) can shadow what it calls.
    """
    return f"""
CREATE OR REPLACE FUNCTION public.{name}() RETURNS {returns}
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    token text := current_setting('{setting}', true);
    value text;
    secret bytea;
BEGIN
    IF token IS NULL OR token = '' THEN
        RETURN NULL;
    END IF;
    value := split_part(token, ':', 1);
    IF value !~ '{pattern}' THEN
        RETURN NULL;
    END IF;
    SELECT k.key INTO secret FROM {KEY_TABLE} k WHERE k.id = 1;
    IF split_part(token, ':', 2) = encode({hmac_function}(
        convert_to('{domain}:' || value || ':' || public.{BINDING_FUNCTION}(), 'UTF8'),
        secret, 'sha256'), 'hex')
    THEN
        RETURN value::{returns};
    END IF;
    RETURN NULL;
END
$fn$"""  # noqa: S608 — constant names


def context_statements(app_role: str | None, quote, hmac_function: str) -> list[str]:
    """The private key table, the binding and verifying functions and who may call them."""
    statements = [
        # What a signature is bound to: this backend and this transaction's start. Unique per
        # transaction, and needs no transaction id (read-only requests do not consume one).
        # PARALLEL RESTRICTED: a parallel worker has its own pid; the leader evaluates it.
        # No SET clause, so it is inlined; it names only pg_catalog objects (EXTRACT's syntax
        # is pg_catalog.extract), and pg_catalog is searched first unless listed otherwise.
        f"""CREATE OR REPLACE FUNCTION public.{BINDING_FUNCTION}() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED
AS $fn$ SELECT pg_catalog.pg_backend_pid()::text || ':' || (extract(
    epoch FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint::text $fn$""",  # noqa: S608
        _verifier(TENANT_FUNCTION, settings.TENANT_DB_SETTING, TENANT_DOMAIN, hmac_function),
        _verifier(USER_FUNCTION, settings.USER_DB_SETTING, USER_DOMAIN, hmac_function),
        _verifier(
            SCOPE_FUNCTION,
            settings.SCOPE_DB_SETTING,
            SCOPE_DOMAIN,
            hmac_function,
            returns="text",
            pattern="^[a-z]{1,16}$",
        ),
    ]
    for name in (BINDING_FUNCTION, TENANT_FUNCTION, USER_FUNCTION, SCOPE_FUNCTION):
        statements.append(f"REVOKE ALL ON FUNCTION public.{name}() FROM PUBLIC")
        if app_role:
            statements.append(f"GRANT EXECUTE ON FUNCTION public.{name}() TO {quote(app_role)}")
    return statements


def ensure_private_schema(cursor) -> str:
    """Create the key's schema, table and pgcrypto if needed; return the hmac() to call."""
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {PRIVATE_SCHEMA}")
    cursor.execute(f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM PUBLIC")
    # pgcrypto is a trusted extension (PostgreSQL >= 13): the database owner may create it.
    cursor.execute(f"CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA {PRIVATE_SCHEMA}")
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} "
        "(id smallint PRIMARY KEY CHECK (id = 1), key bytea NOT NULL, "
        "updated_at timestamptz NOT NULL DEFAULT now())"
    )
    cursor.execute(f"REVOKE ALL ON {KEY_TABLE} FROM PUBLIC")
    # Installed elsewhere before (by hand, or by another app)? Call it where it is.
    cursor.execute(
        "SELECT quote_ident(n.nspname) FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'"
    )
    return f"{cursor.fetchone()[0]}.hmac"


def write_key(cursor) -> None:
    cursor.execute(
        f"INSERT INTO {KEY_TABLE} (id, key) VALUES (1, %s) "  # noqa: S608 — constant name
        "ON CONFLICT (id) DO UPDATE SET key = EXCLUDED.key, updated_at = now() "
        f"WHERE {KEY_TABLE}.key IS DISTINCT FROM EXCLUDED.key",
        [settings.RLS_CONTEXT_KEY.encode()],
    )


# --- Global tables -------------------------------------------------------------------------
# Not tenant-owned, but holding one user's secrets: readable and writable only for the signed
# current user, or in the signed auth scope (allauth's pages, the operators' admin).
AUTH_CONDITION = f"(SELECT {SCOPE_FUNCTION}()) = 'auth'"
USER_OWNED = [("account", "EmailAddress"), ("mfa", "Authenticator"), ("admin", "LogEntry")]
SCOPE_ONLY = [("account", "EmailConfirmation")]
# Columns of a user that only the auth scope may change (credentials, identity, privileges).
GUARDED_USER_FIELDS = ["id", "password", "email", "is_superuser", "is_staff", "is_active"]
GUARD_TRIGGER = "milepost_guard"


def _model(app_label: str, name: str):
    try:
        return apps.get_model(app_label, name)
    except LookupError:  # that app is not installed
        return None


def _rls_statements(table: str, condition: str, force: bool = True) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} {'' if force else 'NO '}FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {GLOBAL_POLICY_NAME} ON {table}",
        f"CREATE POLICY {GLOBAL_POLICY_NAME} ON {table} USING ({condition}) "
        f"WITH CHECK ({condition})",
    ]


def accounts_statements(app_role: str | None, quote) -> list[str]:
    """RLS on the accounts tables, the session cleanup and the write guards on the registries."""
    statements = []
    for label, name in USER_OWNED:
        if model := _model(label, name):
            column = quote(model._meta.get_field("user").column)
            condition = f"{column} = (SELECT {USER_FUNCTION}()) OR {AUTH_CONDITION}"
            statements += _rls_statements(quote(model._meta.db_table), condition)
    for label, name in SCOPE_ONLY:
        if model := _model(label, name):
            statements += _rls_statements(quote(model._meta.db_table), AUTH_CONDITION)
    if session := _model("sessions", "Session"):
        # A session row shows only to whoever names its key (tenancy.sessions): the key is the
        # credential, so the setting needs no signature. Not forced, so that the cleanup below
        # (owned by the owner) can delete expired rows nobody can see.
        table = quote(session._meta.db_table)
        condition = f"session_key = current_setting('{settings.SESSION_DB_SETTING}', true)"
        statements += _rls_statements(table, condition, force=False)
        statements += [
            f"""CREATE OR REPLACE FUNCTION public.{CLEAR_SESSIONS_FUNCTION}() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$ WITH gone AS (DELETE FROM public.{table} WHERE expire_date < now() RETURNING 1)
SELECT count(*) FROM gone $fn$""",  # noqa: S608 — constant names
            f"REVOKE ALL ON FUNCTION public.{CLEAR_SESSIONS_FUNCTION}() FROM PUBLIC",
        ]
        if app_role:
            statements.append(
                f"GRANT EXECUTE ON FUNCTION public.{CLEAR_SESSIONS_FUNCTION}() TO {quote(app_role)}"
            )
    statements += _guard_statements(quote)
    return statements


def _guard_statements(quote) -> list[str]:
    """Triggers: raw SQL may not create users or tenants, nor change credentials or privileges.

    The models write these rows inside the auth scope (tenancy.models.ScopedWrites); without
    it an UPDATE may change only harmless columns (last_login, names), and a tenant context may
    update or delete its own tenant's row. RLS cannot express "which columns", a trigger can.
    """
    from tenancy.models import Tenant, User

    user_table, tenant_table = quote(User._meta.db_table), quote(Tenant._meta.db_table)
    columns = [quote(User._meta.get_field(name).column) for name in GUARDED_USER_FIELDS]  # type: ignore[union-attr]
    new = ", ".join(f"NEW.{c}" for c in columns)
    old = ", ".join(f"OLD.{c}" for c in columns)
    refuse = (
        "RAISE EXCEPTION 'milepost: % on % needs the signed auth scope', TG_OP, TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege';"
    )
    user_rule = f"""IF TG_OP = 'UPDATE' AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN
        RETURN NEW;
    END IF;"""
    tenant_rule = f"""IF TG_OP = 'DELETE' AND OLD.id = public.{TENANT_FUNCTION}() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.id = public.{TENANT_FUNCTION}() AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;"""
    return [
        _guard_function("guard_user", user_rule, refuse),
        _guard_function("guard_tenant", tenant_rule, refuse),
        f"CREATE OR REPLACE TRIGGER {GUARD_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE "
        f"ON {user_table} FOR EACH ROW EXECUTE FUNCTION {PRIVATE_SCHEMA}.guard_user()",
        f"CREATE OR REPLACE TRIGGER {GUARD_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE "
        f"ON {tenant_table} FOR EACH ROW EXECUTE FUNCTION {PRIVATE_SCHEMA}.guard_tenant()",
    ]


def _guard_function(name: str, rule: str, refuse: str) -> str:
    """A trigger function: anything goes in the auth scope, else ``rule`` or the refusal."""
    return f"""CREATE OR REPLACE FUNCTION {PRIVATE_SCHEMA}.{name}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF public.{SCOPE_FUNCTION}() IS NOT DISTINCT FROM 'auth' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    {rule}
    {refuse}
END
$fn$"""


def grant_statements(app_role: str, database: str, quote) -> list[str]:
    role, database = quote(app_role), quote(database)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Set-based writes stage their rows in session temp tables (shipments.bulk).
        f"GRANT TEMPORARY ON DATABASE {database} TO {role}",
        # Never the key: not the schema, not the table (REVOKE repairs a hand-made grant).
        f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM {role}",
        f"REVOKE ALL ON {KEY_TABLE} FROM {role}",
    ]


def app_role_of(connection) -> str | None:
    app_role = settings.DATABASES["default"]["USER"]
    return app_role if app_role and app_role != connection.settings_dict["USER"] else None


def apply_context(using: str = "owner") -> None:
    """The key and the signed-context functions, before the migrations run as well as after.

    So that a data migration acting in a tenant's context (``tenant_context(tenant_id,
    using=schema_editor.connection.alias)``) is verified with the key of this configuration,
    even on the first migrate after the key changed.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        hmac_function = ensure_private_schema(cursor)
        write_key(cursor)
        for statement in context_statements(
            app_role_of(connection), connection.ops.quote_name, hmac_function
        ):
            cursor.execute(statement)


def apply_policies_to_existing(using: str = "owner") -> None:
    """Before the migrations of an upgrade: the tables that exist already get today's
    policies, so that a data migration's signed tenant context is understood by them (the
    policies of an older version compared a bare setting; post_migrate redoes everything)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    existing = set(connection.introspection.table_names())
    statements = [
        s
        for model in tenant_owned_models()
        if model._meta.db_table in existing
        for s in policy_statements(model, quote)
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def apply_rls(using: str = "owner") -> None:
    connection = connections[using]
    quote = connection.ops.quote_name
    app_role = app_role_of(connection)
    apply_context(using)
    statements = [s for model in tenant_owned_models() for s in policy_statements(model, quote)]
    statements += accounts_statements(app_role, quote)
    if app_role:
        statements += grant_statements(app_role, connection.settings_dict["NAME"], quote)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def on_post_migrate(sender, using: str = "owner", **kwargs) -> None:
    # ``flush`` (used between transactional tests) also sends post_migrate, on the app role's
    # connection, which may not alter tables; policies survive a flush anyway.
    if using == "owner":
        apply_rls(using)

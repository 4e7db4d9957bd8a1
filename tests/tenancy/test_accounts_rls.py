"""The global accounts tables against raw SQL as the app role (what an injection could run).

Sessions show only to whoever names their key; e-mail addresses, MFA authenticators and the
admin log only to their own (signed) user or in the signed auth scope; users' credentials and
privileges and the tenant registry cannot be written by raw SQL without that scope. The auth
flows (login by e-mail, sessions, MFA, password reset) keep working through them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from tenancy.context import auth_scope, sign, tenant_context, transaction_binding, user_context
from tenancy.middleware import _needs_auth_scope
from tenancy.models import Tenant, User
from tenancy.sessions import SessionStore
from tests.tenancy.factories import TEST_PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _raw(sql: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _count(table: str) -> int:
    return _raw(f"SELECT count(*) FROM {table}")[0][0]


def _forge_scope(token: str) -> None:
    _raw("SELECT set_config(%s, %s, true)", [settings.SCOPE_DB_SETTING, token])


@pytest.fixture
def accounts(personas):
    """E-mail addresses, authenticators and admin log rows for the member and the outsider."""
    member, outsider = personas.member, personas.outsider
    with auth_scope():
        for user in (member, outsider):
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
            Authenticator.objects.create(user=user, type="totp", data={"secret": "S" * 32})
            LogEntry.objects.create(
                user=user, object_repr=f"secret of {user.email}", action_flag=ADDITION
            )
    return personas


# --- sessions ----------------------------------------------------------------------------


def test_raw_sql_sees_no_session_unless_it_names_the_key(personas):
    victim = personas.client("outsider")
    key = victim.cookies[settings.SESSION_COOKIE_NAME].value
    attacker = personas.member
    with tenant_context(personas.tenant.pk, user_id=attacker.pk), auth_scope():
        # Not even the auth scope opens sessions: only the key does.
        assert _count("django_session") == 0
        assert _raw("UPDATE django_session SET expire_date = now() + interval '9 years'") == []
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_session")
            assert cursor.rowcount == 0
    with transaction.atomic():
        _raw("SELECT set_config(%s, %s, true)", [settings.SESSION_DB_SETTING, key])
        assert _count("django_session") == 1
    # The victim is still logged in, with the session untouched.
    assert victim.get("/")["Location"] == "/ops/"  # an office role, logged in


def test_the_session_store_works_through_the_policy(personas):
    store = SessionStore()
    store["flavour"] = "vanilla"
    store.save()
    key = store.session_key
    assert SessionStore(key)["flavour"] == "vanilla"
    assert SessionStore().exists(key)
    again = SessionStore(key)
    again.cycle_key()
    assert not SessionStore().exists(key) and SessionStore().exists(again.session_key)
    again.delete()
    assert not SessionStore().exists(again.session_key)
    with transaction.atomic():
        store = SessionStore()
        store.save()
        # Leaving the store's savepoint leaves the enclosing transaction without the key.
        assert _count("django_session") == 0


def test_clearsessions_removes_only_expired_sessions():
    live, stale = SessionStore(), SessionStore()
    live.save()
    stale.set_expiry(timezone.now() - timedelta(days=1))
    stale.save()
    call_command("clearsessions")
    assert SessionStore().exists(live.session_key)
    assert not SessionStore().exists(stale.session_key)
    with auth_scope():
        assert Session.objects.count() == 0  # the scope does not open sessions either


# --- e-mail addresses, MFA authenticators, admin log ----------------------------------------

ACCOUNTS_TABLES = ["account_emailaddress", "mfa_authenticator", "django_admin_log"]


@pytest.mark.parametrize("table", ACCOUNTS_TABLES)
def test_raw_sql_in_a_request_sees_only_its_own_users_rows(accounts, table):
    member = accounts.member
    with tenant_context(accounts.tenant.pk, user_id=member.pk):
        assert _count(table) == 1
        (user_id,) = _raw(f"SELECT user_id FROM {table}")[0]
        assert user_id == member.pk
        # Another user's rows cannot be changed either.
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE user_id = %s", [accounts.outsider.pk])
            assert cursor.rowcount == 0
    with transaction.atomic():
        assert _count(table) == 0  # no context: nothing


@pytest.mark.parametrize("table", ACCOUNTS_TABLES)
def test_a_forged_auth_scope_opens_nothing(accounts, table):
    with tenant_context(accounts.tenant.pk, user_id=accounts.member.pk):
        binding = transaction_binding()
        for token in [
            "auth",
            "auth:" + "0" * 64,
            sign("user", "auth", binding),  # another domain's signature
            sign("scope", "auth", "1:1"),  # another transaction's
        ]:
            _forge_scope(token)
            assert _count(table) == 1, token
    with auth_scope():
        assert _count(table) == 2


def test_the_scope_lasts_only_as_long_as_its_block(accounts):
    with tenant_context(accounts.tenant.pk, user_id=accounts.member.pk):
        with auth_scope():
            assert _count("account_emailaddress") == 2
        assert _count("account_emailaddress") == 1
        assert _raw("SELECT milepost_scope(), milepost_user_id()") == [(None, accounts.member.pk)]


def test_only_allauth_pages_and_the_operators_admin_carry_the_scope(personas):
    def request(path: str, user):
        made = RequestFactory().get(path)
        made.user, made.api_key = user, None
        return made

    member = personas.users["admin"]
    operator = UserFactory(is_staff=True, is_superuser=True)
    for path in ["/accounts/login/", "/accounts/password/reset/", "/accounts/2fa/"]:
        assert _needs_auth_scope(request(path, member)), path
    for path in ["/", "/api/v1/me/", "/accountsx/", "/admin/"]:
        assert not _needs_auth_scope(request(path, member)), path
    assert _needs_auth_scope(request("/admin/tenancy/user/", operator))
    assert not _needs_auth_scope(request("/", operator))


def test_own_rows_are_there_for_the_user_in_the_app(accounts):
    with user_context(accounts.member.pk):
        assert list(EmailAddress.objects.values_list("email", flat=True)) == ["ops@acme.test"]
        assert Authenticator.objects.count() == 1


# --- users and tenants: no raw writes of credentials, privileges or the registry ------------


def test_raw_sql_cannot_escalate_or_take_over_a_user(accounts):
    member, outsider = accounts.member, accounts.outsider
    probes = [
        ("UPDATE tenancy_user SET is_superuser = true, is_staff = true WHERE id = %s", [member.pk]),
        ("UPDATE tenancy_user SET password = 'md5$x$y' WHERE id = %s", [outsider.pk]),
        ("UPDATE tenancy_user SET email = 'me@evil.test' WHERE id = %s", [outsider.pk]),
        ("UPDATE tenancy_user SET is_active = false WHERE id = %s", [outsider.pk]),
        ("DELETE FROM tenancy_user WHERE id = %s", [outsider.pk]),
        (
            "INSERT INTO tenancy_user (password, is_superuser, first_name, last_name, is_staff,"
            " is_active, date_joined, email) VALUES ('md5$x$y', true, '', '', true, true,"
            " now(), 'root@evil.test')",
            [],
        ),
    ]
    for sql, params in probes:
        for forged in ["", "auth"]:
            with (
                pytest.raises(DatabaseError, match="needs the signed auth scope"),
                tenant_context(accounts.tenant.pk, user_id=member.pk),
            ):
                _forge_scope(forged)
                _raw(sql, params)
    outsider.refresh_from_db()
    assert outsider.email == "admin@rival.test" and outsider.check_password(TEST_PASSWORD)
    assert not User.objects.filter(is_superuser=True).exists()
    # Harmless columns stay writable (names, last login).
    with tenant_context(accounts.tenant.pk, user_id=member.pk):
        _raw(
            "UPDATE tenancy_user SET first_name = 'Ops', last_login = now() WHERE id = %s",
            [member.pk],
        )


def test_the_models_still_write_users_and_tenants(db):
    user = UserFactory()
    user.is_staff = True
    user.set_password("another-long-password-1")
    user.save()
    user.refresh_from_db()
    assert user.is_staff and user.check_password("another-long-password-1")
    tenant = TenantFactory()
    tenant.name = "Renamed"
    tenant.save()
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed"
    user.delete()
    assert not User.objects.filter(pk=user.pk).exists()


def test_raw_sql_cannot_touch_another_tenants_registry_row(db):
    mine, theirs = TenantFactory(), TenantFactory(name="Theirs")
    with tenant_context(mine.pk):
        for sql in [
            "UPDATE tenancy_tenant SET name = 'pwned' WHERE id = %s",
            "DELETE FROM tenancy_tenant WHERE id = %s",
        ]:
            with (
                pytest.raises(DatabaseError, match="needs the signed auth scope"),
                transaction.atomic(),
            ):
                _raw(sql, [theirs.pk])
        with (
            pytest.raises(DatabaseError, match="needs the signed auth scope"),
            transaction.atomic(),
        ):
            _raw(
                "INSERT INTO tenancy_tenant (slug, name, timezone, locale, logo, "
                "primary_colour, accent_colour, support_email, support_phone, "
                "custom_domains, created_at) VALUES ('x', 'x', 'UTC', 'en', '', '#000000', "
                "'#000000', '', '', '{}', now())"
            )
        _raw("UPDATE tenancy_tenant SET support_phone = '123' WHERE id = %s", [mine.pk])
    assert Tenant.objects.get(pk=theirs.pk).name == "Theirs"


# --- the auth flows through the policies ----------------------------------------------------


@pytest.fixture
def addresses(personas):
    """The member's verified address (and no MFA), as seed_demo makes them."""
    with auth_scope():
        EmailAddress.objects.create(
            user=personas.member, email=personas.member.email, verified=True, primary=True
        )
    return personas


def test_password_reset_by_email_works_and_lands_in_a_working_login(addresses):
    client = Client()
    sent = client.post(reverse("account_reset_password"), {"email": "ops@acme.test"})
    assert sent.status_code == 302
    (message,) = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body)
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    new_password = "a-brand-new-password-77"
    changed = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": new_password, "password2": new_password},
    )
    assert changed.status_code == 302
    fresh = Client()
    login = fresh.post(
        reverse("account_login"), {"login": "ops@acme.test", "password": new_password}
    )
    assert login.status_code == 302
    assert fresh.get("/")["Location"] == "/ops/"  # logged in (to login if not)


def test_login_by_email_uses_the_email_address_table(addresses):
    # The member's login e-mail differs from the user's column: allauth finds it in its table.
    with auth_scope():
        EmailAddress.objects.filter(user=addresses.member).update(email="alias@acme.test")
    client = Client()
    login = client.post(
        reverse("account_login"), {"login": "alias@acme.test", "password": TEST_PASSWORD}
    )
    assert login.status_code == 302
    assert client.get("/")["Location"] == "/ops/"  # logged in (to login if not)


# --- the inventory: every global table is protected or readable on purpose --------------------

PROTECTED = {
    "django_session": False,  # not forced: the owner-run cleanup deletes expired rows
    "account_emailaddress": True,
    "account_emailconfirmation": True,
    "mfa_authenticator": True,
    "django_admin_log": True,
}
WRITE_GUARDED = {"tenancy_user", "tenancy_tenant"}  # readable, raw writes refused (trigger)
# Readable by the app role on purpose (the README's security section says why).
READABLE = WRITE_GUARDED | {
    "auth_group",
    "auth_group_permissions",
    "auth_permission",
    "tenancy_user_groups",
    "tenancy_user_user_permissions",
    "django_content_type",
    "django_migrations",
    "django_celery_beat_clockedschedule",
    "django_celery_beat_crontabschedule",
    "django_celery_beat_intervalschedule",
    "django_celery_beat_periodictask",
    "django_celery_beat_periodictasks",
    "django_celery_beat_solarschedule",
    # The shared places registry (UN/LOCODEs, cities): public reference data; the app role
    # may only read it (shipments/places/grants.py revokes its writes).
    "places_place",
}


def test_every_global_table_is_protected_or_readable_on_purpose():
    rows = _raw(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' "
        "AND p.tablename = c.relname AND p.policyname = 'accounts_isolation'), "
        "EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid "
        "AND t.tgname = 'milepost_guard') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM "
        "pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')"
    )
    tables = {name: (rls, forced, policy, guard) for name, rls, forced, policy, guard in rows}
    unclassified = sorted(set(tables) - set(PROTECTED) - READABLE)
    assert unclassified == [], f"global tables to protect or to list as readable: {unclassified}"
    for table, forced in PROTECTED.items():
        assert tables[table][:3] == (True, forced, True), table
    for table in READABLE:
        assert tables[table][0] is False, table
        assert tables[table][3] is (table in WRITE_GUARDED), table


def test_createsuperuser_still_works(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "an-operator-password-9")
    call_command("createsuperuser", email="root@milepost.test", interactive=False, verbosity=0)
    root = User.objects.get(email="root@milepost.test")
    assert root.is_superuser and root.is_staff and root.check_password("an-operator-password-9")


@pytest.mark.parametrize(
    "probe",
    [
        "SELECT query FROM pg_stat_activity",
        "SELECT pg_stat_get_backend_activity(s) FROM pg_stat_get_backend_idset() s",
        "SELECT * FROM pg_stat_get_activity(NULL)",
    ],
)
def test_the_app_role_cannot_read_other_backends_statements(db, probe):
    # Their literals include session keys and webhook tokens (scripts/lib.sh, init.sql).
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        _raw(probe)

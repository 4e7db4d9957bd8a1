"""Login, MFA enrolment and use, tenant switching, admin login through allauth."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal import auth as totp
from django.test import Client
from django.urls import reverse

from tenancy.context import auth_scope
from tests.access import covers_url
from tests.tenancy.factories import TEST_PASSWORD, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db


def _login(client: Client, email: str, password: str = TEST_PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _current_code(secret: str) -> str:
    counter = next(iter(totp.yield_hotp_counters_from_time()))
    return totp.format_hotp_value(totp.hotp_value(secret, counter))


@covers_url("home")
def test_login_with_email_and_password_shows_the_tenant(personas):
    client = Client()
    response = _login(client, "ops@acme.test")
    assert response.status_code == 302
    # an office role lands in the ops dashboard, which carries the same tenant heading
    page = client.get(reverse("home"), follow=True)
    assert page.redirect_chain == [("/ops/", 302)]
    assert page.status_code == 200
    assert "Acme Forwarding" in page.content.decode()
    assert "Rival Courier" not in page.content.decode()


@covers_url("home")
def test_wrong_password_is_refused_and_anonymous_is_sent_to_login(personas):
    client = Client()
    response = _login(client, "ops@acme.test", "wrong-password")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert client.get(reverse("home"))["Location"].startswith(reverse("account_login"))


def test_repeated_failed_logins_are_rate_limited(personas):
    client = Client()
    pages = [_login(client, "ops@acme.test", "nope").content.decode() for _ in range(6)]
    assert "Too many failed login attempts" not in pages[0]
    assert "Too many failed login attempts" in pages[-1]
    # Even the right password is refused while the limit holds.
    assert "Too many failed login attempts" in _login(client, "ops@acme.test").content.decode()


def test_totp_enrolment_then_login_requires_the_code(personas):
    user = personas.member
    with auth_scope():  # the test's own setup; the pages below run as in production
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client = Client()
    assert _login(client, user.email).status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code == 302:  # allauth asks for the password again before adding MFA
        assert page["Location"].startswith(reverse("account_reauthenticate"))
        client.post(page["Location"], {"password": TEST_PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    activated = client.post(reverse("mfa_activate_totp"), {"code": _current_code(secret)})
    assert activated.status_code == 302
    with auth_scope():
        assert user.authenticator_set.filter(type="totp").exists()
        recovery = user.authenticator_set.get(type="recovery_codes").wrap().get_unused_codes()[0]

    fresh = Client()
    response = _login(fresh, user.email)
    assert response["Location"] == reverse("mfa_authenticate")
    before = fresh.get(reverse("home"))
    assert before["Location"].startswith(reverse("account_login"))  # not logged in yet
    wrong = fresh.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert fresh.post(reverse("mfa_authenticate"), {"code": recovery}).status_code == 302
    assert fresh.get(reverse("home"))["Location"] == "/ops/"  # logged in: an office role


@covers_url("tenant-switch")
def test_user_in_two_tenants_switches_between_them(personas):
    user = personas.member
    MembershipFactory(tenant=personas.other_tenant, user=user, role="finance")
    client = personas.client(user)
    assert "Acme Forwarding" in client.get("/", follow=True).content.decode()
    response = client.post(reverse("tenant-switch"), {"tenant": "rival-courier"})
    assert response.status_code == 302
    page = client.get("/", follow=True).content.decode()
    assert '<option value="rival-courier" selected>Rival Courier</option>' in page
    assert "Finance" in page


@covers_url("tenant-switch")
def test_switching_to_a_tenant_you_do_not_belong_to_is_404(personas):
    TenantFactory(slug="elsewhere")
    client = personas.client("member")
    assert client.post(reverse("tenant-switch"), {"tenant": "elsewhere"}).status_code == 404
    assert client.post(reverse("tenant-switch"), {"tenant": "rival-courier"}).status_code == 404
    assert client.post(reverse("tenant-switch"), {"tenant": "nope"}).status_code == 404
    assert Client().post(reverse("tenant-switch"), {"tenant": "acme-forwarding"}).status_code == 302


@covers_url("home")
def test_user_without_tenant_gets_a_clear_page(db):
    from tests.tenancy.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 403
    assert "not a member of any tenant" in response.content.decode()


@covers_url("admin:index")
def test_admin_login_goes_through_allauth(personas):
    response = Client().get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    # Tenant admins are not operators: a clear page (tests/tenancy/test_admin_access.py).
    assert personas.client("admin").get("/admin/").status_code == 403


def test_signup_is_closed(db):
    response = Client().post(
        reverse("account_signup"),
        {"email": "new@x.test", "password1": "A-strong-pass-123", "password2": "A-strong-pass-123"},
    )
    assert "closed" in response.content.decode().lower()


@covers_url("allauth:*", "admin:*")
def test_account_pages_are_public_and_account_management_needs_login(personas):
    anonymous = Client()
    assert anonymous.get(reverse("account_login")).status_code == 200
    assert anonymous.get(reverse("account_reset_password")).status_code == 200
    assert anonymous.get(reverse("mfa_index"))["Location"].startswith(reverse("account_login"))
    assert anonymous.get("/admin/tenancy/tenant/")["Location"].startswith("/admin/login/")
    assert personas.client("admin").get(reverse("mfa_index")).status_code == 200

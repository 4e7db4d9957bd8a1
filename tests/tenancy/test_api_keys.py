"""Partner API keys: issued once, stored hashed, scoped, revocable, last use recorded."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import ApiKey, AuditLog, hash_api_key
from tests.access import covers_url

pytestmark = pytest.mark.django_db


def _issue(client: Client, **body) -> dict:
    payload = {"name": "Carrier X", "scopes": ["read"]} | body
    response = client.post(reverse("api-keys"), payload, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def _bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@covers_url("api-keys", "api-me")
def test_admin_issues_a_key_shown_once_and_stored_hashed(
    personas, django_capture_on_commit_callbacks
):
    body = _issue(personas.client("admin"))
    raw = body["key"]
    assert raw.startswith(f"mpk_{personas.tenant.pk}_")
    with tenant_context(personas.tenant.pk):
        stored = ApiKey.objects.get(pk=body["id"])
        assert stored.key_hash == hash_api_key(raw)
        assert raw not in str(ApiKey.objects.values().get(pk=body["id"]))
        assert AuditLog.objects.filter(action="api_key.issue", target_id=str(stored.pk)).exists()
    listing = personas.client("admin").get(reverse("api-keys")).json()["results"]
    assert [k["prefix"] for k in listing] == [body["prefix"]]
    assert "key" not in listing[0]

    # The key's use is recorded after the request commits (tenancy.selectors._touch_last_used).
    with django_capture_on_commit_callbacks(execute=True):
        me = Client().get(reverse("api-me"), **_bearer(raw))
    assert me.status_code == 200
    assert me.json()["tenant"]["slug"] == "acme-forwarding"
    assert me.json()["scopes"] == ["read"]
    with tenant_context(personas.tenant.pk):
        assert ApiKey.objects.get(pk=body["id"]).last_used_at is not None


@covers_url("api-key-revoke", "api-me")
def test_revoked_key_is_refused_with_a_structured_error(personas):
    admin = personas.client("admin")
    body = _issue(admin)
    revoke = admin.post(reverse("api-key-revoke", args=[body["id"]]))
    assert revoke.status_code == 200
    assert revoke.json()["revoked_at"] is not None
    response = Client().get(reverse("api-me"), **_bearer(body["key"]))
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "authentication_failed", "message": "Invalid or revoked API key."}
    }


@pytest.mark.parametrize(
    "key",
    ["garbage", "mpk_1_abc_def", "mpk_notanumber_x_y", "mpk_999999_aaaa_bbbb", ""],
)
@covers_url("api-me")
def test_malformed_or_unknown_keys_are_401(personas, key):
    response = Client().get(reverse("api-me"), HTTP_X_API_KEY=key or "x")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@covers_url("api-keys", "api-key-revoke")
def test_only_admins_manage_keys_and_never_another_tenants(personas):
    body = _issue(personas.client("admin"))
    for role in ("ops", "sales", "finance", "customer", "driver"):
        client = personas.client(role)
        assert client.get(reverse("api-keys")).status_code == 403
        assert client.post(reverse("api-key-revoke", args=[body["id"]])).status_code == 403
    outsider = personas.client("outsider")
    assert outsider.get(reverse("api-keys")).json()["results"] == []
    assert outsider.post(reverse("api-key-revoke", args=[body["id"]])).status_code == 404
    assert outsider.post(reverse("api-key-revoke", args=[987654])).status_code == 404
    assert Client().get(reverse("api-keys")).status_code == 401


@covers_url("api-keys")
def test_a_key_cannot_manage_keys_even_with_every_scope(personas):
    body = _issue(personas.client("admin"), scopes=["read", "write", "ingest", "finance"])
    response = Client().get(reverse("api-keys"), **_bearer(body["key"]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@covers_url("api-keys")
def test_invalid_key_requests_name_the_field(personas):
    response = personas.client("admin").post(
        reverse("api-keys"), {"name": "", "scopes": ["fly"]}, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"name", "scopes"}

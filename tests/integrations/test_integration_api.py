"""Integration management API: admin/ops only, secrets shown once, tenant isolation."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import Integration
from integrations.polling import tasks as polling
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tenancy.services import api_key_issue
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.integrations.netstub import Edge

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

LIST = "ingest-integrations"
DETAIL = "ingest-integration-detail"
ROTATE = "ingest-integration-rotate-secret"
POLL = "ingest-integration-poll"
NEW = {
    "name": "Ocean carrier",
    "kind": "dcsa",
    "partner_name": "MAEU",
    "poll_adapter": "dcsa_v2",
    "poll_config": {"base_url": "https://api.carrier.example/", "headers": {"API-Key": "s3cr3t"}},
    "poll_interval_s": 120,
    "inbox_enabled": True,
}


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(polling.poll_integration, "delay", lambda **kw: calls.append(kw))
    return calls


def _audit(tenant, action):
    with tenant_context(tenant.pk):
        return list(AuditLog.objects.filter(action=action))


def _key(tenant, scopes):
    with tenant_context(tenant.pk):
        return api_key_issue(name="partner", scopes=scopes).raw_key


@covers_url("ingest-integrations", "ingest-integration-detail")
def test_admin_creates_and_reads_an_integration(personas, settings, tmp_path):
    settings.INGEST_INBOX_ROOT = tmp_path
    client = personas.client("admin")
    created = client.post(reverse(LIST), NEW, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"]  # shown once
    assert body["poll_config"] == {
        "base_url": "https://api.carrier.example",
        "headers": {"API-Key": "********"},
    }
    assert body["webhook_url"].endswith(f"/webhooks/{personas.tenant.pk}/{body['token']}/")
    assert body["inbox_path"] == str(tmp_path / personas.tenant.slug / body["token"])
    with tenant_context(personas.tenant.pk):
        stored = Integration.objects.get(pk=body["id"])
    assert stored.poll_config["headers"] == {"API-Key": "s3cr3t"}
    [entry] = _audit(personas.tenant, "integration.create")
    assert "s3cr3t" not in str(entry.changes)

    detail = personas.client("ops").get(reverse(DETAIL, args=[body["id"]]))
    assert detail.status_code == 200
    assert "secret" not in detail.json()
    assert detail.json()["poll_interval_s"] == 120
    listed = personas.client("ops").get(reverse(LIST))
    assert [i["id"] for i in listed.json()["results"]] == [body["id"]]
    assert all("secret" not in i for i in listed.json()["results"])


@covers_url("ingest-integrations", "ingest-integration-detail")
def test_validation_errors_name_the_field(personas):
    client = personas.client("ops")
    cases = [
        ({**NEW, "poll_config": {"base_url": "ftp://x.example"}}, "poll_config"),
        ({**NEW, "poll_config": {"base_url": "file:///etc/passwd"}}, "poll_config"),
        ({**NEW, "poll_config": {}}, "poll_config"),  # dcsa_v2 needs a base_url
        ({**NEW, "poll_interval_s": 10}, "poll_interval_s"),
        ({**NEW, "kind": "fax"}, "kind"),
        ({**NEW, "poll_adapter": "carrier-pigeon"}, "poll_adapter"),
        ({k: v for k, v in NEW.items() if k != "name"}, "name"),
    ]
    for payload, field in cases:
        response = client.post(reverse(LIST), payload, content_type="application/json")
        assert response.status_code == 400, (field, response.content)
        assert field in response.json()["error"]["fields"], (field, response.json())
    integration = IntegrationFactory(
        tenant=personas.tenant, name="Carrier", kind="dcsa", poll_adapter="simulated"
    )
    patched = client.patch(
        reverse(DETAIL, args=[integration.pk]),
        {"poll_interval_s": 5},
        content_type="application/json",
    )
    assert patched.status_code == 400
    assert "poll_interval_s" in patched.json()["error"]["fields"]


@pytest.fixture
def edge(monkeypatch) -> Edge:
    """Name lookups and connects recorded (no real DNS; nothing leaves 127.0.0.1)."""
    return Edge().install(monkeypatch)


SSRF_BASE_URLS = [
    ("http://127.0.0.1:5432", "must not point to a loopback address (127.0.0.1)"),
    ("https://2130706433/", "must not point to a loopback address (127.0.0.1)"),
    ("https://0177.0.0.1/", "must not point to a loopback address (127.0.0.1)"),
    ("https://0x7f.1/", "must not point to a loopback address (127.0.0.1)"),
    ("https://127.1/", "must not point to a loopback address (127.0.0.1)"),
    ("https://[::1]:8000/", "must not point to a loopback address (::1)"),
    ("https://[::ffff:127.0.0.1]/", "must not point to a loopback address (::ffff:7f00:1)"),
    ("https://10.0.0.5/", "must not point to a private address (10.0.0.5)"),
    ("https://100.64.0.9/", "must not point to a shared (CGNAT) address (100.64.0.9)"),
    ("http://169.254.169.254/x", "must not point to a cloud metadata address (169.254.169.254)"),
    ("https://[fe80::1]/", "must not point to a link-local address (fe80::1)"),
    ("https://localhost:8000/", "must not point to localhost"),
    ("https://api.localhost/", "must not point to localhost"),
    ("http://api.carrier.example/", "must use https://"),
    ("https://u:pw@carrier.test/", "must not contain a user name or password (send credentials "
                                   "as headers)"),
]  # fmt: skip


@covers_url("ingest-integrations", "ingest-integration-detail")
@pytest.mark.parametrize(("base_url", "why"), SSRF_BASE_URLS)
def test_a_base_url_to_a_refused_destination_is_a_field_error_when_saved(
    personas, edge, settings, base_url, why
):
    """Refused at save time, on the poll_config field (the shape the other poll_config errors
    have: fields {"poll_config": ["base_url: <why>"]}), without looking anything up."""
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    client = personas.client("admin")
    payload = {**NEW, "poll_config": {"base_url": base_url}}
    created = client.post(reverse(LIST), payload, content_type="application/json")
    assert created.status_code == 400, created.content
    assert created.json()["error"]["fields"] == {"poll_config": [f"base_url: {why}"]}
    integration = IntegrationFactory(
        tenant=personas.tenant,
        name="Carrier",
        kind="dcsa",
        poll_adapter="dcsa_v2",
        poll_config={"base_url": "https://api.carrier.example"},
    )
    patched = client.patch(
        reverse(DETAIL, args=[integration.pk]),
        {"poll_config": {"base_url": base_url}},
        content_type="application/json",
    )
    assert patched.status_code == 400, patched.content
    assert patched.json()["error"]["fields"] == {"poll_config": [f"base_url: {why}"]}
    with tenant_context(personas.tenant.pk):
        assert Integration.objects.get(pk=integration.pk).poll_config == {
            "base_url": "https://api.carrier.example"
        }
        assert Integration.objects.count() == 1
    assert edge.lookups == [] and edge.connects == []


@covers_url("ingest-integrations")
def test_a_name_is_saved_unresolved_and_http_only_to_allowed_networks(personas, edge, settings):
    """A name is not resolved when saved (the poll checks its addresses when it connects);
    plain http is accepted only when WEBHOOK_ALLOWED_NETWORKS opens a way to it."""
    client = personas.client("admin")
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    for base_url in ("https://carrier.test/dcsa", "http://127.0.0.1:8089", "http://stub.test"):
        payload = {**NEW, "name": base_url, "poll_config": {"base_url": base_url}}
        created = client.post(reverse(LIST), payload, content_type="application/json")
        assert created.status_code == 201, (base_url, created.content)
    refused = client.post(
        reverse(LIST),
        {**NEW, "poll_config": {"base_url": "http://127.0.0.2"}},
        content_type="application/json",
    )
    assert refused.json()["error"]["fields"] == {
        "poll_config": ["base_url: must not point to a loopback address (127.0.0.2)"]
    }
    too_slow = client.post(
        reverse(LIST),
        {**NEW, "poll_config": {"base_url": "https://carrier.test", "timeout_s": 3600}},
        content_type="application/json",
    )
    assert too_slow.json()["error"]["fields"] == {
        "poll_config": ["timeout_s: must be at most 60 seconds"]
    }
    injected = client.post(
        reverse(LIST),
        {**NEW, "poll_config": {"base_url": "https://c.test", "headers": {"K": "v\r\nX: 1"}}},
        content_type="application/json",
    )
    assert injected.json()["error"]["fields"] == {
        "poll_config": ["headers: the value of K contains control characters"]
    }
    assert edge.lookups == [] and edge.connects == []


@covers_url("ingest-integration-detail")
def test_patch_updates_audits_and_keeps_masked_credentials(personas):
    integration = IntegrationFactory(
        tenant=personas.tenant,
        name="Carrier",
        kind="dcsa",
        poll_adapter="dcsa_v2",
        poll_config={"base_url": "https://a.example", "headers": {"API-Key": "old-key"}},
    )
    url = reverse(DETAIL, args=[integration.pk])
    read = personas.client("admin").get(url).json()
    config = {**read["poll_config"], "eventType": "TRANSPORT"}  # headers come back masked
    response = personas.client("admin").patch(
        url,
        {"poll_config": config, "poll_interval_s": 60, "inbox_enabled": True},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    with tenant_context(personas.tenant.pk):
        integration.refresh_from_db()
    assert integration.poll_config["headers"] == {"API-Key": "old-key"}
    assert integration.poll_config["eventType"] == "TRANSPORT"
    assert integration.poll_interval_s == 60 and integration.inbox_enabled
    [entry] = _audit(personas.tenant, "integration.update")
    assert set(entry.changes) == {"poll_config", "poll_interval_s", "inbox_enabled"}
    assert "old-key" not in str(entry.changes)


@covers_url("ingest-integration-rotate-secret")
def test_rotate_secret_returns_the_new_secret_once(personas):
    integration = IntegrationFactory(
        tenant=personas.tenant, name="Carrier", kind="dcsa", poll_adapter="simulated"
    )
    response = personas.client("ops").post(reverse(ROTATE, args=[integration.pk]))
    assert response.status_code == 200
    secret = response.json()["secret"]
    with tenant_context(personas.tenant.pk):
        integration_after = Integration.objects.get(pk=integration.pk)
    assert secret == integration_after.secret != integration.secret
    assert len(_audit(personas.tenant, "integration.rotate_secret")) == 1
    assert "secret" not in personas.client("ops").get(reverse(DETAIL, args=[integration.pk])).json()


@covers_url("ingest-integration-poll")
def test_poll_now_enqueues_the_poll(personas, queued, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(
        tenant=personas.tenant, name="Carrier", kind="dcsa", poll_adapter="simulated"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = personas.client("ops").post(reverse(POLL, args=[integration.pk]))
    assert response.status_code == 202
    assert queued == [
        {"tenant_id": personas.tenant.pk, "integration_id": integration.pk, "force": True}
    ]
    webhook_only = IntegrationFactory(
        tenant=personas.tenant, kind="dcsa", name="Push", poll_adapter=""
    )
    refused = personas.client("ops").post(reverse(POLL, args=[webhook_only.pk]))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_polling"


@covers_url(
    "ingest-integrations",
    "ingest-integration-detail",
    "ingest-integration-rotate-secret",
    "ingest-integration-poll",
)
def test_other_roles_outsiders_and_anonymous_are_refused(personas, queued):
    integration = IntegrationFactory(
        tenant=personas.tenant, name="Carrier", kind="dcsa", poll_adapter="simulated"
    )
    item_urls = [reverse(n, args=[integration.pk]) for n in (DETAIL, ROTATE, POLL)]
    for role in ("sales", "finance", "customer", "driver"):
        client = personas.client(role)
        assert client.get(reverse(LIST)).status_code == 403, role
        assert client.post(reverse(LIST), NEW, content_type="application/json").status_code == 403
        assert client.get(item_urls[0]).status_code == 403
        assert client.patch(item_urls[0], {}, content_type="application/json").status_code == 403
        assert client.post(item_urls[1]).status_code == 403
        assert client.post(item_urls[2]).status_code == 403
    outsider = personas.client("outsider")  # admin of the other tenant
    assert outsider.get(item_urls[0]).status_code == 404
    assert (
        outsider.patch(item_urls[0], {"name": "x"}, content_type="application/json").status_code
        == 404
    )
    assert outsider.post(item_urls[1]).status_code == 404
    assert outsider.post(item_urls[2]).status_code == 404
    assert outsider.get(reverse(LIST)).json()["results"] == []
    anonymous = Client()
    assert anonymous.get(reverse(LIST)).status_code in (401, 403)
    assert anonymous.post(item_urls[1]).status_code in (401, 403)
    assert queued == []
    with tenant_context(personas.tenant.pk):
        assert Integration.objects.get(pk=integration.pk).secret == integration.secret


@covers_url(
    "ingest-integrations",
    "ingest-integration-detail",
    "ingest-integration-rotate-secret",
    "ingest-integration-poll",
)
def test_ingest_api_keys_may_only_read(personas, queued):
    integration = IntegrationFactory(
        tenant=personas.tenant, name="Carrier", kind="dcsa", poll_adapter="simulated"
    )
    headers = {"Authorization": f"Bearer {_key(personas.tenant, ['ingest'])}"}
    client = Client()
    assert client.get(reverse(LIST), headers=headers).status_code == 200
    detail = client.get(reverse(DETAIL, args=[integration.pk]), headers=headers)
    assert detail.status_code == 200 and "secret" not in detail.json()
    assert (
        client.post(reverse(LIST), NEW, content_type="application/json", headers=headers)
    ).status_code == 403
    assert (
        client.patch(
            reverse(DETAIL, args=[integration.pk]),
            {"name": "x"},
            content_type="application/json",
            headers=headers,
        )
    ).status_code == 403
    assert client.post(reverse(ROTATE, args=[integration.pk]), headers=headers).status_code == 403
    assert client.post(reverse(POLL, args=[integration.pk]), headers=headers).status_code == 403
    read_only = {"Authorization": f"Bearer {_key(personas.tenant, ['read'])}"}
    assert client.get(reverse(LIST), headers=read_only).status_code == 403
    other = {"Authorization": f"Bearer {_key(personas.other_tenant, ['ingest'])}"}
    assert client.get(reverse(DETAIL, args=[integration.pk]), headers=other).status_code == 404

"""The operators' key command: its output and errors are a contract for other tools."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str, int]:
    out, err = StringIO(), StringIO()
    try:
        call_command("apikey_create", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return out.getvalue(), err.getvalue(), int(exit_.code or 0)
    return out.getvalue(), err.getvalue(), 0


def test_prints_the_key_alone_and_the_key_works(personas):
    out, err, code = _run("--tenant", personas.tenant.slug, "--scopes", "read,ingest")
    assert code == 0 and err == ""
    key = out.strip()
    assert out == key + "\n" and key.startswith(f"mpk_{personas.tenant.pk}_")
    me = Client().get(reverse("api-me"), headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert sorted(me.json()["scopes"]) == ["ingest", "read"]


def test_customer_codes_limit_the_key(personas):
    out, _, code = _run(
        "--tenant",
        personas.tenant.slug,
        "--scopes",
        "read",
        "--customer",
        personas.customer_account.code,
        "--name",
        "Shipper portal",
    )
    assert code == 0
    with tenant_context(personas.tenant.pk):
        key = ApiKey.objects.get(name="Shipper portal")
        assert key.customer_account_ids() == [personas.customer_account.pk]
        assert out.strip().split("_")[2] == key.prefix


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tenant", "nope", "--scopes", "read"], "unknown tenant"),
        (["--tenant", "acme-forwarding", "--scopes", "read,admin"], "unknown scope"),
        (["--tenant", "acme-forwarding", "--scopes", "read", "--customer", "X9"], "X9"),
        (["--tenant", "rival-courier", "--scopes", "read", "--customer", "SHIPPER1"], "SHIPPER1"),
    ],
)
def test_unknown_tenant_scope_or_customer_is_an_error_on_stderr(personas, args, message):
    out, err, code = _run(*args)
    assert (out, code) == ("", 1)
    assert message in err
    with tenant_context(personas.tenant.pk):
        assert not ApiKey.objects.exists()

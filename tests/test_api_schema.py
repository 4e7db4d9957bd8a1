"""The schema is the API: a bounded schemathesis pass with every check, over every operation,
against the live server, as a partner key and as a browser session (issue 10, item 6).

`make soak` runs it with more examples (SCHEMA_EXAMPLES); the CLI runs the same checks:
`schemathesis --config-file config/schemathesis.toml run <url>/api/schema/ -H ...`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth

from integrations.models import DeadLetter, InboundMessage
from milestones.services import templates_install_defaults
from tenancy.context import tenant_context
from tenancy.services import api_key_issue
from tests.fixtures import make_personas
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory

CONFIG = SchemathesisConfig.from_path(Path(__file__).parents[1] / "config" / "schemathesis.toml")
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "8"))
CSRF_SECRET = "s" * 32  # an unmasked CSRF secret: Django accepts it when cookie and header agree


def _generated_schema() -> dict:
    """The schema exactly as /api/schema/ serves it (same generator, same hooks)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_served_schema_is_the_one_tested(client):
    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200
    assert served.json()["paths"].keys() == _generated_schema()["paths"].keys()


@pytest.fixture
def callers(transactional_db):
    """A tenant with a little of everything, a key with every scope, an admin's session."""
    personas = make_personas()
    with tenant_context(personas.tenant.pk):
        templates_install_defaults()
    ShipmentFactory(tenant=personas.tenant, customer_account=personas.customer_account)
    integration = IntegrationFactory(tenant=personas.tenant, kind="csv")
    with tenant_context(personas.tenant.pk):
        message = InboundMessage.objects.create(
            integration=integration, channel="upload", body=b"x", sha256="x", status="dead"
        )
        DeadLetter.objects.create(message=message, reason="for the schema test")
        key = api_key_issue(name="schema", scopes=["read", "write", "ingest", "finance"])
    client = Client()
    client.force_login(personas.users["admin"])
    session = client.session
    session["active_tenant_id"] = personas.tenant.pk
    session.save()
    cookies = (
        f"{django_settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={CSRF_SECRET}"
    )
    return {
        "key": {"Authorization": f"Bearer {key.raw_key}"},
        "session": {"Cookie": cookies, "X-CSRFToken": CSRF_SECRET},
    }


schema = schemathesis.openapi.from_dict(_generated_schema(), config=CONFIG)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.parametrize()
@SETTINGS
def test_every_operation_conforms_to_the_schema_as_a_partner_key(case, callers, live_server):
    case.call_and_validate(base_url=live_server.url, headers=callers["key"])


@schema.parametrize()
@SETTINGS
def test_every_operation_conforms_to_the_schema_as_a_browser_session(case, callers, live_server):
    # ignored_auth swaps the sessionid cookie of the schema, while the session travels in the
    # Cookie header here: it is proven by the key pass (a wrong or missing key is refused).
    case.call_and_validate(
        base_url=live_server.url, headers=callers["session"], excluded_checks=[ignored_auth]
    )

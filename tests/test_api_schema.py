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
from django.utils import timezone
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


# --- another tenant's credentials on the first tenant's ids: every id answers 404 ----------

# The partner webhook is authenticated by its integration's secret, not by a caller: another
# tenant's credentials do not apply to it (tests/integrations cover its refusals).
NOT_CALLER_AUTHENTICATED = r"/ingest/webhooks/"


def _route_of(tenant):
    """A driver's route of the first tenant (portal.routing: /api/v1/routes/{route_id}/…)."""
    from portal.routing.models import Route
    from tenancy.models import Membership

    driver = Membership.objects.filter(role="driver").select_related("user").first().user
    return Route.objects.create(driver=driver, day=timezone.localdate(), vehicle_ref="van-1")


@pytest.fixture
def first_tenants_ids(callers, transactional_db):
    """Real ids of the first tenant's objects, by path parameter (and the credentials of an
    admin of the other tenant: a key with every scope, and a session)."""
    from integrations.models import Integration, ProposedUpdate
    from integrations.notifications.models import Notification, NotificationTemplate
    from integrations.subscriptions.models import Delivery, Subscription, WebhookEvent
    from shipments.models import Shipment
    from shipments.places.models import TenantPlace
    from tenancy.models import ApiKey, Tenant

    tenant = Tenant.objects.get(slug="acme-forwarding")
    other = Tenant.objects.get(slug="rival-courier")
    with tenant_context(tenant.pk):
        shipment = Shipment.objects.first()
        message = InboundMessage.objects.first()
        proposal = ProposedUpdate.objects.create(message=message, shipment=shipment)
        subscription = Subscription.objects.create(
            url="https://hooks.example/milepost", event_types=["shipment.created"]
        )
        event = WebhookEvent.objects.create(type="webhook.test", body="{}")
        ids = {
            "notification_id": Notification.objects.create(
                channel="in_app",
                recipient="x",
                topic="message",
                locale="en",
                body="hi",
                idempotency_key="schema-test",
            ).pk,
            "template_id": NotificationTemplate.objects.create(
                topic="delivered", channel="sms", locale="en", body="{{ tracking_number }}"
            ).pk,
            "place_id": TenantPlace.objects.create(name="Dock", codes=["DOCK-1"]).pk,
            "webhook_id": subscription.pk,
            "delivery_id": Delivery.objects.create(subscription=subscription, event=event).pk,
            "key_id": ApiKey.objects.first().pk,
            "dead_letter_id": DeadLetter.objects.first().pk,
            "proposal_id": proposal.pk,
            "integration_id": Integration.objects.first().pk,
            "message_id": message.pk,
            "shipment_pk": shipment.pk,
            "route_id": _route_of(tenant).pk,
            "shipment_public_id": shipment.public_id,
        }
        ids |= _billing_ids(shipment)
        ids |= _workflow_ids(shipment)
    with tenant_context(other.pk):
        rival_key = api_key_issue(name="rival", scopes=["read", "write", "ingest", "finance"])
    from tenancy.models import User

    rival = Client()
    rival.force_login(User.objects.get(email="admin@rival.test"))
    session = rival.session
    session["active_tenant_id"] = other.pk
    session.save()
    cookies = (
        f"{django_settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={CSRF_SECRET}"
    )
    return ids, {
        "key": {"Authorization": f"Bearer {rival_key.raw_key}"},
        "session": {"Cookie": cookies, "X-CSRFToken": CSRF_SECRET},
    }


def _workflow_ids(shipment) -> dict:
    from integrations.exceptions.models import ShipmentException
    from integrations.workflow.models import Rule, Task

    exception = ShipmentException.objects.create(
        shipment=shipment, type="dark_shipment", severity="minor", details={}
    )
    rule = Rule.objects.create(
        name="schema", trigger="milestone_reached", when={"milestone": "delivered"}, actions=[]
    )
    task = Task.objects.create(title="schema", shipment=shipment)
    return {"exception_id": exception.public_id, "rule_id": rule.pk, "task_id": task.pk}


def _billing_ids(shipment) -> dict:
    from billing.models import CarrierInvoice, CarrierInvoiceLine, Invoice
    from tenancy.models import CustomerAccount

    customer = CustomerAccount.objects.first()
    carrier_invoice = CarrierInvoice.objects.create(carrier="schema")
    line = CarrierInvoiceLine.objects.create(
        carrier_invoice=carrier_invoice,
        row=2,
        shipment_reference="X",
        amount=1,
        currency="EUR",
        result="unexpected",
    )
    invoice = Invoice.objects.create(customer_account=customer, currency="EUR")
    return {
        "invoice_id": invoice.public_id,
        "reconciliation_id": carrier_invoice.pk,
        "line_id": line.pk,
    }


# Valid requests only (an invalid body may rightly be refused before any lookup), on the
# operations whose path names an object.
CROSS_TENANT = SchemathesisConfig.from_str(
    '[generation]\nmode = "positive"\n[phases.coverage]\nenabled = false\n'
)
with_ids = (
    schemathesis.openapi.from_dict(_generated_schema(), config=CROSS_TENANT)
    .include(path_regex=r"\{")
    .exclude(path_regex=NOT_CALLER_AUTHENTICATED)
)


@with_ids.parametrize()
@settings(
    max_examples=max(2, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_another_tenants_callers_get_404_for_every_id_of_the_first(
    case, first_tenants_ids, live_server
):
    ids, rival = first_tenants_ids
    for name in case.path_parameters or {}:
        if name == "shipment_id":
            public = case.path.startswith("/api/v1/shipments/")
            case.path_parameters[name] = ids["shipment_public_id" if public else "shipment_pk"]
        else:
            case.path_parameters[name] = ids[name]
    response = case.call(base_url=live_server.url, headers=rival["key"])
    if response.status_code == 403:  # an endpoint for sessions only: ask as the rival admin
        # (without any Authorization header the generator may have put on the case)
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
        }
        response = case.call(base_url=live_server.url, headers=rival["session"])
    assert response.status_code == 404, (case.method, case.formatted_path, response.text[:300])

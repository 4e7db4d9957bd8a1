"""Callers and shipments for the partner API tests: tenant A with two customer accounts and a
shipment of each, keys (all scopes; limited to one account; read only), and tenant B's key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from milestones.services import templates_install_defaults
from shipments.models import Shipment
from tenancy.context import tenant_context
from tenancy.models import CustomerAccount
from tenancy.services import api_key_issue
from tests.fixtures import Personas, make_personas
from tests.shipments.factories import ShipmentFactory

ALL_SCOPES = ["read", "write", "ingest", "finance"]


@dataclass
class Api:
    personas: Personas
    mine: Shipment  # of customer_account (the limited key's)
    theirs: Shipment  # of other_customer_account
    keys: dict[str, str]

    def client(self, who: str) -> APIClient:
        """A client for a key ("full", "limited", "read", "outsider"), or a persona session."""
        if who in self.keys:
            return APIClient(HTTP_AUTHORIZATION=f"Bearer {self.keys[who]}")
        client = APIClient()
        personal = self.personas.client(who)
        client.cookies = personal.cookies
        return client


def make_api() -> Api:
    personas = make_personas()
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    booked = datetime(2026, 3, 1, tzinfo=UTC)
    mine = ShipmentFactory(
        tenant=personas.tenant,
        reference="MINE1",
        customer_account=personas.customer_account,
        booked_at=booked,
    )
    theirs = ShipmentFactory(
        tenant=personas.tenant,
        reference="THEIRS1",
        customer_account=personas.other_customer_account,
        booked_at=booked,
    )
    with tenant_context(personas.tenant.pk):
        account = CustomerAccount.objects.get(pk=personas.customer_account.pk)
        keys = {
            "full": api_key_issue(name="full", scopes=ALL_SCOPES).raw_key,
            "limited": api_key_issue(
                name="limited", scopes=ALL_SCOPES, customer_accounts=[account]
            ).raw_key,
            "read": api_key_issue(name="read", scopes=["read"]).raw_key,
        }
    with tenant_context(personas.other_tenant.pk):
        keys["outsider"] = api_key_issue(name="rival", scopes=ALL_SCOPES).raw_key
    return Api(personas=personas, mine=mine, theirs=theirs, keys=keys)


@pytest.fixture
def api(db) -> Api:
    return make_api()


def new_shipment(reference: str = "NEW1", **extra: object) -> dict[str, object]:
    return {
        "references": [{"kind": "tracking_number", "value": reference}],
        "mode": "road_ftl",
        "booked_at": "2026-03-05T09:00:00+01:00",
        **extra,
    }

"""Shared fixtures, including the cross-tenant personas every access test uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client

from tenancy.context import tenant_context
from tenancy.middleware import SESSION_TENANT_KEY
from tenancy.models import MembershipCustomerAccount, Role, Tenant, User
from tests.tenancy.factories import (
    CustomerAccountFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)


@dataclass
class Personas:
    """Two tenants and one user per role in tenant A, plus an outsider from tenant B.

    member: ops in A; teammates: every other role in A; outsider: admin of B.
    """

    tenant: Tenant
    other_tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)
    outsider: User | None = None
    customer_account: object = None
    other_customer_account: object = None

    @property
    def member(self) -> User:
        return self.users[Role.OPS]

    def client(self, who: str | User | None, tenant: Tenant | None = None) -> Client:
        """A logged-in test client ('anonymous' or None gives a logged-out one)."""
        client = Client()
        if who in (None, "anonymous"):
            return client
        user = who if isinstance(who, User) else self._user(who)
        client.force_login(user)
        session = client.session
        session[SESSION_TENANT_KEY] = (tenant or self._home(user)).pk
        session.save()
        return client

    def _user(self, who: str) -> User:
        if who == "outsider":
            return self.outsider
        if who == "member":
            return self.member
        return self.users[who]

    def _home(self, user: User) -> Tenant:
        return self.other_tenant if user == self.outsider else self.tenant


def make_personas() -> Personas:
    tenant = TenantFactory(slug="acme-forwarding", name="Acme Forwarding")
    other = TenantFactory(slug="rival-courier", name="Rival Courier")
    personas = Personas(tenant=tenant, other_tenant=other)
    personas.customer_account = CustomerAccountFactory(tenant=tenant, code="SHIPPER1")
    personas.other_customer_account = CustomerAccountFactory(tenant=tenant, code="SHIPPER2")
    for role in Role.values:
        user = UserFactory(email=f"{role}@acme.test")
        membership = MembershipFactory(tenant=tenant, user=user, role=role)
        if role == Role.CUSTOMER:
            with tenant_context(tenant.pk):
                MembershipCustomerAccount.objects.create(
                    membership=membership, customer_account=personas.customer_account
                )
        personas.users[role] = user
    personas.outsider = UserFactory(email="admin@rival.test")
    MembershipFactory(tenant=other, user=personas.outsider, role=Role.ADMIN)
    return personas


@pytest.fixture
def personas(db) -> Personas:
    return make_personas()

"""factory_boy factories. Tenant-owned rows are created inside their tenant's context."""

from __future__ import annotations

import factory

from tenancy.context import tenant_context
from tenancy.models import CustomerAccount, Membership, Role, Tenant, User

TEST_PASSWORD = "correct-horse-battery-staple-42"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")
    timezone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    """Creates the row inside the tenant's context (RLS WITH CHECK demands it)."""

    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)

    @classmethod
    def _create(cls, model_class, *args, tenant, **kwargs):
        with tenant_context(tenant.pk):
            obj = model_class(*args, **kwargs)
            obj.tenant = tenant
            obj.save()
            return obj


class CustomerAccountFactory(TenantOwnedFactory):
    class Meta:
        model = CustomerAccount

    code = factory.Sequence(lambda n: f"CUST{n:04d}")
    name = factory.Sequence(lambda n: f"Customer {n} GmbH")


class MembershipFactory(TenantOwnedFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.OPS

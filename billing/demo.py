"""Demo billing (seed_demo): every demo tenant bills each delivery, whatever the mode and the
customer; the first customer account has a richer card (customs clearance, demurrage after
three free days at the terminal). Safe to run again: a tenant with rate cards is left alone.
"""

from __future__ import annotations

from billing import charging, services
from billing.models import Direction, RateCard
from shipments.models import Shipment
from tenancy.context import tenant_context
from tenancy.models import CustomerAccount, Tenant

BATCH = 1000


def seed_billing(tenant: Tenant, currency: str = "EUR") -> int:
    """Rate cards for ``tenant``, then the charges of what already happened; the number of
    charges created (0 when the tenant had rate cards already)."""
    with tenant_context(tenant.pk):
        if RateCard.objects.exists():
            return 0
        services.rate_card_create(
            name="Standard tariff",
            lines=[
                services.LineSpec(
                    code="freight",
                    description="Freight, delivered",
                    amount="95.00",
                    currency=currency,
                    tax_rate="19",
                ),
                services.LineSpec(
                    code="freight",
                    description="Carrier freight",
                    amount="70.00",
                    currency=currency,
                    direction=Direction.COST,
                ),
            ],
        )
        first = CustomerAccount.objects.order_by("code").first()
        if first is not None:
            services.rate_card_create(
                name=f"{first.name} contract",
                customer_account=first,
                lines=[
                    services.LineSpec(
                        code="customs_clearance",
                        description="Customs clearance",
                        amount="65.00",
                        currency=currency,
                        tax_rate="19",
                        milestone="customs_cleared",
                    ),
                    services.LineSpec(
                        code="demurrage",
                        description="Demurrage after 3 free days",
                        amount="85.00",
                        currency=currency,
                        basis="day",
                        trigger="dwell",
                        milestone="arrived",
                        end_milestone="out_for_delivery",
                        free_days="3",
                        mode="ocean_fcl",
                    ),
                ],
            )
        ids = list(Shipment.objects.order_by("pk").values_list("pk", flat=True))
        created = 0
        for offset in range(0, len(ids), BATCH):
            created += len(charging.charges_evaluate(shipment_ids=ids[offset : offset + BATCH]))
        return created

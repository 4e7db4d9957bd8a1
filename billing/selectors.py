"""Billing reads: charges for exports, the accruals' period view, invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from billing.models import (
    CarrierInvoice,
    Charge,
    ChargeStatus,
    Direction,
    Invoice,
    InvoiceLine,
)
from billing.money import ZERO, round_money


def charge_list(
    *,
    period_start: date | None = None,
    period_end: date | None = None,
    customer_account_id: int | None = None,
    status: str | None = None,
) -> QuerySet[Charge]:
    charges = Charge.objects.select_related("shipment", "customer_account")
    if period_start:
        charges = charges.filter(accrued_on__gte=period_start)
    if period_end:
        charges = charges.filter(accrued_on__lte=period_end)
    if customer_account_id:
        charges = charges.filter(customer_account_id=customer_account_id)
    if status:
        charges = charges.filter(status=status)
    return charges.order_by("accrued_on", "id")


def charge_chunk(
    charges: QuerySet[Charge], *, after: tuple[date, int] | None, size: int
) -> list[Charge]:
    """The next ``size`` charges of ``charges`` (ordered by accrued_on, id) after the key
    ``after`` (the last row's accrued_on and id): keyset paging, each chunk one indexed range
    read however deep the export is (OFFSET would rescan every row before it)."""
    if after is not None:
        on, pk = after
        charges = charges.filter(Q(accrued_on__gt=on) | Q(accrued_on=on, id__gt=pk))
    return list(charges.select_related("invoice")[:size])


@dataclass(frozen=True)
class AccrualRow:
    customer_account_id: int | None
    customer: str
    currency: str
    accrued: Decimal
    invoiced: Decimal
    not_invoiced: Decimal
    cost: Decimal


def accruals(*, period_start: date, period_end: date) -> list[AccrualRow]:
    """Per customer and currency for the period: revenue accrued (charges less credit lines),
    of it invoiced, not yet invoiced (the open accrual), and expected cost."""
    rows = (
        Charge.objects.filter(accrued_on__gte=period_start, accrued_on__lte=period_end)
        .values("customer_account_id", "customer_account__name", "currency")
        .annotate(
            accrued=Sum("amount", filter=Q(direction=Direction.REVENUE)),
            invoiced=Sum(
                "amount", filter=Q(direction=Direction.REVENUE, status=ChargeStatus.INVOICED)
            ),
            open=Sum("amount", filter=Q(direction=Direction.REVENUE, status=ChargeStatus.ACCRUED)),
            cost=Sum("amount", filter=Q(direction=Direction.COST)),
        )
        .order_by("customer_account__name", "currency")
    )
    return [
        AccrualRow(
            customer_account_id=row["customer_account_id"],
            customer=row["customer_account__name"] or "(no customer)",
            currency=row["currency"],
            accrued=round_money(row["accrued"] or ZERO, row["currency"]),
            invoiced=round_money(row["invoiced"] or ZERO, row["currency"]),
            not_invoiced=round_money(row["open"] or ZERO, row["currency"]),
            cost=round_money(row["cost"] or ZERO, row["currency"]),
        )
        for row in rows
    ]


def invoice_list(*, status: str | None = None, customer_account_id: int | None = None):
    invoices = Invoice.objects.select_related("customer_account")
    if status:
        invoices = invoices.filter(status=status)
    if customer_account_id:
        invoices = invoices.filter(customer_account_id=customer_account_id)
    return invoices.order_by("-created_at", "-id")


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    return list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))


def carrier_invoice_list() -> QuerySet[CarrierInvoice]:
    return CarrierInvoice.objects.order_by("-imported_at", "-id")

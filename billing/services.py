"""Billing writes: rate cards, charges from rule firings, invoices (drafts, gap-free issuing,
credit notes). Reads live in billing.selectors; charges from timelines in billing.charging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import tasks
from billing.exporting import ExportFilters, check_layout
from billing.models import (
    Basis,
    Charge,
    ChargeKind,
    ChargeLine,
    ChargeRule,
    ChargeStatus,
    Direction,
    ExportJob,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Proration,
    RateCard,
    Trigger,
)
from billing.money import ZERO, round_money, to_decimal, valid_currency
from shipments.models import ReferenceKind, Shipment, ShipmentReference
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError, NotFound
from tenancy.models import CustomerAccount, Tenant, User

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"
PAYMENT_TERMS_DAYS = 30


# --- rate cards -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    code: str
    description: str
    amount: Decimal | str | int
    currency: str
    basis: str = Basis.SHIPMENT
    direction: str = Direction.REVENUE
    tax_rate: Decimal | str | int = 0
    trigger: str = Trigger.MILESTONE
    milestone: str = "delivered"
    end_milestone: str = ""
    exception_type: str = ""
    free_days: Decimal | str | int = 0
    proration: str = Proration.EXACT
    mode: str = ""
    lane: str = ""
    service: str = ""
    carrier: str = ""
    valid_from: date | None = None
    valid_to: date | None = None


@transaction.atomic
def rate_card_create(
    *, name: str, lines: Sequence[LineSpec], customer_account: CustomerAccount | None = None
) -> RateCard:
    """A rate card with its lines, each bound to one charge rule."""
    card = RateCard.objects.create(name=name, customer_account=customer_account)
    for spec in lines:
        if spec.basis not in Basis.values:
            raise DomainError(f"Unknown basis {spec.basis!r}.", field="basis")
        if spec.trigger not in Trigger.values:
            raise DomainError(f"Unknown trigger {spec.trigger!r}.", field="trigger")
        if spec.trigger == Trigger.DWELL and spec.basis != Basis.DAY:
            raise DomainError("A dwell charge is per day.", field="basis")
        line = ChargeLine.objects.create(
            rate_card=card,
            code=spec.code,
            description=spec.description,
            direction=spec.direction,
            basis=spec.basis,
            amount=to_decimal(spec.amount),
            currency=valid_currency(spec.currency),
            tax_rate=to_decimal(spec.tax_rate, field="tax_rate"),
            free_days=to_decimal(spec.free_days, field="free_days"),
            proration=spec.proration,
            mode=spec.mode,
            lane=spec.lane,
            service=spec.service,
            carrier=spec.carrier,
            valid_from=spec.valid_from,
            valid_to=spec.valid_to,
        )
        ChargeRule.objects.create(
            charge_line=line,
            trigger=spec.trigger,
            milestone=spec.milestone,
            end_milestone=spec.end_milestone,
            exception_type=spec.exception_type,
        )
    return card


# --- charges from rule firings (exceptions) -------------------------------------------------


def charge_for_firing(
    *, rule_id: int, shipment_id: int, firing_id: str, context: dict[str, Any]
) -> Charge | None:
    """One charge per firing (the workflow action "charge"); None when already charged or
    the rule does not apply to the shipment."""
    rule = ChargeRule.objects.select_related("charge_line__rate_card").filter(pk=rule_id).first()
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    if rule is None or shipment is None:
        return None
    line = rule.charge_line
    card_customer = line.rate_card.customer_account_id
    if card_customer is not None and card_customer != shipment.customer_account_id:
        return None
    now = timezone.now()
    key = f"{rule.pk}:{shipment.pk}:firing-{firing_id}"
    zone = ZoneInfo(Tenant.objects.get(pk=current_tenant_id()).timezone)
    revenue = line.direction == Direction.REVENUE
    charge = Charge(
        shipment=shipment,
        rule=rule,
        charge_line=line,
        customer_account_id=shipment.customer_account_id,
        carrier=shipment.carrier,
        direction=line.direction,
        code=line.code,
        description=line.description,
        period=f"firing-{firing_id}"[:40],
        quantity=Decimal(1),
        unit_amount=line.amount,
        amount=round_money(line.amount, line.currency),
        currency=line.currency,
        tax_rate=line.tax_rate if revenue else ZERO,
        idempotency_key=key[:120],
        evidence={"trigger": "exception", "rule": rule.pk, "firing": firing_id, **context},
        accrued_at=now,
        accrued_on=now.astimezone(zone).date(),
    )
    try:
        with transaction.atomic():
            charge.save()
    except IntegrityError:
        return None  # this firing was charged already
    return charge


# --- invoices -------------------------------------------------------------------------------


def _references(shipment_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    rows = (
        ShipmentReference.objects.filter(shipment_id__in=set(shipment_ids))
        .exclude(kind=ReferenceKind.MILEPOST)
        .order_by("pk")
        .values_list("shipment_id", "value")
    )
    for shipment_id, value in rows:
        found.setdefault(shipment_id, value)
    return found


def _line_amounts(net: Decimal, tax_rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    tax = round_money(net * tax_rate / 100, currency)
    return tax, net + tax


@transaction.atomic
def invoice_draft_create(
    *,
    customer_account: CustomerAccount,
    period_start: date,
    period_end: date,
    currency: str | None = None,
    shipment: Shipment | None = None,
    actor: User | None = None,
) -> Invoice:
    """A draft from the customer's uninvoiced revenue charges of the period (dates inclusive),
    in one currency; the charges are reserved for it (locked, then linked)."""
    charges = Charge.objects.filter(
        customer_account=customer_account,
        direction=Direction.REVENUE,
        status=ChargeStatus.ACCRUED,
        invoice__isnull=True,
        accrued_on__gte=period_start,
        accrued_on__lte=period_end,
    )
    if shipment is not None:
        charges = charges.filter(shipment=shipment)
    currencies = sorted(set(charges.values_list("currency", flat=True)))
    if currency:  # an unknown one simply has nothing due
        charges = charges.filter(currency=currency.upper())
    elif len(currencies) > 1:
        raise DomainError(
            f"The charges are in {', '.join(currencies)}: choose one currency per invoice.",
            code="several_currencies",
            field="currency",
        )
    found = list(charges.select_for_update().order_by("accrued_at", "id"))
    if not found:
        raise Conflict("Nothing to invoice for this customer and period.", code="nothing_due")
    currency = found[0].currency
    net = sum((c.amount for c in found), ZERO)
    invoice = Invoice.objects.create(
        kind=InvoiceKind.INVOICE if net >= 0 else InvoiceKind.CREDIT_NOTE,
        series=INVOICE_SERIES if net >= 0 else CREDIT_NOTE_SERIES,
        customer_account=customer_account,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        created_by=actor,
    )
    references = _references([c.shipment_id for c in found])
    lines = []
    for position, charge in enumerate(found, start=1):
        tax, total = _line_amounts(charge.amount, charge.tax_rate, currency)
        lines.append(
            InvoiceLine(
                tenant_id=invoice.tenant_id,
                invoice=invoice,
                position=position,
                charge=charge,
                shipment_reference=references.get(charge.shipment_id, ""),
                code=charge.code,
                description=charge.description,
                quantity=charge.quantity,
                unit_amount=charge.unit_amount,
                net_amount=charge.amount,
                tax_rate=charge.tax_rate,
                tax_amount=tax,
                total=total,
            )
        )
    InvoiceLine.objects.bulk_create(lines)
    Charge.objects.filter(pk__in=[c.pk for c in found]).update(invoice=invoice)
    _set_totals(invoice)
    audit_record(
        action="invoice.draft",
        target_type="invoice",
        target_id=invoice.public_id,
        actor=actor,
        changes={"charges": len(found), "total": str(invoice.total)},
    )
    return invoice


def _set_totals(invoice: Invoice) -> None:
    lines = list(InvoiceLine.objects.filter(invoice=invoice))
    invoice.net_total = sum((line.net_amount for line in lines), ZERO)
    invoice.tax_total = sum((line.tax_amount for line in lines), ZERO)
    invoice.total = invoice.net_total + invoice.tax_total
    invoice.save(update_fields=["net_total", "tax_total", "total"])


def _next_number(series: str) -> int:
    """The series' next number, under a row lock held until the transaction ends: concurrent
    issuers queue here, and a rolled-back issue gives its number back (no gaps)."""
    InvoiceCounter.objects.bulk_create(
        [InvoiceCounter(tenant_id=current_tenant_id(), series=series)], ignore_conflicts=True
    )
    counter = InvoiceCounter.objects.select_for_update().get(series=series)
    number = counter.next_number
    counter.next_number = number + 1
    counter.save(update_fields=["next_number"])
    return number


@transaction.atomic
def invoice_issue(*, invoice: Invoice, actor: User | None = None) -> Invoice:
    """Number and issue a draft. Lines whose charge was reversed meanwhile are dropped."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict("This invoice is issued already.", code="already_issued")
    stale = InvoiceLine.objects.filter(
        invoice=invoice, charge__is_reversed=True, charge__kind=ChargeKind.CHARGE
    )
    stale_charges = list(stale.values_list("charge_id", flat=True))
    if stale_charges:
        stale.delete()
        Charge.objects.filter(pk__in=stale_charges).update(invoice=None)
        _set_totals(invoice)
    if not InvoiceLine.objects.filter(invoice=invoice).exists():
        raise Conflict("The invoice has no lines left.", code="empty_invoice")
    sequence = _next_number(invoice.series)
    today = timezone.now().astimezone(ZoneInfo(Tenant.objects.get(pk=invoice.tenant_id).timezone))
    invoice.sequence = sequence
    invoice.number = f"{invoice.series}-{sequence:06d}"
    invoice.issue_date = today.date()
    invoice.due_date = today.date() + timedelta(days=PAYMENT_TERMS_DAYS)
    invoice.issued_at = timezone.now()
    invoice.issued_by = actor
    invoice.status = InvoiceStatus.ISSUED
    invoice.save()
    charge_ids = list(
        InvoiceLine.objects.filter(invoice=invoice, charge__isnull=False).values_list(
            "charge_id", flat=True
        )
    )
    if invoice.credits_id is None:
        Charge.objects.filter(pk__in=charge_ids).update(status=ChargeStatus.INVOICED)
    else:  # a credit note: its charges are credited (and stay live: not billed again)
        Charge.objects.filter(pk__in=charge_ids).update(status=ChargeStatus.CREDITED)
    audit_record(
        action="invoice.issue",
        target_type="invoice",
        target_id=invoice.public_id,
        actor=actor,
        changes={"number": invoice.number, "total": str(invoice.total)},
    )
    return invoice


@transaction.atomic
def credit_note_create(*, invoice: Invoice, actor: User | None = None) -> Invoice:
    """A draft credit note reversing every line of an issued invoice."""
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise Conflict("Only an issued invoice can be credited.", code="not_creditable")
    if Invoice.objects.filter(credits=invoice).exists():
        raise Conflict("This invoice has a credit note already.", code="already_credited")
    note = Invoice.objects.create(
        kind=InvoiceKind.CREDIT_NOTE,
        series=CREDIT_NOTE_SERIES,
        customer_account_id=invoice.customer_account_id,
        currency=invoice.currency,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        credits=invoice,
        created_by=actor,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                tenant_id=note.tenant_id,
                invoice=note,
                position=line.position,
                charge_id=line.charge_id,
                shipment_reference=line.shipment_reference,
                code=line.code,
                description=f"Credit: {line.description}",
                quantity=-line.quantity,
                unit_amount=line.unit_amount,
                net_amount=-line.net_amount,
                tax_rate=line.tax_rate,
                tax_amount=-line.tax_amount,
                total=-line.total,
            )
            for line in InvoiceLine.objects.filter(invoice=invoice)
        ]
    )
    _set_totals(note)
    return note


def invoice_get(public_id: str) -> Invoice:
    invoice = Invoice.objects.filter(public_id=public_id).first()
    if invoice is None:
        raise NotFound()
    return invoice


# --- export jobs ----------------------------------------------------------------------------


def export_job_create(
    *, kind: str, file_format: str, filters: ExportFilters, actor: User | None
) -> ExportJob:
    """An export job for the charges matching ``filters``, written by Celery after commit
    (billing.tasks.export_run); its ``total`` is the number of charges it will write."""
    check_layout(kind, file_format)
    if (
        filters.customer is not None
        and not CustomerAccount.objects.filter(pk=filters.customer).exists()
    ):
        raise NotFound("Unknown customer account.")
    job = ExportJob.objects.create(
        kind=kind,
        format=file_format,
        filters=filters.as_json(),
        total=filters.charges().count(),
        created_by=actor,
    )
    audit_record(
        action="billing_export.start",
        target_type="billing_export",
        target_id=job.pk,
        actor=actor,
        changes={"kind": kind, "format": file_format, "filters": job.filters, "rows": job.total},
    )
    tenant_id, job_id = job.tenant_id, job.pk

    def enqueue() -> None:
        tasks.export_run.delay(tenant_id=tenant_id, job_id=job_id)

    transaction.on_commit(enqueue, robust=True)
    return job

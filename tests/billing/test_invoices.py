"""Invoices: drafts from uninvoiced charges, one currency, tax per line, gap-free numbers
under concurrent issuers, immutability once issued, credit notes, accruals."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connections, transaction

from billing import selectors, services
from billing.models import Charge, ChargeStatus, Invoice, InvoiceLine, InvoiceStatus
from tenancy.context import tenant_context
from tenancy.errors import Conflict, DomainError
from tests.billing.factories import charges_of, freight, rate_card, record, shipment

MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def _delivered(acme, count: int, *, day: int = 5, customer=None) -> list:
    ships = []
    for _ in range(count):
        ship = shipment(acme.tenant, customer_account=customer or acme.customer_account)
        record(acme.tenant, ship, "delivered", datetime(2026, 3, day, 12, tzinfo=UTC))
        ships.append(ship)
    return ships


def _draft(acme, **kwargs) -> Invoice:
    with tenant_context(acme.tenant.pk):
        return services.invoice_draft_create(
            customer_account=kwargs.pop("customer", acme.customer_account),
            period_start=MARCH[0],
            period_end=MARCH[1],
            **kwargs,
        )


@pytest.mark.django_db
def test_draft_issue_totals_tax_and_accruals(acme):
    rate_card(
        acme.tenant,
        freight("100.005"),  # rounds half up per charge: 100.01
        services.LineSpec(
            code="fuel", description="Fuel surcharge", amount="7.5", currency="EUR", tax_rate="0"
        ),
    )
    _delivered(acme, 2)
    _delivered(acme, 1, customer=acme.other_customer_account)
    invoice = _draft(acme)
    with tenant_context(acme.tenant.pk):
        lines = selectors.invoice_lines(invoice)
        assert len(lines) == 4 and invoice.status == InvoiceStatus.DRAFT and not invoice.number
        freight_line = next(line for line in lines if line.code == "freight")
        assert (freight_line.net_amount, freight_line.tax_amount) == (
            Decimal("100.01"),
            Decimal("19.00"),
        )
        assert invoice.net_total == Decimal("215.02")
        assert invoice.tax_total == Decimal("38.00")
        assert invoice.total == Decimal("253.02")
        [row] = [
            r
            for r in selectors.accruals(period_start=MARCH[0], period_end=MARCH[1])
            if r.customer_account_id == acme.customer_account.pk
        ]
        assert (row.accrued, row.invoiced, row.not_invoiced) == (
            Decimal("215.02"),
            Decimal("0"),
            Decimal("215.02"),
        )
        issued = services.invoice_issue(invoice=invoice, actor=acme.users["finance"])
        assert issued.number == "INV-000001" and issued.issue_date is not None
        [row] = [
            r
            for r in selectors.accruals(period_start=MARCH[0], period_end=MARCH[1])
            if r.customer_account_id == acme.customer_account.pk
        ]
        assert (row.invoiced, row.not_invoiced) == (Decimal("215.02"), Decimal("0"))
        # Charged once: nothing left to draft for this customer.
        with pytest.raises(Conflict):
            services.invoice_draft_create(
                customer_account=acme.customer_account, period_start=MARCH[0], period_end=MARCH[1]
            )
        with pytest.raises(Conflict):
            services.invoice_issue(invoice=issued)


@pytest.mark.django_db
def test_issued_invoices_are_immutable_in_the_database(acme):
    rate_card(acme.tenant, freight())
    _delivered(acme, 1)
    invoice = _draft(acme)
    with tenant_context(acme.tenant.pk):
        services.invoice_issue(invoice=invoice)
        for change in (
            lambda: Invoice.objects.filter(pk=invoice.pk).update(total=0),
            lambda: InvoiceLine.objects.filter(invoice=invoice).update(net_amount=1),
            lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
        ):
            with pytest.raises(DatabaseError), transaction.atomic():
                change()


@pytest.mark.django_db
def test_one_currency_per_invoice(acme):
    rate_card(acme.tenant, freight("100", currency="EUR"))
    rate_card(acme.tenant, freight("15000", currency="JPY", code="handling"), name="JPY")
    _delivered(acme, 1)
    with pytest.raises(DomainError) as error:
        _draft(acme)
    assert error.value.field == "currency"
    yen = _draft(acme, currency="JPY")
    assert (yen.currency, yen.net_total, yen.tax_total) == ("JPY", 15000, 2850)
    assert _draft(acme, currency="EUR").net_total == Decimal("100.00")


@pytest.mark.django_db
def test_credit_note_reverses_an_issued_invoice(acme):
    rate_card(acme.tenant, freight("50"))
    ships = _delivered(acme, 2)
    with tenant_context(acme.tenant.pk):
        invoice = services.invoice_issue(invoice=_draft(acme))
        note = services.credit_note_create(invoice=invoice)
        assert note.kind == "credit_note" and note.total == -invoice.total
        note = services.invoice_issue(invoice=note)
        assert note.number == "CN-000001" and note.credits_id == invoice.pk
        assert {c.status for c in Charge.objects.all()} == {ChargeStatus.CREDITED}
        with pytest.raises(Conflict):
            services.credit_note_create(invoice=invoice)
    # Still charged once: a later timeline change bills nothing again.
    record(acme.tenant, ships[0], "proof_of_delivery", datetime(2026, 3, 6, tzinfo=UTC))
    assert len(charges_of(acme.tenant)) == 2


@pytest.mark.django_db
def test_a_voided_delivery_leaves_a_draft_and_a_credit_follows_an_issued_invoice(acme):
    from shipments.models import TrackingEvent
    from shipments.services import event_void

    rate_card(acme.tenant, freight("100"))
    first, second = _delivered(acme, 2)
    draft = _draft(acme)
    with tenant_context(acme.tenant.pk):
        event = TrackingEvent.objects.get(shipment=first, milestone="delivered")
        event_void(event=event, reason="booked twice", actor=acme.users["ops"])
        issued = services.invoice_issue(invoice=draft)
        assert issued.net_total == Decimal("100.00")  # the voided one dropped at issue
        event = TrackingEvent.objects.get(shipment=second, milestone="delivered")
        event_void(event=event, reason="never delivered", actor=acme.users["ops"])
        # The invoiced charge gets a credit line: the next invoice is a credit note.
        note = services.invoice_draft_create(
            customer_account=acme.customer_account,
            period_start=date(2026, 1, 1),
            period_end=date(2027, 12, 31),
        )
        assert note.kind == "credit_note" and note.net_total == Decimal("-100.00")


ISSUERS = 10


@pytest.mark.django_db(transaction=True)
def test_numbers_have_no_gaps_under_ten_concurrent_issuers(acme):
    rate_card(acme.tenant, freight("10"))
    customers = []
    from tests.tenancy.factories import CustomerAccountFactory

    for n in range(ISSUERS):
        customer = CustomerAccountFactory(tenant=acme.tenant, code=f"C{n}")
        customers.append(customer)
        _delivered(acme, 1, customer=customer)
    drafts = [_draft(acme, customer=c) for c in customers]
    barrier = threading.Barrier(ISSUERS)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issue(invoice: Invoice) -> None:
        try:
            barrier.wait(timeout=20)
            with tenant_context(acme.tenant.pk), transaction.atomic():
                numbers.append(services.invoice_issue(invoice=invoice).number)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()  # each thread had its own real connection

    threads = [threading.Thread(target=issue, args=(d,)) for d in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == [f"INV-{n:06d}" for n in range(1, ISSUERS + 1)]
    with tenant_context(acme.tenant.pk):
        sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, ISSUERS + 1))

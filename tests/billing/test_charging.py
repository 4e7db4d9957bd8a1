"""Charges from milestones: each trigger creates exactly one charge; replays, re-ingestion,
corrections and voids never bill twice and leave an auditable credit line."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import charging
from billing.models import ChargeKind, ChargeStatus, Direction
from billing.services import LineSpec
from integrations.workflow.actions import action_named
from shipments.models import TrackingEvent
from shipments.services import event_correct, event_void, timelines_refresh
from tenancy.context import tenant_context
from tests.billing.factories import (
    charges_of,
    event,
    freight,
    rate_card,
    record,
    record_batch,
    shipment,
)

pytestmark = pytest.mark.django_db

DELIVERED_AT = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)


def test_delivered_creates_exactly_one_charge_with_evidence(acme):
    rate_card(acme.tenant, freight("120.00"))
    ship = shipment(acme.tenant, customer_account=acme.customer_account, carrier="DHL")
    record(acme.tenant, ship, "picked_up", DELIVERED_AT - timedelta(days=2))
    assert charges_of(acme.tenant) == []
    record(acme.tenant, ship, "delivered", DELIVERED_AT, location="DEHAM")
    [charge] = charges_of(acme.tenant)
    assert (charge.kind, charge.direction, charge.code) == ("charge", "revenue", "freight")
    assert charge.amount == Decimal("120.00") and charge.currency == "EUR"
    assert charge.customer_account_id == acme.customer_account.pk
    assert charge.status == ChargeStatus.ACCRUED
    assert charge.idempotency_key == f"{charge.rule_id}:{ship.pk}:once"
    [event] = charge.evidence["events"]
    assert event["milestone"] == "delivered" and event["source_name"] == "carrier-edi"
    assert datetime.fromisoformat(event["at"]) == DELIVERED_AT and event["location"] == "DEHAM"
    # The other tenant has no charges (and cannot see these).
    assert charges_of(acme.other_tenant) == []


def test_replay_and_reingestion_never_bill_twice(acme):
    rate_card(acme.tenant, freight())
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    record(acme.tenant, ship, "delivered", DELIVERED_AT)  # same message again (deduped)
    # The same fact from another source, and a plain recompute.
    record(acme.tenant, ship, "delivered", DELIVERED_AT, key="other", source="driver-app")
    with tenant_context(acme.tenant.pk):
        timelines_refresh(shipment_ids=[ship.pk])
        charging.charges_evaluate(shipment_ids=[ship.pk])
    assert len(charges_of(acme.tenant)) == 1


def test_cost_lines_give_an_expected_cost_and_quantities_follow_the_basis(acme):
    rate_card(
        acme.tenant,
        freight("100"),
        LineSpec(
            code="freight",
            description="Carrier freight",
            amount="2.5",
            currency="EUR",
            basis="container",
            direction=Direction.COST,
        ),
    )
    ship = shipment(
        acme.tenant,
        references=[
            ("tracking_number", "TRK1"),
            ("container", "MSCU1234565"),
            ("container", "MSCU7654321"),
        ],
        customer_account=acme.customer_account,
    )
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    by_direction = {c.direction: c for c in charges_of(acme.tenant)}
    assert by_direction["revenue"].amount == Decimal("100.00")
    assert by_direction["cost"].quantity == 2 and by_direction["cost"].amount == Decimal("5.00")
    assert by_direction["cost"].tax_rate == 0


def test_conditions_and_customer_cards(acme):
    rate_card(acme.tenant, freight("100"))  # everyone
    rate_card(acme.tenant, freight("80", mode="air"), name="Air")  # air only
    rate_card(acme.tenant, freight("90"), customer=acme.customer_account, name="Customer 1")
    mine = shipment(acme.tenant, customer_account=acme.customer_account)
    other = shipment(acme.tenant, customer_account=acme.other_customer_account)
    record(acme.tenant, mine, "delivered", DELIVERED_AT)
    record(acme.tenant, other, "delivered", DELIVERED_AT)
    # The customer's own freight price replaces the general one; the air line never applies.
    assert [c.amount for c in charges_of(acme.tenant, mine)] == [Decimal("90.00")]
    assert [c.amount for c in charges_of(acme.tenant, other)] == [Decimal("100.00")]


def test_correction_credits_and_reissues_and_void_credits(acme):
    card = rate_card(acme.tenant, freight("100", valid_to=datetime(2026, 3, 31).date()))
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    [original] = charges_of(acme.tenant)
    with tenant_context(acme.tenant.pk):
        event = TrackingEvent.objects.get(shipment=ship, milestone="delivered")
        corrected = event_correct(
            event=event,
            reason="wrong day",
            actor=acme.users["ops"],
            occurred_at=DELIVERED_AT + timedelta(days=1),
        )
    charges = charges_of(acme.tenant)
    assert [(c.kind, c.amount) for c in charges] == [
        ("charge", Decimal("100.00")),
        ("credit", Decimal("-100.00")),
        ("charge", Decimal("100.00")),
    ]
    original, credit, reissued = charges
    assert original.is_reversed and original.status == ChargeStatus.CREDITED
    assert credit.reverses_id == original.pk and credit.evidence["reason"] == "corrected"
    assert reissued.idempotency_key.endswith(f"#after{original.pk}")
    assert datetime.fromisoformat(reissued.evidence["events"][0]["at"]) == DELIVERED_AT + timedelta(
        days=1
    )
    # Voiding the milestone credits the live charge; nothing stays billable.
    with tenant_context(acme.tenant.pk):
        event_void(event=corrected, reason="not delivered", actor=acme.users["ops"])
    charges = charges_of(acme.tenant)
    assert [c.kind for c in charges] == ["charge", "credit", "charge", "credit"]
    assert sum(c.amount for c in charges) == 0
    assert all(c.is_reversed for c in charges if c.kind == ChargeKind.CHARGE)
    assert card.pk


def test_a_credit_of_an_invoiced_charge_waits_for_the_next_invoice(acme):
    rate_card(acme.tenant, freight("100"))
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    with tenant_context(acme.tenant.pk):
        from billing.models import Charge

        Charge.objects.update(status=ChargeStatus.INVOICED)
        event = TrackingEvent.objects.get(shipment=ship, milestone="delivered")
        event_void(event=event, reason="duplicate shipment", actor=acme.users["ops"])
    original, credit = charges_of(acme.tenant)
    assert original.status == ChargeStatus.INVOICED and original.is_reversed
    assert credit.status == ChargeStatus.ACCRUED and credit.amount == Decimal("-100.00")


DEMURRAGE = LineSpec(
    code="demurrage",
    description="Demurrage",
    amount="75",
    currency="EUR",
    basis="day",
    trigger="dwell",
    milestone="arrived",
    end_milestone="out_for_delivery",
    free_days="3",
)


def test_demurrage_is_prorated_by_local_day_across_a_dst_change(acme):
    rate_card(acme.tenant, DEMURRAGE)
    ship = shipment(acme.tenant, mode="ocean_fcl", customer_account=acme.customer_account)
    arrived = datetime(2026, 3, 26, 11, 0, tzinfo=UTC)  # 12:00 CET at the terminal (Hamburg)
    left = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)  # 06:00 CEST
    record_batch(
        acme.tenant,
        [
            event(ship, "arrived", arrived, location="DEHAM"),
            event(ship, "out_for_delivery", left),
        ],
    )
    charges = charges_of(acme.tenant)
    # Free time ends 2026-03-29 12:00 CEST (3 days on the wall clock, after the DST change):
    # the rest of that 23-hour day is 12/23; the 30th in full; 6/24 of the 31st.
    assert [(c.period, c.quantity, c.amount) for c in charges] == [
        ("2026-03-29", Decimal("0.5217"), Decimal("39.13")),
        ("2026-03-30", Decimal("1.0000"), Decimal("75.00")),
        ("2026-03-31", Decimal("0.2500"), Decimal("18.75")),
    ]
    first = charges[0].evidence
    assert first["zone"] == "Europe/Berlin" and first["day_hours"] == "23"
    assert first["free_time_ends"] == "2026-03-29T10:00:00+00:00"
    assert [e["milestone"] for e in first["events"]] == ["arrived", "out_for_delivery"]
    with tenant_context(acme.tenant.pk):
        assert charging.charges_evaluate(shipment_ids=[ship.pk]) == []


def test_demurrage_accrues_while_the_container_sits_at_the_terminal(acme):
    rate_card(acme.tenant, DEMURRAGE)
    ship = shipment(acme.tenant, mode="ocean_fcl", customer_account=acme.customer_account)
    now = timezone.now()
    arrived = now - timedelta(days=2)
    record(acme.tenant, ship, "arrived", arrived, location="NLRTM")
    assert charges_of(acme.tenant) == []  # within free time
    later = now + timedelta(days=3)  # the daily evaluation (billing.tasks), days later
    with tenant_context(acme.tenant.pk):
        charging.charges_evaluate(shipment_ids=[ship.pk], now=later)
    open_days = charges_of(acme.tenant)
    assert len(open_days) in (1, 2) and all(c.evidence["open"] for c in open_days)
    assert open_days[-1].quantity == 1  # complete days only while open
    with tenant_context(acme.tenant.pk):
        assert charging.charges_evaluate(shipment_ids=[ship.pk], now=later) == []


@dataclass
class Firing:
    id: str
    config: dict[str, Any]
    shipment_id: int | None
    context: dict[str, Any] = field(default_factory=dict)
    rule_id: int = 1
    rule_name: str = "customs hold fee"


def test_the_charge_action_charges_once_per_firing(acme):
    card = rate_card(
        acme.tenant,
        LineSpec(
            code="customs_inspection",
            description="Customs inspection",
            amount="45",
            currency="EUR",
            trigger="exception",
            milestone="",
            exception_type="customs_hold",
        ),
    )
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    action = action_named("charge")
    with tenant_context(acme.tenant.pk):
        rule = card.lines.get().rules.get()
        config = action.validate({"rule": str(rule.pk)})
        firing = Firing("f-1", config, ship.pk, {"exception": "customs_hold"})
        action.run(firing)
        action.run(firing)  # replayed
    [charge] = charges_of(acme.tenant)
    assert charge.period == "firing-f-1" and charge.evidence["exception"] == "customs_hold"
    # The timeline hook leaves exception charges alone.
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    assert len(charges_of(acme.tenant)) == 1


def test_the_hook_is_set_based(acme):
    """Constant queries per batch: 1 without rules, a fixed few with them."""
    ships = [shipment(acme.tenant, customer_account=acme.customer_account) for _ in range(3)]
    with tenant_context(acme.tenant.pk), CaptureQueriesContext(connection) as none:
        charging.timelines_changed([s.pk for s in ships])
    assert len(none.captured_queries) == 1
    rate_card(acme.tenant, freight(), DEMURRAGE)

    def count(targets):
        with tenant_context(acme.tenant.pk), CaptureQueriesContext(connection) as queries:
            charging.timelines_changed([s.pk for s in targets])
        return len(queries.captured_queries)

    for ship in ships:
        record(acme.tenant, ship, "delivered", DELIVERED_AT)
    many = [shipment(acme.tenant) for _ in range(6)]
    for ship in many:
        record(acme.tenant, ship, "delivered", DELIVERED_AT)
    assert count(ships[:1]) == count(ships + many)


def test_the_daily_task_accrues_open_dwells_only(acme):
    from billing import tasks

    rate_card(acme.tenant, DEMURRAGE)
    now = timezone.now()
    waiting = shipment(acme.tenant, mode="ocean_fcl", customer_account=acme.customer_account)
    record(acme.tenant, waiting, "arrived", now - timedelta(days=2), location="DEHAM")
    gone = shipment(acme.tenant, mode="ocean_fcl", customer_account=acme.customer_account)
    record_batch(  # picked up within its free time
        acme.tenant,
        [
            event(gone, "arrived", now - timedelta(days=9), location="DEHAM"),
            event(gone, "out_for_delivery", now - timedelta(days=8)),
        ],
    )
    assert charges_of(acme.tenant) == []
    # The beat task: every tenant, nothing due yet (still within the free time).
    assert tasks.accrue_dwell() == {acme.tenant.pk: 0, acme.other_tenant.pk: 0}
    with tenant_context(acme.tenant.pk):
        assert charging.dwell_accrue(now=now + timedelta(days=4)) >= 2
        assert charging.dwell_accrue(now=now + timedelta(days=4)) == 0  # idempotent per day
    assert {c.shipment_id for c in charges_of(acme.tenant)} == {waiting.pk}


def test_demo_cards_bill_every_delivery_once(acme):
    from billing.demo import seed_billing

    ship = shipment(acme.tenant, mode="air", customer_account=acme.other_customer_account)
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    assert seed_billing(acme.tenant) == 2  # what was delivered before: revenue and cost
    assert seed_billing(acme.tenant) == 0
    api_made = shipment(acme.tenant, mode="parcel")  # any mode, even without a customer
    record(acme.tenant, api_made, "delivered", DELIVERED_AT)
    assert {c.code for c in charges_of(acme.tenant, api_made)} == {"freight"}
    assert len(charges_of(acme.tenant)) == 4

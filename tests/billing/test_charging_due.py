"""The hook's fast path (first charges in SQL) and its query for the due shipments leave the
evaluation only the shipments with something to charge or credit: a batch of settled
shipments takes three queries, and the result equals evaluating every shipment in Python,
whatever happened to them (charged, corrected or voided without the hook, a rate changed,
dwell days, quantities per container; customer cards, conditions, lanes, validity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing import charging
from billing.models import Charge, ChargeLine, Direction
from billing.services import LineSpec
from shipments import hooks
from shipments.models import TrackingEvent
from shipments.services import event_correct, event_void
from tenancy.context import tenant_context
from tests.billing.factories import freight, rate_card, record, shipment

pytestmark = pytest.mark.django_db

DELIVERED_AT = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
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
PER_CONTAINER = LineSpec(
    code="freight",
    description="Carrier freight",
    amount="2.5",
    currency="EUR",
    basis="container",
    direction=Direction.COST,
)


def _queries(acme, ids) -> int:
    with tenant_context(acme.tenant.pk), CaptureQueriesContext(connection) as queries:
        charging.timelines_changed(ids)
    return len(queries.captured_queries)


def test_a_batch_of_settled_shipments_takes_three_queries(acme):
    rate_card(acme.tenant, freight("100"), freight("60", direction=Direction.COST))
    delivered = [shipment(acme.tenant, customer_account=acme.customer_account) for _ in range(4)]
    for ship in delivered:
        record(acme.tenant, ship, "delivered", DELIVERED_AT)
    waiting = [shipment(acme.tenant) for _ in range(3)]
    for ship in waiting:
        record(acme.tenant, ship, "picked_up", DELIVERED_AT)
    with tenant_context(acme.tenant.pk):
        charges = Charge.objects.count()
    assert charges == 8
    # The rules, the first charges (none), the one query finding nobody due: no COPY.
    assert _queries(acme, [s.pk for s in delivered + waiting]) == 3
    with tenant_context(acme.tenant.pk):
        assert Charge.objects.count() == charges
    # A newly delivered shipment among them is found and charged.
    record(acme.tenant, waiting[0], "delivered", DELIVERED_AT)
    with tenant_context(acme.tenant.pk):
        assert Charge.objects.filter(shipment=waiting[0]).count() == 2


def _state(acme) -> list[tuple]:
    return sorted(
        (
            c.shipment_id,
            c.rule_id,
            c.kind,
            c.period,
            c.quantity,
            c.amount,
            c.accrued_at,
            c.is_reversed,
            c.status,
            c.idempotency_key,
        )
        for c in Charge.objects.all()
    )


def _evaluated(acme, ids: list[int], *, only_due: bool) -> tuple[int, list[tuple]]:
    """The charges after one evaluation, rolled back (so both variants start equal)."""
    with tenant_context(acme.tenant.pk):
        point = transaction.savepoint()
        new = charging.charges_evaluate(shipment_ids=ids, only_due=only_due, now=NOW)
        state = _state(acme)
        transaction.savepoint_rollback(point)
    return len(new), state


def test_evaluating_the_due_shipments_equals_evaluating_all(acme, monkeypatch):
    rate_card(acme.tenant, freight("100"), PER_CONTAINER, DEMURRAGE)
    rate_card(
        acme.tenant,
        freight("90"),
        LineSpec(
            code="customs", description="Customs", amount="40", currency="EUR", milestone="arrived"
        ),
        customer=acme.customer_account,
        name="Customer 1",
    )
    ships = {
        name: shipment(
            acme.tenant,
            customer_account=acme.customer_account if n % 2 else acme.other_customer_account,
            references=[("container", f"MSCU{n:06d}5"), ("container", f"MSCU{n:06d}7")],
        )
        for n, name in enumerate(
            ["charged", "corrected", "voided", "unseen", "waiting", "dwelling", "air"]
        )
    }
    for name in ("charged", "corrected", "voided"):
        record(acme.tenant, ships[name], "delivered", DELIVERED_AT)
    record(acme.tenant, ships["dwelling"], "arrived", DELIVERED_AT - timedelta(days=8))
    record(acme.tenant, ships["waiting"], "picked_up", DELIVERED_AT)
    # What happens next happens without the hook: the evaluation has to catch up.
    monkeypatch.setattr(hooks, "_timeline_changed", [])
    record(acme.tenant, ships["unseen"], "delivered", DELIVERED_AT)
    with tenant_context(acme.tenant.pk):
        moved = TrackingEvent.objects.get(shipment=ships["corrected"], milestone="delivered")
        event_correct(
            event=moved,
            reason="wrong day",
            actor=acme.users["ops"],
            occurred_at=DELIVERED_AT + timedelta(hours=5),
        )
        gone = TrackingEvent.objects.get(shipment=ships["voided"], milestone="delivered")
        event_void(event=gone, reason="not delivered", actor=acme.users["ops"])
    ids = [s.pk for s in ships.values()]
    due_new, due_state = _evaluated(acme, ids, only_due=True)
    all_new, all_state = _evaluated(acme, ids, only_due=False)
    assert due_state == all_state and due_new == all_new
    assert due_new > 5  # it did catch up: new, corrected, voided, dwell days
    # A rate changed: every charged shipment is due again, both ways alike.
    with tenant_context(acme.tenant.pk):
        charging.charges_evaluate(shipment_ids=ids, now=NOW)
        settled = _state(acme)
        assert _evaluated(acme, ids, only_due=True)[1] == settled
        ChargeLine.objects.filter(code="freight", amount=Decimal("100")).update(amount=110)
    due_new, due_state = _evaluated(acme, ids, only_due=True)
    all_new, all_state = _evaluated(acme, ids, only_due=False)
    assert due_state == all_state and due_new == all_new > 0


def test_a_charge_written_first_elsewhere_is_skipped_not_an_error(acme, monkeypatch):
    """ON CONFLICT DO NOTHING: another transaction charged the shipment between this one's
    query and its insert (simulated: this one evaluates facts read before that charge); the
    row is skipped, no IntegrityError, nothing billed twice."""
    rate_card(acme.tenant, freight("100"))
    ship = shipment(acme.tenant, customer_account=acme.customer_account)
    monkeypatch.setattr(hooks, "_timeline_changed", [])
    record(acme.tenant, ship, "delivered", DELIVERED_AT)
    original = charging._facts
    with tenant_context(acme.tenant.pk):
        rules = charging.active_rules()
        stale = original(acme.tenant.pk, ["delivered"], [ship.pk], rules, only_due=False)
        assert [f.charged for f in stale] == [False]
        assert len(charging.charges_evaluate(shipment_ids=[ship.pk])) == 1  # the other one
        monkeypatch.setattr(charging, "_facts", lambda *args, **kwargs: stale)
        assert charging.charges_evaluate(shipment_ids=[ship.pk]) == []
        assert Charge.objects.count() == 1


def test_the_first_charges_in_sql_equal_the_evaluation(acme, monkeypatch):
    """Plain rules only (the fast path's case): conditions, lanes, validity on the local date,
    a customer's own line replacing the general one, an expected cost, and the hook off."""
    rate_card(
        acme.tenant,
        freight("100", tax_rate="19"),
        freight("80", mode="AIR ", description="Air freight"),
        freight("7", code="toll", lane="DEHAM-*"),
        freight("9", code="ferry", lane="*-GBLON", carrier="dsv"),
        freight("5", code="peak", valid_from=datetime(2026, 3, 6).date()),
        freight("60", direction=Direction.COST, description="Carrier"),
    )
    rate_card(
        acme.tenant,
        freight("90", description="Contract freight"),
        customer=acme.customer_account,
        name="Customer 1",
    )
    monkeypatch.setattr(hooks, "_timeline_changed", [])
    shapes = [
        {"mode": "air", "origin_locode": "DEHAM", "destination_locode": "FRPAR"},
        {
            "mode": "road_ftl",
            "origin_locode": "NLRTM",
            "destination_locode": "GBLON",
            "carrier": "DSV",
        },
        {
            "mode": "road_ftl",
            "origin_locode": "DEHAM",
            "destination_locode": "GBLON",
            "carrier": "DHL",
        },
        {"mode": "ocean_fcl"},
    ]
    ids = []
    for n, shape in enumerate(shapes * 2):
        customer = acme.customer_account if n % 2 else acme.other_customer_account
        ship = shipment(acme.tenant, customer_account=customer, **shape)
        # Around midnight: the local date (tenant zone) decides whether "peak" applies.
        at = datetime(2026, 3, 5, 22, 30, tzinfo=UTC) + timedelta(hours=n % 3)
        record(acme.tenant, ship, "delivered", at)
        ids.append(ship.pk)
    waiting = shipment(acme.tenant)
    record(acme.tenant, waiting, "picked_up", DELIVERED_AT)
    ids.append(waiting.pk)
    with tenant_context(acme.tenant.pk):
        rules = charging.active_rules()
        assert all(charging._settles(r) for r in rules)
        point = transaction.savepoint()
        fast = charging._first_charges(
            acme.tenant.pk, ids, rules, charging.ZoneInfo(rules[0].tenant.timezone)
        )
        transaction.savepoint_rollback(point)
    assert len(fast) > 20  # the fast path did the work
    due_new, due_state = _evaluated(acme, ids, only_due=True)
    all_new, all_state = _evaluated(acme, ids, only_due=False)
    assert due_state == all_state and due_new == all_new == len(fast)
    with tenant_context(acme.tenant.pk):
        charging.charges_evaluate(shipment_ids=ids)
        evidence = {(c.shipment_id, c.rule_id): c.evidence for c in Charge.objects.all()}
    point_state = _evaluated(acme, ids, only_due=False)
    assert point_state == (0, due_state)  # nothing left to do
    # The evidence written by SQL is the evaluation's.
    with tenant_context(acme.tenant.pk):
        Charge.objects.all().delete()
        charging.charges_evaluate(shipment_ids=ids, only_due=False)
        assert {(c.shipment_id, c.rule_id): c.evidence for c in Charge.objects.all()} == evidence

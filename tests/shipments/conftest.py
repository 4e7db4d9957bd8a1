"""Shared helpers for shipment tests: tenants with their default templates, shipments, events."""

from __future__ import annotations

import itertools
import types
from datetime import UTC, datetime, timedelta

import pytest

from shipments.services import NewEvent, shipment_create
from tenancy.context import tenant_context
from tenancy.services import tenant_create
from tests.shipments.places_fixtures import place_registry  # noqa: F401  (fixture)
from tests.tenancy.factories import UserFactory

BOOKED = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def new_tenant(slug: str | None = None):
    """A tenant made the production way: it owns a copy of every default template."""
    n = next(_numbers)
    return tenant_create(slug=slug or f"ship-tenant-{n}", name=f"Ship Tenant {n}")


def new_shipment(tenant, *, mode: str = "road_ftl", reference: str | None = None, **kwargs):
    reference = reference or f"REF-{next(_numbers):06d}"
    with tenant_context(tenant.pk):
        return shipment_create(
            mode=mode,
            references=[("tracking_number", reference)],
            booked_at=kwargs.pop("booked_at", BOOKED),
            **kwargs,
        )


def act(shipment, milestone: str, at: datetime, **kwargs) -> NewEvent:
    return NewEvent(
        shipment_id=shipment.pk,
        milestone=milestone,
        occurred_at=at,
        classifier=kwargs.pop("classifier", "ACT"),
        source_kind=kwargs.pop("source_kind", "integration"),
        source_name=kwargs.pop("source_name", "carrier:TEST"),
        dedupe_key=kwargs.pop("dedupe_key", f"{milestone}:{kwargs.get('classifier', 'ACT')}"),
        **kwargs,
    )


def est(shipment, milestone: str, at: datetime, **kwargs) -> NewEvent:
    kwargs.setdefault("dedupe_key", f"{milestone}:EST:{kwargs.get('source_kind', 'integration')}")
    return act(shipment, milestone, at, classifier="EST", **kwargs)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def tenant(db):
    return new_tenant()


@pytest.fixture
def other_tenant(db):
    return new_tenant()


@pytest.fixture
def ops_user(db):
    return UserFactory()


class TimelineClock:
    """The 'now' timelines are computed at; events keep their real receipt time."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def timeline_clock(monkeypatch) -> TimelineClock:
    """Timelines computed as at BOOKED (settable through ``.at``). The tests' dates are fixed
    in the past, and an overdue milestone is expected 'now or later' (milestones.engine): on the
    real clock every projection here would be today."""
    clock = TimelineClock(BOOKED)
    monkeypatch.setattr("shipments.timeline.timezone", types.SimpleNamespace(now=clock.now))
    return clock

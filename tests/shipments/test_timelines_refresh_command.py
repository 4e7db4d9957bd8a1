"""``manage.py timelines_refresh`` brings the cached timelines of existing shipments up to what
the engine computes now: per tenant, in batches, parents before children, idempotently."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from shipments.models import Shipment
from shipments.selectors import shipment_timeline
from shipments.services import events_record, shipment_link
from tenancy.context import tenant_context
from tests.shipments.conftest import BOOKED, act, est, hours, new_shipment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("timeline_clock")]

CACHED = [f for f in Shipment.CACHED_TIMELINE_FIELDS if f != "timeline_computed_at"]


def _cached(shipment) -> dict:
    stored = Shipment.objects.filter(pk=shipment.pk).values(*CACHED).get()
    stored["timeline"] = {k: v for k, v in stored["timeline"].items() if k != "evaluated_at"}
    return stored


def _stale(*shipments) -> None:
    """What a cache written by an older engine looks like (the rows are only a cache)."""
    Shipment.objects.filter(pk__in=[s.pk for s in shipments]).update(
        status="booked", eta=None, is_late=True, progress_percent=0, timeline={}
    )


def _run(*args: str) -> str:
    out = StringIO()
    call_command("timelines_refresh", *args, stdout=out)
    return out.getvalue()


def test_it_rewrites_stale_caches_parents_first_and_is_idempotent(tenant, other_tenant):
    # Children first, so that in pk order they come before their parents.
    bottom = new_shipment(tenant, mode="road_ftl")
    middle = new_shipment(tenant, mode="road_ftl")
    top = new_shipment(tenant, mode="road_ftl", reference="TOP-9")
    loose = [new_shipment(tenant, mode="last_mile") for _ in range(3)]
    elsewhere = new_shipment(other_tenant, mode="road_ftl")
    with tenant_context(tenant.pk):
        shipment_link(parent=top, child=middle, kind="linehaul")
        shipment_link(parent=middle, child=bottom, kind="linehaul")
        planned = shipment_timeline(shipment=top).row("departed").planned
        events_record(events=[est(top, "departed", planned + hours(6))])
        events_record(events=[act(loose[0], "picked_up", BOOKED + hours(4))])
        expected = {s.pk: _cached(s) for s in [top, middle, bottom, *loose]}
        assert "TOP-9" in _cached(middle)["timeline"]["waiting_on"][0]
        _stale(top, middle, bottom, *loose)
    with tenant_context(other_tenant.pk):
        _stale(elsewhere)

    output = _run("--tenant", tenant.slug, "--batch-size", "2")
    assert f"{tenant.slug}: 6 shipments refreshed" in output
    with tenant_context(tenant.pk):
        assert {s.pk: _cached(s) for s in [top, middle, bottom, *loose]} == expected
        _run("--tenant", tenant.slug)
        assert {s.pk: _cached(s) for s in [top, middle, bottom, *loose]} == expected
    with tenant_context(other_tenant.pk):
        assert _cached(elsewhere)["timeline"] == {}  # another tenant was not asked for


def test_without_tenants_it_refreshes_every_tenant(tenant, other_tenant):
    shipments = [new_shipment(tenant), new_shipment(other_tenant)]
    for shipment in shipments:
        with tenant_context(shipment.tenant_id):
            _stale(shipment)
    output = _run()
    assert f"{tenant.slug}: 1 shipments refreshed" in output
    assert f"{other_tenant.slug}: 1 shipments refreshed" in output
    for shipment in shipments:
        with tenant_context(shipment.tenant_id):
            assert _cached(shipment)["timeline"]["rows"]


def test_unknown_tenants_and_bad_batch_sizes_are_refused(tenant):
    with pytest.raises(CommandError, match="Unknown tenant"):
        _run("--tenant", "nope")
    with pytest.raises(CommandError, match="batch-size"):
        _run("--batch-size", "0")

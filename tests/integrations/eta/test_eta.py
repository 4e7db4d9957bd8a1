"""ETA on constructed histories: lane statistics (set-based), predictions and their source,
a lane without history, the last mile by position, queries, tenancy, the accuracy report and
its CSV, the command and the benchmark."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.eta import selectors
from integrations.eta.accuracy import accuracy_samples, neutralise, report_csv, report_from_samples
from integrations.eta.benchmarks import bench_eta
from integrations.eta.models import LaneStat
from integrations.eta.services import lane_stats_recompute
from integrations.models import LatestPosition, Stop
from shipments.models import Shipment
from shipments.services import NewEvent, events_record
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.shipments.factories import ShipmentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

H = timedelta(hours=1)


def _now():
    return timezone.now().replace(microsecond=0)


def _shipment(
    tenant,
    ref,
    *,
    booked,
    carrier="DSV Road",
    origin="DEHAM",
    dest="FRPAR",
    account=None,
    acts=(),
    mode="road_ftl",
    **extra,
):
    """A shipment with ACT events: acts = [(milestone, at)], recorded a minute later."""
    shipment = ShipmentFactory(
        tenant=tenant,
        reference=ref,
        booked_at=booked,
        carrier=carrier,
        origin_locode=origin,
        destination_locode=dest,
        mode=mode,
        customer_account=account,
        **extra,
    )
    with tenant_context(tenant.pk):
        events_record(
            events=[
                NewEvent(
                    shipment_id=shipment.pk,
                    milestone=code,
                    occurred_at=at,
                    classifier="ACT",
                    source_kind="integration",
                    source_name="carrier:test",
                    recorded_at=at + timedelta(minutes=1),
                    dedupe_key=f"t:{code}",
                )
                for code, at in acts
            ]
        )
    return shipment


def _history(tenant, transit_hours=(10, 20, 30, 40, 50), **kwargs):
    """Delivered shipments whose departed -> delivered took ``transit_hours``."""
    base = _now() - timedelta(days=30)
    for n, hours in enumerate(transit_hours):
        booked = base + n * 24 * H
        departed = booked + 25 * H
        _shipment(
            tenant,
            f"HIST{n}-{kwargs.get('carrier', 'x')}",
            booked=booked,
            acts=[
                ("picked_up", booked + 24 * H),
                ("departed", departed),
                ("arrived", departed + (hours - 2) * H),
                ("delivered", departed + hours * H),
            ],
            **kwargs,
        )


def _in_transit(tenant, ref="LIVE1", *, departed_ago=5 * H, **kwargs):
    departed = _now() - departed_ago
    booked = departed - 25 * H
    return _shipment(
        tenant,
        ref,
        booked=booked,
        acts=[("picked_up", booked + 24 * H), ("departed", departed)],
        **kwargs,
    ), departed


def test_lane_statistics_are_quantiles_of_the_delivered_history(acme):
    _history(acme.tenant)
    _history(acme.tenant, transit_hours=(60, 60, 60, 60, 60), carrier="Girteka")
    with tenant_context(acme.tenant.pk):
        result = lane_stats_recompute()
        own = LaneStat.objects.get(
            carrier="DSV Road", from_milestone="departed", to_milestone="delivered"
        )
        pooled = LaneStat.objects.get(
            carrier="*", from_milestone="departed", to_milestone="delivered"
        )
        again = lane_stats_recompute()
        assert LaneStat.objects.count() == again.rows == result.rows
    assert result.shipments == 10
    assert (own.samples, own.p50_s, own.p05_s, own.p95_s) == (5, 30 * 3600, 12 * 3600, 48 * 3600)
    assert (own.origin_locode, own.destination_locode) == ("DEHAM", "FRPAR")
    assert pooled.samples == 10 and pooled.p50_s == 55 * 3600


def test_predictions_come_from_history_and_a_lane_without_history_falls_back(acme):
    _history(acme.tenant)
    live, departed = _in_transit(acme.tenant)
    lonely, lonely_departed = _in_transit(acme.tenant, "LIVE2", dest="ESMAD")
    with tenant_context(acme.tenant.pk):
        lane_stats_recompute()
        found = selectors.predicted_delivery([live.pk, lonely.pk])
    history = found[live.pk]
    assert (history.source, history.fallback) == ("history", False)
    assert history.likely == departed + 30 * H
    assert (history.earliest, history.latest) == (departed + 12 * H, departed + 48 * H)
    fallback = found[lonely.pk]
    assert (fallback.source, fallback.fallback) == ("template", True)
    assert fallback.basis.startswith("no history for this lane")
    assert fallback.likely == lonely_departed + 50 * H  # the template: arrived +2 d, +2 h


def test_predicted_late_minutes_are_against_the_promise(acme):
    _history(acme.tenant)
    live, _ = _in_transit(acme.tenant, promised_at=_now() - 5 * H + 24 * H)
    with tenant_context(acme.tenant.pk):
        lane_stats_recompute()
        prediction = selectors.predicted_delivery([live.pk])[live.pk]
    assert prediction.predicted_late_minutes == 6 * 60  # likely departed+30 h, promised +24 h


def test_predicted_delivery_of_many_shipments_is_two_queries(acme):
    _history(acme.tenant)
    ids = [_in_transit(acme.tenant, f"MANY{n}")[0].pk for n in range(12)]
    with tenant_context(acme.tenant.pk):
        lane_stats_recompute()
        selectors.predicted_delivery(ids[:1])  # caches the template tolerances
        with CaptureQueriesContext(connection) as one:
            selectors.predicted_delivery(ids[:1])
        with CaptureQueriesContext(connection) as many:
            found = selectors.predicted_delivery(ids)
    assert len(found) == 12
    assert len(one.captured_queries) == len(many.captured_queries) == 2


def test_the_last_mile_comes_from_the_drivers_position(acme):
    now = _now()
    booked = now - 8 * H
    shipment = _shipment(
        acme.tenant,
        "LM1",
        booked=booked,
        mode="last_mile",
        origin="",
        dest="",
        acts=[("picked_up", booked + 3 * H), ("out_for_delivery", now - 2 * H)],
    )
    with tenant_context(acme.tenant.pk):
        Stop.objects.create(shipment=shipment, sequence=1, name="Customer", lat=53.55, lon=10.19)
        LatestPosition.objects.create(
            subject_kind="shipment",
            subject=str(shipment.pk),
            shipment=shipment,
            lat=53.55,
            lon=9.99,
            at=now - timedelta(minutes=3),
        )
        prediction = selectors.predicted_delivery([shipment.pk], now=now)[shipment.pk]
    assert prediction.source == "position"
    assert "km away" in prediction.basis
    assert now + 30 * timedelta(minutes=1) < prediction.likely < now + 50 * timedelta(minutes=1)


def test_another_tenants_history_is_not_this_tenants(acme):
    _history(acme.other_tenant)
    live, _ = _in_transit(acme.tenant)
    with tenant_context(acme.other_tenant.pk):
        assert lane_stats_recompute().rows > 0
    with tenant_context(acme.tenant.pk):
        assert lane_stats_recompute().rows == 0
        assert LaneStat.objects.count() == 0
        assert selectors.predicted_delivery([live.pk])[live.pk].source == "template"
        assert Shipment.objects.filter(pk__in=[live.pk]).count() == 1


@covers_url("eta-shipment")
def test_a_shipments_eta_endpoint_and_who_may_see_it(acme):
    _history(acme.tenant)
    live, _ = _in_transit(acme.tenant, account=acme.customer_account)
    other, _ = _in_transit(acme.tenant, "LIVE-OTHER", account=acme.other_customer_account)
    with tenant_context(acme.tenant.pk):
        lane_stats_recompute()
    body = acme.client("ops").get(reverse("eta-shipment", args=[live.pk])).json()
    assert body["delivery"]["source"] == "history"
    assert [m["milestone"] for m in body["milestones"]] == [
        "arrived",
        "delivered",
        "proof_of_delivery",
    ]
    customer = acme.client("customer")
    assert customer.get(reverse("eta-shipment", args=[live.pk])).status_code == 200
    assert customer.get(reverse("eta-shipment", args=[other.pk])).status_code == 404
    assert acme.client("outsider").get(reverse("eta-shipment", args=[live.pk])).status_code == 404


def _evaluated(acme, carrier="DSV Road"):
    """History first, statistics, then one delivered shipment to judge (train/test split)."""
    _history(acme.tenant, carrier=carrier)
    with tenant_context(acme.tenant.pk):
        lane_stats_recompute()
    booked = _now() - 5 * 24 * H
    departed = booked + 25 * H
    shipment = _shipment(
        acme.tenant,
        "JUDGED",
        booked=booked,
        carrier=carrier,
        acts=[
            ("picked_up", booked + 24 * H),
            ("departed", departed),
            ("arrived", departed + 28 * H),
            ("delivered", departed + 33 * H),
        ],
    )
    return shipment


def test_the_accuracy_report_on_constructed_data(acme):
    shipment = _evaluated(acme)
    with tenant_context(acme.tenant.pk):
        samples = accuracy_samples([Shipment.objects.get(pk=shipment.pk)], horizons=(72, 24, 4, 1))
    by_horizon = {s.horizon_h: s for s in samples}
    # 24 h before delivery it had departed 9 h earlier: history says +30 h (3 h early), the
    # template +50 h (17 h late); 72 h before delivery it was not booked yet: no sample.
    assert by_horizon[24].error_h == pytest.approx(-3.0)
    assert by_horizon[24].baseline_error_h == pytest.approx(17.0)
    assert by_horizon[24].in_window and by_horizon[24].source == "history"
    assert 72 not in by_horizon and {4, 1} <= set(by_horizon)
    report = report_from_samples(samples)
    [row] = report.rows
    assert (row.carrier, row.lane, row.deliveries) == ("DSV Road", "road_ftl DEHAM→FRPAR", 1)
    assert row.horizons[24].mae_h == 3.0 and row.horizons[24].baseline_mae_h == 17.0
    assert row.horizons[24].in_window_share == 1.0


def test_csv_cells_cannot_be_formulas():
    for dangerous in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(dangerous) == "'" + dangerous
    assert neutralise("DSV Road") == "DSV Road" and neutralise(None) == ""


@covers_url("eta-accuracy", "eta-accuracy-csv")
def test_the_accuracy_endpoints_publish_the_report_as_json_and_safe_csv(acme):
    _evaluated(acme, carrier="=cmd|' /C calc'!A0")
    ops = acme.client("ops")
    body = ops.get(reverse("eta-accuracy")).json()
    assert body["total"]["deliveries"] == 6
    assert {h["horizon_h"] for h in body["total"]["horizons"]} == {72, 24, 4, 1}
    response = ops.get(reverse("eta-accuracy-csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["carrier", "lane", "deliveries"]
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert all(
        not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )
    assert ops.get(reverse("eta-accuracy"), {"since": "not a time"}).status_code == 400
    assert acme.client("customer").get(reverse("eta-accuracy")).status_code == 403
    assert acme.client("outsider").get(reverse("eta-accuracy-csv")).status_code == 200
    assert acme.client("outsider").get(reverse("eta-accuracy")).json()["total"]["deliveries"] == 0


def test_the_eta_accuracy_command_prints_real_figures(acme, capsys):
    _evaluated(acme)
    call_command("eta_accuracy", "--tenant", acme.tenant.slug)
    out = capsys.readouterr().out
    assert "Acme Forwarding (acme-forwarding): 6 deliveries" in out
    assert "DSV Road" in out and "road_ftl DEHAM→FRPAR" in out


def test_report_csv_has_one_row_per_lane_and_the_total():
    from integrations.eta.accuracy import Sample

    samples = [
        Sample(1, "A", "road DEHAM→FRPAR", 24, 2.0, True, "history", 10.0),
        Sample(2, "A", "road DEHAM→FRPAR", 24, -4.0, False, "history", -6.0),
        Sample(3, "B", "road DEHAM→ESMAD", 24, 1.0, True, "template", 1.0),
    ]
    report = report_from_samples(samples, horizons=(24,))
    assert report.total.horizons[24].mae_h == pytest.approx(7 / 3, abs=0.01)
    assert report.rows[0].horizons[24].bias_h == -1.0
    rows = list(csv.reader(io.StringIO(report_csv(report, horizons=(24,)))))
    assert [r[0] for r in rows] == ["carrier", "A", "B", "all"]
    assert rows[1][5] == "'-1.0"  # a negative bias is neutralised like any cell


def test_the_benchmark_beats_the_template_baseline_on_a_small_run(acme):
    figures = bench_eta(acme.tenant, history=400, evaluated=80)
    assert {"shipments", "mae_h_24h", "baseline_mae_h_24h", "in_window_share"} <= set(figures)
    assert figures["shipments"] == 400 and figures["evaluated"] == 80
    assert figures["ratio_to_baseline"] <= 0.8
    assert figures["in_window_share"] >= 0.8


def test_the_nightly_task_recomputes_every_tenant(acme):
    from integrations.eta.tasks import lane_stats_recompute_all

    _history(acme.tenant)
    result = lane_stats_recompute_all()
    assert result[acme.tenant.pk] > 0 and result[acme.other_tenant.pk] == 0
    assert datetime.now(UTC) is not None

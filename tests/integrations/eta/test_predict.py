"""The pure ETA predictor: which source wins, windows, never before now, late minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integrations.eta.predict import PositionFix, Row, Transit, predict, remaining

H = timedelta(hours=1)
BOOKED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DEPARTED = BOOKED + 26 * H


def _rows(*, departed=DEPARTED, estimate=None, estimate_source="projection", delivered=None):
    projected = departed + 50 * H
    return [
        Row(
            "picked_up",
            20,
            "progress",
            True,
            BOOKED + 24 * H,
            BOOKED + 24 * H,
            4 * H,
            None,
            None,
            None,
        ),
        Row("departed", 30, "progress", True, departed, BOOKED + 25 * H, 2 * H, None, None, None),
        Row(
            "arrived",
            40,
            "progress",
            True,
            None,
            BOOKED + 73 * H,
            6 * H,
            departed + 48 * H,
            "projection",
            departed + 48 * H,
        ),
        Row(
            "delivered",
            50,
            "progress",
            True,
            delivered,
            BOOKED + 75 * H,
            2 * H,
            estimate or projected,
            estimate_source if estimate else "projection",
            projected,
        ),
        Row("proof_of_delivery", 60, "progress", False, None, None, timedelta(0), None, None, None),
    ]


def _history(samples=40):
    def lookup(start: str, end: str) -> Transit | None:
        if (start, end) == ("departed", "delivered"):
            return Transit(
                samples,
                20 * 3600,
                26 * 3600,
                30 * 3600,
                34 * 3600,
                40 * 3600,
                "DEHAM→FRPAR road_ftl DSV Road",
            )
        return None

    return lookup


def _delivery(predictions):
    return next(p for p in predictions if p.milestone == "delivered")


def test_remaining_skips_reached_skipped_and_optional_milestones():
    assert [r.code for r in remaining(_rows())] == ["arrived", "delivered"]


def test_history_gives_the_window_and_the_median():
    now = DEPARTED + 5 * H
    promised = DEPARTED + 28 * H
    p = _delivery(
        predict(_rows(), booked_at=BOOKED, now=now, promised_at=promised, transit=_history())
    )
    assert (p.source, p.fallback) == ("history", False)
    assert (p.earliest, p.likely, p.latest) == (
        DEPARTED + 20 * H,
        DEPARTED + 30 * H,
        DEPARTED + 40 * H,
    )
    assert p.predicted_late_minutes == 120
    assert "40 completed shipments" in p.basis and "departed → delivered" in p.basis


def test_a_carrier_estimate_inside_the_window_is_the_most_likely_time():
    inside = DEPARTED + 33 * H
    p = _delivery(
        predict(
            _rows(estimate=inside, estimate_source="integration"),
            booked_at=BOOKED,
            now=DEPARTED,
            promised_at=None,
            transit=_history(),
        )
    )
    assert (p.source, p.likely, p.latest) == ("carrier", inside, DEPARTED + 40 * H)
    outside = DEPARTED + 70 * H
    p = _delivery(
        predict(
            _rows(estimate=outside, estimate_source="integration"),
            booked_at=BOOKED,
            now=DEPARTED,
            promised_at=None,
            transit=_history(),
        )
    )
    assert (p.source, p.likely) == ("history", DEPARTED + 30 * H)


def test_without_enough_history_the_template_decides_and_says_so():
    for lookup in (lambda a, b: None, _history(samples=4)):
        p = _delivery(
            predict(_rows(), booked_at=BOOKED, now=DEPARTED, promised_at=None, transit=lookup)
        )
        assert (p.source, p.fallback) == ("template", True)
        assert p.likely == DEPARTED + 50 * H and p.latest == DEPARTED + 52 * H
        assert p.basis.startswith("no history for this lane")
    carrier = DEPARTED + 44 * H
    p = _delivery(
        predict(
            _rows(estimate=carrier, estimate_source="partner"),
            booked_at=BOOKED,
            now=DEPARTED,
            promised_at=None,
            transit=lambda a, b: None,
        )
    )
    assert (p.source, p.fallback, p.likely) == ("carrier", True, carrier)


def test_nothing_is_predicted_before_now():
    now = DEPARTED + 45 * H  # overdue against the median
    p = _delivery(predict(_rows(), booked_at=BOOKED, now=now, promised_at=None, transit=_history()))
    assert p.earliest == now and p.likely == now
    assert p.latest == now + 10 * H  # the upper spread of history is still ahead


def test_the_drivers_position_decides_the_last_mile():
    now = DEPARTED + 29 * H
    fix = PositionFix(53.55, 9.99, now - timedelta(minutes=5), 53.55, 10.19)  # ~13 km east
    p = _delivery(
        predict(
            _rows(),
            booked_at=BOOKED,
            now=now,
            promised_at=None,
            transit=_history(),
            position=fix,
            speed_kmh=30,
        )
    )
    assert p.source == "position"
    drive = p.likely - fix.at
    assert timedelta(minutes=30) < drive < timedelta(minutes=40)  # 13 km x 1.3 at 30 km/h
    assert p.earliest < p.likely < p.latest
    stale = PositionFix(53.55, 9.99, now - 2 * H, 53.55, 10.19)
    p = _delivery(
        predict(
            _rows(), booked_at=BOOKED, now=now, promised_at=None, transit=_history(), position=stale
        )
    )
    assert p.source == "history"


def test_a_delivered_shipment_has_its_actual():
    at = DEPARTED + 31 * H
    [p] = predict(
        _rows(delivered=at), booked_at=BOOKED, now=at + H, promised_at=at - H, transit=_history()
    )
    assert (p.source, p.likely, p.predicted_late_minutes) == ("actual", at, 60)

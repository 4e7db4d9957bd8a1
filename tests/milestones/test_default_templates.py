"""The shipped default templates are valid and sensible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from milestones.default_templates import DEFAULT_TEMPLATES, MODES, default_template
from milestones.engine import ShipmentStatus, compute_timeline, validate_template

EXPECTED_MODES = {
    "ocean_fcl",
    "ocean_lcl",
    "air",
    "road_ftl",
    "road_ltl",
    "parcel",
    "last_mile",
    "first_mile",
    "multimodal",
}


def test_all_modes_present():
    assert set(DEFAULT_TEMPLATES) == EXPECTED_MODES
    assert set(MODES) == EXPECTED_MODES


@pytest.mark.parametrize("mode", sorted(EXPECTED_MODES))
def test_template_is_valid(mode):
    validate_template(DEFAULT_TEMPLATES[mode])


@pytest.mark.parametrize("mode", sorted(EXPECTED_MODES))
def test_labels_in_four_locales(mode):
    for d in DEFAULT_TEMPLATES[mode]:
        assert set(d.label) >= {"en", "de", "fr", "es"}, d.code
        assert all(text.strip() for text in d.label.values())


@pytest.mark.parametrize("mode", sorted(EXPECTED_MODES))
def test_billing_and_delivery(mode):
    codes = {d.code: d for d in DEFAULT_TEMPLATES[mode]}
    assert "delivered" in codes
    assert codes["delivered"].triggers_billing
    if "proof_of_delivery" in codes:
        assert codes["proof_of_delivery"].triggers_billing
    for d in codes.values():
        assert d.tolerance >= timedelta(0)
        if d.code not in ("delivered", "proof_of_delivery"):
            assert not d.triggers_billing


@pytest.mark.parametrize("mode", sorted(EXPECTED_MODES))
def test_empty_timeline_computes(mode):
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    tl = compute_timeline(template=DEFAULT_TEMPLATES[mode], events=[], booked_at=t0, now=t0)
    assert tl.status == ShipmentStatus.BOOKED
    assert tl.eta is not None and tl.eta > t0


def test_ocean_offsets():
    codes = {d.code: d for d in DEFAULT_TEMPLATES["ocean_fcl"]}
    assert codes["departed"].planned.anchor == "picked_up"
    assert codes["departed"].planned.offset == timedelta(days=2)
    assert codes["arrived"].planned.anchor == "departed"
    assert codes["arrived"].planned.offset == timedelta(days=21)
    assert codes["customs_hold"].kind == "exception_hold"


def test_last_mile_alternatives():
    codes = {d.code: d for d in DEFAULT_TEMPLATES["last_mile"]}
    assert {"out_for_delivery", "delivered", "proof_of_delivery"} <= set(codes)
    assert codes["failed_delivery"].kind == "terminal_alt"
    assert codes["returned"].kind == "terminal_alt"
    assert not codes["returned"].required


@pytest.mark.parametrize("mode", sorted(EXPECTED_MODES))
def test_every_template_has_the_terminal_alternatives_and_repeatable_attempts(mode):
    codes = {d.code: d for d in DEFAULT_TEMPLATES[mode]}
    for code in ("failed_delivery", "returned"):
        assert codes[code].kind == "terminal_alt"
        assert not codes[code].required
        assert codes[code].planned is None
    assert codes["failed_delivery"].repeatable
    assert not codes["returned"].repeatable
    for code in ("out_for_delivery", "customs_hold"):
        if code in codes:
            assert codes[code].repeatable
    for code in ("picked_up", "departed", "arrived", "delivered", "proof_of_delivery"):
        if code in codes:
            assert not codes[code].repeatable, code


def test_default_template_returns_copy():
    copy = default_template("air")
    copy.clear()
    assert DEFAULT_TEMPLATES["air"]

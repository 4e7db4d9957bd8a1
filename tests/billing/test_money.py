"""Money: Decimal only, rounded to each currency's minor unit with ROUND_HALF_UP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.money import minor_unit, round_money, to_decimal
from tenancy.errors import DomainError


def test_minor_units_come_from_cldr():
    assert (minor_unit("JPY"), minor_unit("EUR"), minor_unit("KWD")) == (0, 2, 3)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234.5", "JPY", "1235"),
        ("1234.49", "JPY", "1234"),
        ("10.005", "EUR", "10.01"),  # half up, not banker's (which gives 10.00)
        ("10.004999", "EUR", "10.00"),
        ("-10.005", "EUR", "-10.01"),  # away from zero: a credit mirrors its charge
        ("1.0005", "KWD", "1.001"),
        ("1.00049", "KWD", "1.000"),
    ],
)
def test_rounding_per_currency(amount, currency, expected):
    rounded = round_money(Decimal(amount), currency)
    assert str(rounded) == expected
    assert rounded.as_tuple().exponent == -minor_unit(currency)


def test_floats_never_become_money():
    with pytest.raises(DomainError):
        to_decimal(0.1)
    assert to_decimal("0.10") + to_decimal("0.20") == Decimal("0.30")


def test_unknown_currency_is_refused():
    with pytest.raises(DomainError):
        minor_unit("XXZ")

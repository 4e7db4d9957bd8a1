"""Money: ``Decimal`` end to end, rounded to each currency's minor unit.

The one rounding rule of Milepost billing is **ROUND_HALF_UP** (commercial rounding: 0.5 of
the minor unit goes away from zero), applied once per stored amount: a charge's amount
(quantity x rate), an invoice line's tax. Totals are sums of rounded amounts, so an invoice's
lines always add up to its total. The minor unit (JPY 0, EUR 2, KWD 3 decimals) comes from
the Unicode CLDR through Babel, not from a table of our own. A float never becomes money:
``to_decimal`` refuses one.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, is_currency

from tenancy.errors import DomainError

ROUNDING = ROUND_HALF_UP
ZERO = Decimal(0)


def valid_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 3 or not is_currency(code):
        raise DomainError(f"Unknown currency {code!r}.", code="invalid_currency", field="currency")
    return code


@cache
def minor_unit(currency: str) -> int:
    """Decimals of the currency's minor unit (CLDR): JPY 0, EUR 2, KWD 3."""
    return int(get_currency_precision(valid_currency(currency)))


@cache
def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """A Decimal from a Decimal, an int or a numeric string (never a float)."""
    if isinstance(value, bool | float):
        raise DomainError("Amounts are never floats.", code="invalid_amount", field=field)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise DomainError(
                f"{value!r} is not an amount.", code="invalid_amount", field=field
            ) from None
    else:
        raise DomainError(f"{value!r} is not an amount.", code="invalid_amount", field=field)
    if not result.is_finite():
        raise DomainError("Amounts are finite.", code="invalid_amount", field=field)
    return result


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to the currency's minor unit with ROUND_HALF_UP."""
    if not isinstance(amount, Decimal):
        amount = to_decimal(amount)
    return amount.quantize(_exponent(currency), rounding=ROUNDING)


def format_money(amount: Decimal, currency: str) -> str:
    """Plain text, the minor unit's decimals, no grouping: ``1234.50``."""
    return f"{round_money(amount, currency):f}"

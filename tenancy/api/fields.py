"""Fields and query parameters of the API's conventions: times are ISO 8601 with an offset,
everywhere (a time without one is ambiguous across zones, so it is refused, never guessed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request

from tenancy.errors import DomainError

OFFSET_REQUIRED = "Needs a UTC offset, e.g. 2026-03-05T09:00:00+01:00 or …Z."


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset in and out (UTC out); a time without an offset is a 400."""

    default_error_messages = {"naive": OFFSET_REQUIRED}

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well-formed but impossible, e.g. 12:99
                self.fail("invalid", format="ISO 8601")
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        result: datetime = super().to_internal_value(value)
        try:
            return in_utc(result)
        except OverflowError:
            self.fail("invalid", format="ISO 8601")


def in_utc(moment: datetime) -> datetime:
    """PostgreSQL refuses offsets beyond ±15:59 that Python accepts (up to ±23:59): every
    time the API takes is handed on in UTC. OverflowError at the ends of the calendar."""
    return moment.astimezone(UTC)


def parse_aware(value: str, *, field: str) -> datetime:
    """An ISO 8601 time with offset from a query string. A "+" of the offset that arrived
    unencoded (read as a space) is taken as the "+" it was."""
    text = value.strip()
    if " " in value.strip() and "T" in text:
        text = text.replace(" ", "+")
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise DomainError(
            f"{field} must be an ISO 8601 time.", code="invalid_parameter", field=field
        )
    if timezone.is_naive(parsed):
        raise DomainError(OFFSET_REQUIRED, code="invalid_parameter", field=field)
    try:
        return in_utc(parsed)
    except OverflowError:
        raise DomainError(
            f"{field} is out of range.", code="invalid_parameter", field=field
        ) from None


def query_time(request: Request, name: str) -> datetime | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise DomainError(f"Give {name} once.", code="invalid_parameter", field=name)
    return parse_aware(values[0], field=name)


def time_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        OpenApiTypes.DATETIME,
        required=False,
        description=description + " ISO 8601 with an offset (a '+' must be sent as %2B).",
    )


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would take 12 or 1.5 for "12" (the schema says string)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        result: str = super().to_internal_value(data)
        return result


class StrictFloatField(serializers.FloatField):
    """Numbers only: DRF's FloatField would take true or "1.5"."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        result: float = super().to_internal_value(data)
        return result


class StrictIntegerField(serializers.IntegerField):
    """Whole numbers only: DRF's IntegerField would take "12", 12.0 or true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        result: int = super().to_internal_value(data)
        return result


def limit_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 200},
        required=False,
        description="Page size, 1-200 (default 50)",
    )

"""URL path converters. ``<id:…>``: a database id, 1 to 18 digits.

Why not ``<id:…>``: it matches any number of digits, and an id beyond PostgreSQL's bigint
(9223372036854775807) reached the database as a DataError (a 500). Eighteen digits always fit,
so a longer one simply matches no URL: 404, like any id that does not exist.
"""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


def register() -> None:
    register_converter(IdConverter, "id")

"""``<public_id:…>``: a shipment's public id ("shp_" + 16 of Crockford's base32). Anything
else matches no URL (a 404 like an id that does not exist)."""

from __future__ import annotations

from django.urls import register_converter
from django.urls.converters import get_converters

PUBLIC_ID_PATTERN = "shp_[0-9a-hjkmnp-tv-z]{16}"


class PublicIdConverter:
    regex = PUBLIC_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


def register() -> None:
    if "public_id" not in get_converters():  # both URL modules that use it call this
        register_converter(PublicIdConverter, "public_id")

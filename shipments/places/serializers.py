"""Serializers of the places API."""

from __future__ import annotations

from rest_framework import serializers

from shipments.places.models import PlaceKind, TenantPlace
from tenancy.api.fields import StrictCharField, StrictFloatField


class SearchHitOut(serializers.Serializer):
    scope = serializers.CharField(help_text='"registry" (shared) or "tenant" (the tenant\'s own)')
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    detail = serializers.CharField()
    timezone = serializers.CharField()
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)


class TenantPlaceIn(serializers.Serializer):
    name = StrictCharField(max_length=200)
    codes = serializers.ListField(child=StrictCharField(max_length=160), min_length=1)
    kind = serializers.ChoiceField(
        choices=PlaceKind.choices, required=False, default=PlaceKind.FACILITY
    )
    address = StrictCharField(required=False, default="", allow_blank=True, max_length=300)
    country = StrictCharField(required=False, default="", allow_blank=True, max_length=2)
    subdivision = StrictCharField(required=False, default="", allow_blank=True, max_length=3)
    latitude = StrictFloatField(
        required=False, allow_null=True, default=None, min_value=-90, max_value=90
    )
    longitude = StrictFloatField(
        required=False, allow_null=True, default=None, min_value=-180, max_value=180
    )
    timezone = StrictCharField(
        required=False, default="", allow_blank=True, max_length=64, help_text="IANA zone"
    )
    place_code = StrictCharField(
        required=False, default="", allow_blank=True, max_length=10, help_text="UN/LOCODE"
    )


class TenantPlaceOut(serializers.ModelSerializer):
    place_code = serializers.CharField(
        source="place.code", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = TenantPlace
        fields = [
            "id",
            "kind",
            "name",
            "codes",
            "address",
            "country",
            "subdivision",
            "latitude",
            "longitude",
            "timezone",
            "place_code",
        ]

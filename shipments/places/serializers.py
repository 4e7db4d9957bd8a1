"""Serializers of the places API."""

from __future__ import annotations

from rest_framework import serializers

from shipments.places.models import TenantPlace


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
    name = serializers.CharField(max_length=200)
    codes = serializers.ListField(child=serializers.CharField(max_length=160), min_length=1)
    kind = serializers.CharField(required=False, default="facility")
    address = serializers.CharField(required=False, default="", allow_blank=True)
    country = serializers.CharField(required=False, default="", allow_blank=True)
    subdivision = serializers.CharField(required=False, default="", allow_blank=True)
    latitude = serializers.FloatField(required=False, allow_null=True, default=None)
    longitude = serializers.FloatField(required=False, allow_null=True, default=None)
    timezone = serializers.CharField(required=False, default="", allow_blank=True)
    place_code = serializers.CharField(required=False, default="", allow_blank=True)


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

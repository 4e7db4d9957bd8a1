"""Serializers of the positions channel."""

from __future__ import annotations

from rest_framework import serializers

from integrations.models import PositionPing, Stop


class StopOut(serializers.ModelSerializer):
    class Meta:
        model = Stop
        fields = [
            "id",
            "sequence",
            "name",
            "lat",
            "lon",
            "radius_m",
            "arriving_soon_m",
            "arrive_milestone",
            "depart_milestone",
            "state",
            "approaching_at",
            "entered_at",
            "left_at",
        ]


class PositionOut(serializers.ModelSerializer):
    class Meta:
        model = PositionPing
        fields = ["lat", "lon", "at", "speed_kmh", "heading", "accuracy_m", "vehicle_ref"]


class ShipmentPositionsOut(serializers.Serializer):
    latest = serializers.DictField(allow_null=True)
    trail = PositionOut(many=True)
    truncated = serializers.BooleanField()

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


PING_FIELDS = {
    "reference": {"type": "string", "maxLength": 120},
    "vehicle_ref": {"type": "string", "maxLength": 60},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "at": {"type": "string", "format": "date-time"},
    "speed_kmh": {"type": "number", "minimum": 0, "maximum": 1500},
    "heading": {"type": "number", "minimum": 0, "maximum": 360},
    "accuracy_m": {"type": "number", "minimum": 0, "maximum": 1000000},
}
_PING_NOTE = (
    "Each ping is an object with "
    + ", ".join(PING_FIELDS)
    + " (reference or vehicle_ref, lat, lon and at with an offset are required). The batch is"
    " stored as it is; pings are checked one by one afterwards, so a bad ping becomes a dead"
    " letter without refusing its batch-mates."
)
_PING_LIST = {"type": "array", "maxItems": 5000, "items": {}, "description": _PING_NOTE}
# Raw schemas: drf-spectacular takes them as they are (serializers cannot say "either").
PingsIn = {
    "application/json": {
        "oneOf": [
            _PING_LIST,
            {
                "type": "object",
                "required": ["pings"],
                "properties": {"pings": _PING_LIST},
            },
        ]
    }
}

STOP_SCHEMA = {
    "type": "object",
    "required": ["name", "lat", "lon"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120, "pattern": r"\S"},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "radius_m": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "arriving_soon_m": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000000,
            "description": "At least radius_m.",
        },
        "arrive_milestone": {"type": "string", "description": "A milestone code; arrived."},
        "depart_milestone": {"type": "string", "description": "A milestone code; departed."},
    },
}
_STOP_LIST = {"type": "array", "maxItems": 100, "items": STOP_SCHEMA}
StopsIn = {
    "application/json": {
        "oneOf": [
            _STOP_LIST,
            {"type": "object", "required": ["stops"], "properties": {"stops": _STOP_LIST}},
        ]
    }
}

"""Serializers of the ETA API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

SOURCES = ["actual", "position", "history", "carrier", "template"]


class PredictionOut(serializers.Serializer[Any]):
    milestone = serializers.CharField()
    earliest = serializers.DateTimeField(allow_null=True)
    likely = serializers.DateTimeField(allow_null=True)
    latest = serializers.DateTimeField(allow_null=True)
    predicted_late_minutes = serializers.IntegerField(
        allow_null=True,
        help_text="most likely time against the promise (delivery) or the milestone's "
        "deadline (planned + tolerance); positive = late",
    )
    source = serializers.ChoiceField(choices=SOURCES)  # type: ignore[assignment]
    basis = serializers.CharField()
    fallback = serializers.BooleanField(help_text="no history for this lane")


class ShipmentEtaOut(serializers.Serializer[Any]):
    shipment_id = serializers.IntegerField()
    evaluated_at = serializers.DateTimeField()
    promised_at = serializers.DateTimeField(allow_null=True)
    delivery = PredictionOut(allow_null=True)
    milestones = PredictionOut(many=True)


class FiguresOut(serializers.Serializer[Any]):
    horizon_h = serializers.IntegerField()
    n = serializers.IntegerField()
    mae_h = serializers.FloatField(allow_null=True)
    bias_h = serializers.FloatField(allow_null=True)
    in_window_share = serializers.FloatField(allow_null=True)
    baseline_mae_h = serializers.FloatField(allow_null=True)
    sources = serializers.DictField(child=serializers.IntegerField())


class AccuracyRowOut(serializers.Serializer[Any]):
    carrier = serializers.CharField()
    lane = serializers.CharField()
    deliveries = serializers.IntegerField()
    horizons = FiguresOut(many=True)


class AccuracyOut(serializers.Serializer[Any]):
    results = AccuracyRowOut(many=True)
    total = AccuracyRowOut()

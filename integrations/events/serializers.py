"""What a partner sends to the events endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, inline_serializer
from rest_framework import serializers

from shipments.models import Classifier
from tenancy.api.fields import (
    AwareDateTimeField,
    StrictCharField,
)

MAX_EVENTS = 1000


class EventIn(serializers.Serializer[Any]):
    milestone = serializers.CharField(
        max_length=40, help_text="A milestone code of the tenant's templates (/api/v1/templates/)"
    )
    occurred_at = AwareDateTimeField()
    classifier = serializers.ChoiceField(
        choices=Classifier.choices, help_text="ACT happened, EST expected, PLN planned"
    )
    location = StrictCharField(max_length=120, required=False, allow_blank=True)
    code = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Your own status code"
    )
    dedupe_key = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Sending an event again with the same key records it once",
    )
    issued_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When you issued this report (estimates)"
    )


class ReferencedEventIn(EventIn):
    reference = StrictCharField(max_length=80, help_text="Any reference of the shipment")


class ShipmentEventsIn(serializers.Serializer[Any]):
    events = EventIn(many=True, min_length=1, max_length=MAX_EVENTS)  # type: ignore[call-arg]


class EventsIn(serializers.Serializer[Any]):
    events = ReferencedEventIn(many=True, min_length=1, max_length=MAX_EVENTS)  # type: ignore[call-arg]


EVENTS_ACCEPTED = inline_serializer(
    "EventsAccepted",
    {
        "message_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "events": serializers.IntegerField(help_text="How many events the message holds"),
    },
)

SHIPMENT_EVENTS_EXAMPLE = OpenApiExample(
    "Picked up, and an estimate",
    request_only=True,
    value={
        "events": [
            {
                "milestone": "picked_up",
                "occurred_at": "2026-03-05T10:12:00+01:00",
                "classifier": "ACT",
                "location": "DEHAM",
                "code": "PU",
                "dedupe_key": "scan-88123",
            },
            {
                "milestone": "delivered",
                "occurred_at": "2026-03-07T15:00:00+01:00",
                "classifier": "EST",
            },
        ]
    },
)
EVENTS_EXAMPLE = OpenApiExample(
    "Two shipments at once",
    request_only=True,
    value={
        "events": [
            {
                "reference": "1Z999AA10123456784",
                "milestone": "departed",
                "occurred_at": "2026-03-05T11:00:00Z",
                "classifier": "ACT",
                "dedupe_key": "dep-1",
            },
            {
                "reference": "PRO-448812",
                "milestone": "arrived",
                "occurred_at": "2026-03-05T12:30:00Z",
                "classifier": "ACT",
            },
        ]
    },
)

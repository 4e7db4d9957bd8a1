"""Serializers of the shipments API: what a partner sends and what it gets back.

Times are ISO 8601 with an offset in and out (tenancy.api.fields.AwareDateTimeField); the
shipment's ``id`` is its public id (the integer key stays internal: it would count shipments).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, inline_serializer
from rest_framework import serializers

from milestones.models import Mode
from shipments.models import LinkKind, ReferenceKind, Shipment
from tenancy.api.fields import (
    AwareDateTimeField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)

# Partners name their references; "milepost" is the public id itself (never sent, never shown).
REFERENCE_KINDS = [(value, label) for value, label in ReferenceKind.choices if value != "milepost"]
STATUSES = (
    "booked",
    "in_transit",
    "at_customs",
    "out_for_delivery",
    "delivered",
    "returned",
    "failed_delivery",
    "exception",
    "cancelled",
)
LOCODE_PATTERN = r"^[A-Z]{2}[A-Z2-9]{3}$"
MAX_REFERENCES = 20


class ReferenceSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=REFERENCE_KINDS)
    value = StrictCharField(max_length=80)


class PlaceSerializer(serializers.Serializer[Any]):
    """A place: a UN/LOCODE, an address, coordinates, or several of them."""

    locode = serializers.RegexField(
        LOCODE_PATTERN, required=False, allow_blank=True, help_text="UN/LOCODE, e.g. DEHAM"
    )
    address = StrictCharField(max_length=300, required=False, allow_blank=True)
    lat = StrictFloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    lon = StrictFloatField(min_value=-180, max_value=180, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("lat") is None) != (attrs.get("lon") is None):
            raise serializers.ValidationError({"lat": ["lat and lon go together."]})
        return attrs


class ParentIn(serializers.Serializer[Any]):
    id = StrictCharField(max_length=24, help_text="The parent shipment's id (shp_…)")
    kind = serializers.ChoiceField(choices=LinkKind.choices, default=LinkKind.CONSOLIDATION)


class ShipmentIn(serializers.Serializer[Any]):
    # (the stubs do not know ListSerializer's length bounds)
    references = ReferenceSerializer(  # type: ignore[call-arg]
        many=True, min_length=1, max_length=MAX_REFERENCES
    )
    mode = serializers.ChoiceField(choices=Mode.choices)
    booked_at = AwareDateTimeField()
    carrier = StrictCharField(max_length=120, required=False, allow_blank=True)
    service = StrictCharField(max_length=60, required=False, allow_blank=True)
    customer = serializers.CharField(
        max_length=40, required=False, allow_null=True, help_text="A customer account code"
    )
    shipper_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    consignee_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    origin = PlaceSerializer(required=False)
    destination = PlaceSerializer(required=False)
    promised_at = AwareDateTimeField(required=False, allow_null=True)
    template = StrictIntegerField(
        min_value=1,
        max_value=2**62,
        required=False,
        allow_null=True,
        help_text="A template id from /api/v1/templates/ (default: the mode's)",
    )
    parent = ParentIn(required=False, allow_null=True)


class ShipmentPatch(serializers.Serializer[Any]):
    carrier = StrictCharField(max_length=120, required=False, allow_blank=True)
    service = StrictCharField(max_length=60, required=False, allow_blank=True)
    customer = StrictCharField(max_length=40, required=False, allow_null=True)
    shipper_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    consignee_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    origin = PlaceSerializer(required=False)
    destination = PlaceSerializer(required=False)
    promised_at = AwareDateTimeField(required=False, allow_null=True)


class CancelIn(serializers.Serializer[Any]):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True)


PLACE_OUT = inline_serializer(
    "PlaceOut",
    {
        "locode": serializers.CharField(),
        "address": serializers.CharField(),
        "lat": serializers.FloatField(allow_null=True),
        "lon": serializers.FloatField(allow_null=True),
    },
)
TEMPLATE_REF = inline_serializer(
    "TemplateRef",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "version": serializers.IntegerField(),
    },
)


class ShipmentOut(serializers.Serializer[Shipment]):
    id = serializers.CharField(source="public_id")
    references = serializers.SerializerMethodField()
    mode = serializers.CharField()
    service = serializers.CharField()
    carrier = serializers.CharField()
    customer = serializers.SerializerMethodField()
    shipper_name = serializers.CharField()
    consignee_name = serializers.CharField()
    origin = serializers.SerializerMethodField()
    destination = serializers.SerializerMethodField()
    template = serializers.SerializerMethodField()
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]  # a field, not Field.parent
    booked_at = AwareDateTimeField()
    promised_at = AwareDateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=STATUSES)
    current_stage = serializers.CharField()
    next_milestone = serializers.CharField()
    eta = AwareDateTimeField(allow_null=True)
    progress = serializers.IntegerField(source="progress_percent")
    late = serializers.BooleanField(source="is_late")
    created_at = AwareDateTimeField()
    updated_at = AwareDateTimeField()

    @extend_schema_field(ReferenceSerializer(many=True))
    def get_references(self, shipment: Shipment) -> list[dict[str, str]]:
        references = getattr(shipment, "visible_references", None)
        if references is None:
            references = [r for r in shipment.references.order_by("pk") if r.kind != "milepost"]
        return [{"kind": r.kind, "value": r.value} for r in references]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_customer(self, shipment: Shipment) -> str | None:
        account = shipment.customer_account
        return account.code if account is not None else None

    @extend_schema_field(PLACE_OUT)
    def get_origin(self, shipment: Shipment) -> dict[str, Any]:
        return _place(shipment, "origin")

    @extend_schema_field(PLACE_OUT)
    def get_destination(self, shipment: Shipment) -> dict[str, Any]:
        return _place(shipment, "destination")

    @extend_schema_field(TEMPLATE_REF)
    def get_template(self, shipment: Shipment) -> dict[str, Any]:
        version = shipment.template_version
        return {"id": version.template_id, "name": version.template.name, "version": version.number}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_parent(self, shipment: Shipment) -> str | None:
        links = getattr(shipment, "parent_link_list", None)
        if links is None:
            links = list(shipment.parent_links.select_related("parent").order_by("pk"))
        return links[0].parent.public_id if links else None


def _place(shipment: Shipment, prefix: str) -> dict[str, Any]:
    return {
        "locode": getattr(shipment, f"{prefix}_locode"),
        "address": getattr(shipment, f"{prefix}_address"),
        "lat": getattr(shipment, f"{prefix}_lat"),
        "lon": getattr(shipment, f"{prefix}_lon"),
    }


SHIPMENT_PAGE = inline_serializer(
    "ShipmentPage",
    {
        "results": ShipmentOut(many=True),
        "next": serializers.URLField(allow_null=True, help_text="The next page; null at the end"),
    },
)

MILESTONES_OUT = inline_serializer(
    "TimelineMilestone",
    many=True,
    fields={
        "code": serializers.CharField(),
        "label": serializers.CharField(),
        "sequence": serializers.IntegerField(allow_null=True),
        "kind": serializers.CharField(),
        "required": serializers.BooleanField(),
        "planned_at": AwareDateTimeField(allow_null=True),
        "estimated_at": AwareDateTimeField(allow_null=True),
        "actual_at": AwareDateTimeField(allow_null=True),
        "location": serializers.CharField(allow_null=True),
        "source": serializers.CharField(
            allow_null=True,
            help_text="Who reported the actual (else the used estimate): user, integration, "
            "partner, projection, parent; null when only planned",
        ),
        "source_name": serializers.CharField(allow_null=True),
        "reached": serializers.BooleanField(),
        "late": serializers.BooleanField(),
        "at_risk": serializers.BooleanField(),
    },
)
TIMELINE_OUT = inline_serializer(
    "Timeline",
    {
        "shipment": serializers.CharField(),
        "status": serializers.ChoiceField(choices=STATUSES),
        "eta": AwareDateTimeField(allow_null=True),
        "progress": serializers.IntegerField(),
        "late": serializers.BooleanField(),
        "current_stage": serializers.CharField(allow_null=True),
        "next_milestone": serializers.CharField(allow_null=True),
        "waiting_on": serializers.ListField(child=serializers.CharField()),
        "flags": serializers.ListField(child=serializers.CharField()),
        "evaluated_at": AwareDateTimeField(allow_null=True),
        "as_of": AwareDateTimeField(allow_null=True),
        "milestones": MILESTONES_OUT,
    },
)

TEMPLATE_LIST = inline_serializer(
    "TemplateList",
    {
        "results": inline_serializer(
            "TemplateOut",
            many=True,
            fields={
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "mode": serializers.CharField(),
                "shipment_type": serializers.CharField(),
                "version": serializers.IntegerField(),
                "milestones": inline_serializer(
                    "TemplateMilestone",
                    many=True,
                    fields={
                        "code": serializers.CharField(),
                        "label": serializers.CharField(),
                        "sequence": serializers.IntegerField(),
                        "kind": serializers.CharField(),
                        "required": serializers.BooleanField(),
                        "customer_visible": serializers.BooleanField(),
                    },
                ),
            },
        )
    },
)

CREATE_EXAMPLE = OpenApiExample(
    "Minimal",
    request_only=True,
    value={
        "references": [{"kind": "tracking_number", "value": "1Z999AA10123456784"}],
        "mode": "road_ftl",
        "booked_at": "2026-03-05T09:00:00+01:00",
    },
)
CREATE_FULL_EXAMPLE = OpenApiExample(
    "With places and a customer",
    request_only=True,
    value={
        "references": [
            {"kind": "tracking_number", "value": "PRO-448812"},
            {"kind": "purchase_order", "value": "PO-2026-0042"},
        ],
        "mode": "road_ftl",
        "booked_at": "2026-03-05T09:00:00+01:00",
        "carrier": "Nordic Haulage",
        "service": "express",
        "customer": "SHIPPER1",
        "shipper_name": "Acme Tools GmbH",
        "consignee_name": "Baltic Retail AB",
        "origin": {"locode": "DEHAM"},
        "destination": {"address": "Hamngatan 1, Stockholm", "lat": 59.33, "lon": 18.07},
        "promised_at": "2026-03-07T17:00:00+01:00",
    },
)
SHIPMENT_EXAMPLE = OpenApiExample(
    "A shipment",
    response_only=True,
    value={
        "id": "shp_7k2m9q4xv1c8h3tz",
        "references": [{"kind": "tracking_number", "value": "1Z999AA10123456784"}],
        "mode": "road_ftl",
        "service": "",
        "carrier": "",
        "customer": None,
        "shipper_name": "",
        "consignee_name": "",
        "origin": {"locode": "", "address": "", "lat": None, "lon": None},
        "destination": {"locode": "", "address": "", "lat": None, "lon": None},
        "template": {"id": 12, "name": "Road FTL", "version": 1},
        "parent": None,
        "booked_at": "2026-03-05T08:00:00Z",
        "promised_at": None,
        "status": "booked",
        "current_stage": "booked",
        "next_milestone": "picked_up",
        "eta": "2026-03-07T08:00:00Z",
        "progress": 0,
        "late": False,
        "created_at": "2026-03-05T08:00:01Z",
        "updated_at": "2026-03-05T08:00:01Z",
    },
)

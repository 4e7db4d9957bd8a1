"""Request shapes of the billing API (validation and the schema)."""

from __future__ import annotations

from rest_framework import serializers

from billing.models import Decision

ID_MAX = 10**18 - 1


class InvoiceIn(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    shipment = serializers.RegexField(r"^shp_[0-9a-hjkmnp-tv-z]{16}$", required=False)


class DecisionIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[Decision.ACCEPTED, Decision.DISPUTED])
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CarrierInvoiceUpload(serializers.Serializer):
    file = serializers.FileField()
    mapping = serializers.CharField(
        required=False, help_text='JSON: {"reference": "<column>", "amount": "<column>", …}'
    )
    carrier = serializers.CharField(required=False, allow_blank=True, max_length=120)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=80)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)

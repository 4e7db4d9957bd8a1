"""Serializers of the documents channel."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from integrations.documents import extraction
from integrations.models import ProposedUpdate


class ProposalOut(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = ProposedUpdate
        fields = [
            "id",
            "message",
            "attachment",
            "shipment",
            "document_type",
            "references",
            "milestone",
            "occurred_at",
            "confidence",
            "status",
            "fields",
            "decided_by",
            "decided_at",
            "event_id",
            "reason",
            "created_at",
        ]


class ProposalDetailOut(ProposalOut):
    class Meta(ProposalOut.Meta):
        fields = [*ProposalOut.Meta.fields, "extracted_text"]


class ConfirmIn(serializers.Serializer):
    shipment_id = serializers.IntegerField(required=False, allow_null=True)
    milestone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)


class RejectIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


DOCUMENT_UPLOAD = inline_serializer(
    "DocumentUpload",
    {
        "file": serializers.FileField(),
        "shipment_id": serializers.IntegerField(required=False),
        "document_type": serializers.ChoiceField(choices=extraction.DOCUMENT_TYPES, required=False),
    },
)

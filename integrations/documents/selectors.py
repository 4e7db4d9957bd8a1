"""Reads of the documents channel: proposed updates for ops review."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from integrations.models import Attachment, AttachmentKind, ProposalStatus, ProposedUpdate
from tenancy.errors import DomainError

LIST_LIMIT = 500


def proposal_list(*, status: str = "") -> QuerySet[ProposedUpdate]:
    if status and status not in ProposalStatus.values:
        raise DomainError(
            f"Unknown status {status!r}; expected one of {', '.join(ProposalStatus.values)}.",
            code="invalid_status",
            fields={"status": "Unknown status."},
        )
    proposals = ProposedUpdate.objects.select_related("decided_by")
    if status:
        proposals = proposals.filter(status=status)
    return proposals.order_by("-created_at", "-id")


def shipment_documents(*, shipment_id: int) -> QuerySet[Attachment]:
    """The documents uploaded for a shipment (named at upload, or matched by reading it),
    oldest first."""
    return (
        Attachment.objects.filter(kind=AttachmentKind.DOCUMENT)
        .filter(
            Q(message__content_type__endswith=f"; shipment-id={shipment_id}")
            | Q(message__proposals__shipment_id=shipment_id)
        )
        .select_related("message")
        .distinct()
        .order_by("created_at", "id")
    )

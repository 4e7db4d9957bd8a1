"""Reads of the documents channel: proposed updates for ops review."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.models import ProposalStatus, ProposedUpdate
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

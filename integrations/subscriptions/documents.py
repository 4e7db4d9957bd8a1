"""``document.added``: a processed document was attached to a shipment (called once per
batch by integrations.documents.services, in its transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.models import ProposedUpdate
from integrations.subscriptions import outbox, payloads
from integrations.subscriptions.models import EventType


def documents_added(*, proposals: Sequence[ProposedUpdate]) -> list[int]:
    """One event per document and shipment (a document read again, or replayed, adds
    nothing: the key is the message and the shipment)."""
    items = [
        outbox.OutboxItem(
            event_type=EventType.DOCUMENT_ADDED,
            data={
                "document": {
                    "id": str(proposal.message_id),
                    "type": proposal.document_type or None,
                    "content_type": proposal.attachment.content_type
                    if proposal.attachment
                    else None,
                    "size": proposal.attachment.size if proposal.attachment else None,
                    "milestone": proposal.milestone or None,
                    "occurred_at": payloads.iso(proposal.occurred_at),
                    "confidence": round(proposal.confidence, 3),
                }
            },
            shipment_id=proposal.shipment_id,
            key=f"document.added:{proposal.message_id}:{proposal.shipment_id}",
        )
        for proposal in proposals
        if proposal.shipment_id is not None
    ]
    return outbox.outbox_record(items=items) if items else []

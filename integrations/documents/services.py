"""Shipping documents: upload (stored first), extraction into a proposed update, ops review.

An uploaded bill of lading, air waybill, proof of delivery or customs release is stored as an
inbound message of channel "document" with an Attachment, then processed by the pipeline
(its channel processor) through ``process_document_messages``: its text is read and what it
proves becomes a ``ProposedUpdate``. The update is applied at once only when its confidence
reaches the tenant's ``IngestPolicy.document_auto_apply_threshold`` and the shipment, the
milestone and the time are all known; otherwise ops confirm (or reject) it.

The uploader's hints (document type, shipment) travel as parameters of the stored message's
content type, e.g. ``application/pdf; document-type=proof_of_delivery; shipment-id=42``.
Processing is idempotent: one proposal per message, a decided proposal is never redone, the
event's dedupe key is ``document:<message id>:<milestone>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from integrations import services
from integrations.documents import extraction
from integrations.errors import IngestError
from integrations.limits import max_document_bytes
from integrations.models import (
    FINISHED_STATUSES,
    Attachment,
    AttachmentKind,
    Channel,
    DeadLetter,
    InboundMessage,
    IngestPolicy,
    MessageStatus,
    ProposalStatus,
    ProposedUpdate,
)
from integrations.pipeline import STAGE_INTAKE, STAGE_PARSE, register_channel_processor
from integrations.selectors import SenderScope
from integrations.subscriptions.documents import documents_added
from shipments.models import Classifier, Shipment, SourceKind, TrackingEvent
from shipments.selectors import shipment_ids_by_reference_values
from shipments.services import NewEvent, events_record
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id
from tenancy.errors import PayloadTooLarge
from tenancy.models import ApiKey, Tenant, User

DEFAULT_THRESHOLD = 0.95
FORMAT = "document"
MAX_TEXT_CHARS = 100_000  # kept on the proposal
TYPE_ALIASES = {
    "pod": extraction.PROOF_OF_DELIVERY,
    "bl": extraction.BILL_OF_LADING,
    "bol": extraction.BILL_OF_LADING,
    "b/l": extraction.BILL_OF_LADING,
    "awb": extraction.AIR_WAYBILL,
    "customs": extraction.CUSTOMS_RELEASE,
}
_MILESTONE_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


# --- upload ---------------------------------------------------------------------------------


def document_type_normalize(value: str) -> str:
    """A document type hint as stored ("" for none); IngestError when unknown."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    value = TYPE_ALIASES.get(value, value)
    if value not in extraction.DOCUMENT_TYPES:
        raise IngestError(
            f"Unknown document type {value!r}; expected one of "
            f"{', '.join(extraction.DOCUMENT_TYPES)}.",
            code="invalid_document_type",
            field="document_type",
        )
    return value


def _hints(content_type: str) -> dict[str, str]:
    params = {}
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip()
    return params


def document_store(
    *,
    body: bytes,
    filename: str = "",
    declared_size: int | None = None,
    document_type: str = "",
    shipment: Shipment | None = None,
    sent_by_key: ApiKey | None = None,
) -> InboundMessage:
    """Store an uploaded document (message + attachment, one transaction); processed later.

    The type is told by the file's magic bytes. Too large or not a PDF/PNG/JPEG/TIFF: the
    bytes are recorded as a message refused at intake (dead, with a dead letter saying why,
    never replayed) and IngestError (413 / 415) is raised.
    """
    document_type = document_type_normalize(document_type)
    body = bytes(body)
    size = max(len(body), declared_size or 0)
    limit = max_document_bytes()
    if size > limit:
        services.message_reject(
            integration=None,
            channel=Channel.DOCUMENT,
            body=body[:limit],
            size=size,
            content_type="",
            reason=f"document too large ({size} bytes > {limit})",
        )
        raise PayloadTooLarge(f"Document too large ({size} bytes > {limit}).")
    kind = extraction.sniff(body)
    if kind is None:
        reason = "unsupported document type: send a PDF, PNG, JPEG or TIFF file"
        services.message_reject(
            integration=None, channel=Channel.DOCUMENT, body=body, content_type="", reason=reason
        )
        raise IngestError(
            "Unsupported document type: send a PDF, PNG, JPEG or TIFF file.",
            code="unsupported_media_type",
            status=415,
        )
    content_type = kind
    if document_type:
        content_type += f"; document-type={document_type}"
    if shipment is not None:
        content_type += f"; shipment-id={shipment.pk}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1])[-100:] or "document"
    with transaction.atomic():
        message = services.message_store(
            integration=None,
            channel=Channel.DOCUMENT,
            body=body,
            content_type=content_type,
            limit=max_document_bytes(),
            sent_by_key=sent_by_key,
        )
        Attachment.objects.create(
            message=message,
            kind=AttachmentKind.DOCUMENT,
            file=ContentFile(body, name=name),
            content_type=kind,
            size=len(body),
            sha256=message.sha256,
        )
    return message


# --- processing -----------------------------------------------------------------------------


def auto_apply_threshold() -> float:
    """The tenant's threshold; its policy row is created with the defaults on first use."""
    policy, _ = IngestPolicy.objects.get_or_create(
        defaults={"document_auto_apply_threshold": DEFAULT_THRESHOLD}
    )
    return policy.document_auto_apply_threshold


def _dead_letter(message: InboundMessage, reason: str) -> None:
    """Mark the message dead with one unresolved dead letter for this reason."""
    reason = reason[:2000]
    if not DeadLetter.objects.filter(
        message=message, reason=reason, resolved_at__isnull=True
    ).exists():
        DeadLetter.objects.create(message=message, reason=reason, stage=STAGE_PARSE)
    message.status = MessageStatus.DEAD
    message.last_error = reason
    message.events_parsed = 0
    message.events_applied = 0


def _read(message: InboundMessage, tz: str, type_hint: str):
    """(text, extraction) of one message; raises ExtractionError."""
    try:
        text = extraction.extract_text(bytes(message.body), message.content_type)
        found = extraction.extract_fields(text.text, tz=tz, type_hint=type_hint)
    except extraction.ExtractionError:
        raise
    except Exception as error:  # a parser bug on odd input must not kill the whole batch
        raise extraction.ExtractionError(
            f"extraction failed: {type(error).__name__}: {error}"
        ) from error
    return text, found


def process_document_messages(messages: Sequence[InboundMessage], *, force: bool = False) -> None:
    """Turn locked document messages into proposed updates (see the module docstring).

    Sets each message's status, counters, processed_at and last_error (not ``attempts``: the
    task counts deliveries before any work). Unreadable documents
    become dead with a dead letter ("no OCR engine available", "unreadable PDF: …").
    """
    ids = [m.pk for m in messages]
    refused = set(
        DeadLetter.objects.filter(message_id__in=ids, stage=STAGE_INTAKE).values_list(
            "message_id", flat=True
        )
    )
    todo = [
        m for m in messages if m.pk not in refused and (force or m.status not in FINISHED_STATUSES)
    ]
    if not todo:
        return
    todo_ids = [m.pk for m in todo]
    attachments: dict[int, Attachment] = {}
    for attachment in Attachment.objects.filter(
        message_id__in=todo_ids, kind=AttachmentKind.DOCUMENT
    ).order_by("-pk"):
        attachments[attachment.message_id] = attachment
    proposals = {p.message_id: p for p in ProposedUpdate.objects.filter(message_id__in=todo_ids)}
    tz = Tenant.objects.values_list("timezone", flat=True).get(pk=current_tenant_id())
    threshold = auto_apply_threshold()
    now = timezone.now()

    read: list[tuple[InboundMessage, extraction.Text, extraction.Extraction, dict]] = []
    for message in todo:
        message.format = FORMAT
        message.processed_at = now
        existing = proposals.get(message.pk)
        if existing is not None and existing.status != ProposalStatus.PENDING:
            # Already decided (by ops or automatically): processing again changes nothing.
            message.status = MessageStatus.PROCESSED
            message.last_error = ""
            continue
        hints = _hints(message.content_type)
        try:
            text, found = _read(message, tz, hints.get("document-type", ""))
        except extraction.ExtractionError as error:
            _dead_letter(message, error.reason)
            continue
        read.append((message, text, found, hints))

    values = {
        value
        for _, _, found, _ in read
        for ref in found.references
        if ref.valid is not False
        for value in ref.lookup_values()
    }
    by_reference = shipment_ids_by_reference_values(values) if values else {}
    scope = SenderScope([m for m, *_ in read], {s for ids in by_reference.values() for s in ids})
    hinted = {int(h["shipment-id"]) for *_, h in read if h.get("shipment-id", "").isdigit()}
    visible = set(Shipment.objects.filter(pk__in=hinted).values_list("pk", flat=True))

    to_apply: list[tuple[ProposedUpdate, NewEvent]] = []
    proposals_saved: list[ProposedUpdate] = []
    for message, text, found, hints in read:
        matched: set[int] = set()
        for ref in found.references:
            if ref.valid is not False:
                for value in ref.lookup_values():
                    matched |= by_reference.get(value, set())
        matched = scope.allowed(message, matched)
        hint = hints.get("shipment-id", "")
        hint_id = int(hint) if hint.isdigit() and int(hint) in visible else None
        if hint_id is not None:
            shipment_id, shipment_matched = hint_id, matched == {hint_id}
        elif len(matched) == 1:
            shipment_id, shipment_matched = next(iter(matched)), True
        else:
            shipment_id, shipment_matched = None, False
        confidence = extraction.score(found, shipment_matched=shipment_matched)
        fields = found.fields() | {
            "method": text.method,
            "pages": text.pages,
            "time_zone": tz,
            "shipment_matched": shipment_matched,
            "matched_shipments": sorted(matched),
            "hints": {k: v for k, v in hints.items() if k in ("document-type", "shipment-id")},
            "threshold": threshold,
        }
        proposal = proposals.get(message.pk) or ProposedUpdate(message=message)
        proposal.attachment = attachments.get(message.pk)
        proposal.shipment_id = shipment_id
        proposal.document_type = found.document_type
        proposal.references = [r.as_dict() for r in found.references]
        proposal.milestone = found.milestone
        proposal.occurred_at = found.occurred_at
        proposal.confidence = confidence
        proposal.extracted_text = text.text[:MAX_TEXT_CHARS]
        proposal.fields = fields
        proposal.status = ProposalStatus.PENDING
        proposal.save()
        proposals_saved.append(proposal)
        if (
            confidence >= threshold
            and shipment_id is not None
            and found.milestone
            and found.occurred_at is not None
        ):
            to_apply.append((proposal, _auto_event(proposal)))
        message.status = MessageStatus.PROCESSED
        message.last_error = ""
        message.events_parsed = 1

    # Partner webhooks: "document.added" for each document now attached to a shipment.
    documents_added(proposals=[p for p in proposals_saved if p.shipment_id is not None])
    if to_apply:
        events_record(events=[event for _, event in to_apply], refresh=True)
        keys = {event.dedupe_key for _, event in to_apply}
        recorded = dict(
            TrackingEvent.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", "pk")
        )
        for proposal, event in to_apply:
            proposal.status = ProposalStatus.AUTO_APPLIED
            proposal.event_id = recorded.get(event.dedupe_key)
            proposal.decided_at = now
            proposal.save(update_fields=["status", "event_id", "decided_at"])
    applied = {proposal.message_id for proposal, _ in to_apply}
    for message in todo:
        if message.status == MessageStatus.PROCESSED:
            if message.pk in applied:
                message.events_applied = 1
            message.events_held = 0
    InboundMessage.objects.bulk_update(todo, InboundMessage.OUTCOME_FIELDS)
    # A document read this time resolves what kept it dead before (a replay after a fix).
    DeadLetter.objects.filter(
        message_id__in=[m.pk for m in todo if m.status == MessageStatus.PROCESSED],
        resolved_at__isnull=True,
    ).exclude(stage=STAGE_INTAKE).update(resolved_at=now)


def _dedupe_key(proposal: ProposedUpdate, milestone: str) -> str:
    return f"document:{proposal.message_id}:{milestone}"[:128]


def _event_details(proposal: ProposedUpdate) -> dict:
    return {
        "proposal": proposal.pk,
        "document_type": proposal.document_type,
        "confidence": proposal.confidence,
        "references": proposal.references,
    }


def _auto_event(proposal: ProposedUpdate) -> NewEvent:
    return NewEvent(
        shipment_id=proposal.shipment_id,
        milestone=proposal.milestone,
        occurred_at=proposal.occurred_at,
        classifier=Classifier.ACTUAL,
        source_kind=SourceKind.INTEGRATION,
        source_name=f"document:{proposal.document_type or 'unknown'}",
        dedupe_key=_dedupe_key(proposal, proposal.milestone),
        inbound_message_id=proposal.message_id,
        details=_event_details(proposal),
    )


# --- ops review -----------------------------------------------------------------------------


def _lock_pending(proposal: ProposedUpdate) -> ProposedUpdate:
    locked = ProposedUpdate.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ProposalStatus.PENDING:
        raise IngestError(
            f"This proposal was already decided ({locked.status}).",
            code="already_decided",
            status=409,
        )
    return locked


@transaction.atomic
def proposal_confirm(
    *,
    proposal: ProposedUpdate,
    actor: User,
    shipment: Shipment | None = None,
    milestone: str = "",
    occurred_at: datetime | None = None,
) -> ProposedUpdate:
    """Ops confirm what a document proves (optionally corrected): the event is recorded."""
    proposal = _lock_pending(proposal)
    shipment_id = shipment.pk if shipment is not None else proposal.shipment_id
    milestone = (milestone or proposal.milestone or "").strip()
    occurred_at = occurred_at or proposal.occurred_at
    if shipment_id is None:
        raise IngestError(
            "Say which shipment (shipment_id).", code="shipment_required", field="shipment_id"
        )
    if not _MILESTONE_CODE.fullmatch(milestone):
        raise IngestError(
            "Say which milestone the document proves.",
            code="milestone_required",
            field="milestone",
        )
    if occurred_at is None:
        raise IngestError(
            "Say when it happened (occurred_at).",
            code="occurred_at_required",
            field="occurred_at",
        )
    if timezone.is_naive(occurred_at):
        raise IngestError(
            "occurred_at needs a time zone offset.",
            code="invalid_occurred_at",
            field="occurred_at",
        )
    reason = f"confirmed from document {proposal.document_type or 'unknown'}"
    before = {
        "shipment": proposal.shipment_id,
        "milestone": proposal.milestone,
        "occurred_at": proposal.occurred_at.isoformat() if proposal.occurred_at else None,
    }
    proposal.shipment_id, proposal.milestone, proposal.occurred_at = (
        shipment_id,
        milestone,
        occurred_at,
    )
    inserted = events_record(
        events=[
            NewEvent(
                shipment_id=shipment_id,
                milestone=milestone,
                occurred_at=occurred_at,
                classifier=Classifier.ACTUAL,
                source_kind=SourceKind.USER,
                source_name=f"user:{actor.email}",
                reason=reason,
                author_id=actor.pk,
                dedupe_key=_dedupe_key(proposal, milestone),
                inbound_message_id=proposal.message_id,
                details=_event_details(proposal),
            )
        ]
    )
    if not inserted:
        raise IngestError(
            "This document's milestone was already recorded for that shipment.",
            code="already_recorded",
            status=409,
        )
    proposal.status = ProposalStatus.APPLIED
    proposal.event_id = inserted[0]
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    proposal.save()
    InboundMessage.objects.filter(pk=proposal.message_id).update(events_applied=1)
    audit_record(
        action="document.confirm",
        target_type="proposed_update",
        target_id=proposal.pk,
        actor=actor,
        reason=reason,
        changes={
            "before": before,
            "shipment": shipment_id,
            "milestone": milestone,
            "occurred_at": occurred_at.isoformat(),
            "event": proposal.event_id,
        },
    )
    return proposal


@transaction.atomic
def proposal_reject(*, proposal: ProposedUpdate, actor: User, reason: str) -> ProposedUpdate:
    """Ops say the document does not prove this; nothing is recorded on the shipment."""
    reason = (reason or "").strip()
    if not reason:
        raise IngestError(
            "A reason is required to reject a proposal.", code="reason_required", field="reason"
        )
    proposal = _lock_pending(proposal)
    proposal.status = ProposalStatus.REJECTED
    proposal.reason = reason
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "reason", "decided_by", "decided_at"])
    audit_record(
        action="document.reject",
        target_type="proposed_update",
        target_id=proposal.pk,
        actor=actor,
        reason=reason,
        changes={"document_type": proposal.document_type, "milestone": proposal.milestone},
    )
    return proposal


register_channel_processor("document", process_document_messages)

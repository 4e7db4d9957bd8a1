"""Writes for ingestion: integrations, storing inbound messages first, dead-letter replay."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from integrations import pipeline
from integrations.code_tables import feed_mapping_with, is_feed
from integrations.errors import IngestError
from integrations.feeds.services import feed_mapping_save
from integrations.formats import FORMATS
from integrations.limits import max_body_bytes, too_large
from integrations.models import (
    Channel,
    DeadLetter,
    InboundMessage,
    Integration,
    IntegrationKind,
    MessageStatus,
    new_integration_secret,
)
from integrations.selectors import known_milestones
from integrations.tasks import message_enqueue
from tenancy.audit import audit_record
from tenancy.errors import DomainError
from tenancy.models import ApiKey, User
from tenancy.text import printable

logger = logging.getLogger(__name__)

logger = logging.getLogger(__name__)

MASK = "********"
AUDITED_FIELDS = (
    "name",
    "kind",
    "partner_name",
    "is_active",
    "code_overrides",
    "poll_adapter",
    "poll_config",
    "poll_interval_s",
    "inbox_enabled",
)


@transaction.atomic
def integration_create(
    *,
    name: str,
    kind: str,
    partner_name: str = "",
    code_overrides: dict | None = None,
    is_active: bool = True,
    poll_adapter: str = "",
    poll_config: dict | None = None,
    poll_interval_s: int = 300,
    inbox_enabled: bool = False,
    actor: User | None = None,
) -> Integration:
    """Create an integration. Poll credentials never reach the audit log."""
    if kind not in IntegrationKind.values:
        raise IngestError(f"Unknown integration kind {kind!r}", code="invalid_kind", field="kind")
    values = {
        "name": name,
        "kind": kind,
        "partner_name": partner_name,
        "code_overrides": code_overrides or {},
        "is_active": is_active,
        "poll_adapter": poll_adapter,
        "poll_config": poll_config or {},
        "poll_interval_s": poll_interval_s,
        "inbox_enabled": inbox_enabled,
    }
    integration = Integration.objects.create(**values)
    audit_record(
        action="integration.create",
        target_type="integration",
        target_id=integration.pk,
        actor=actor,
        changes=_audit_values(values),
    )
    return integration


def redacted_config(config: dict) -> dict:
    """poll_config with every header value (API keys, tokens) masked."""
    config = dict(config or {})
    if isinstance(config.get("headers"), dict):
        config["headers"] = dict.fromkeys(config["headers"], MASK)
    return config


# --- writes (service layer of this API) ------------------------------------------------------


def _audit_values(values: dict) -> dict:
    return {
        k: redacted_config(v) if k == "poll_config" else v
        for k, v in values.items()
        if k in AUDITED_FIELDS
    }


UPDATABLE_FIELDS = frozenset(AUDITED_FIELDS)


@transaction.atomic
def integration_update(
    *, integration: Integration, changes: Mapping[str, Any], actor: User | None = None
) -> Integration:
    """Apply ``changes`` (field -> new value, fields of UPDATABLE_FIELDS only), audited."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise IngestError(f"Cannot change {', '.join(unknown)}", code="invalid", field=unknown[0])
    values = dict(changes)
    if "poll_config" in values:
        values["poll_config"] = _keep_masked_headers(values["poll_config"], integration.poll_config)
    changed = {}
    for key, value in values.items():
        before = getattr(integration, key)
        if before != value:
            changed[key] = [before, value]
            setattr(integration, key, value)
    if changed:
        integration.save(update_fields=list(changed))
        audit_record(
            action="integration.update",
            target_type="integration",
            target_id=integration.pk,
            actor=actor,
            changes={
                k: [redacted_config(b), redacted_config(a)] if k == "poll_config" else [b, a]
                for k, (b, a) in changed.items()
            },
        )
    return integration


@transaction.atomic
def integration_rotate_secret(
    *, integration: Integration, actor: User | None = None
) -> Integration:
    integration.secret = new_integration_secret()
    integration.save(update_fields=["secret"])
    audit_record(
        action="integration.rotate_secret",
        target_type="integration",
        target_id=integration.pk,
        actor=actor,
        changes={"secret": "rotated"},
    )
    return integration


def _keep_masked_headers(new: dict, old: dict) -> dict:
    """A header sent back as the mask keeps its stored value (clients round-trip reads)."""
    headers = new.get("headers")
    if not isinstance(headers, dict):
        return new
    old_headers = (old or {}).get("headers") or {}
    merged = {k: old_headers.get(k, "") if v == MASK else v for k, v in headers.items()}
    return {**new, "headers": merged}


def integration_set_overrides(
    *, integration: Integration, code_overrides: dict, actor: User | None = None
) -> Integration:
    before = integration.code_overrides
    integration.code_overrides = dict(code_overrides)
    integration.save(update_fields=["code_overrides"])
    audit_record(
        action="integration.overrides",
        target_type="integration",
        target_id=integration.pk,
        actor=actor,
        changes={"code_overrides": [before, integration.code_overrides]},
    )
    return integration


def _enqueue(message: InboundMessage) -> None:
    tenant_id, message_id, interactive = message.tenant_id, message.pk, message.interactive

    def publish() -> None:
        # One attempt, bounded by the broker's connect/socket timeouts (config/settings.py),
        # not the default retry policy (0.6-1.2 s per request while the broker is down): the
        # message is committed, and the stale sweep (integrations.requeue_stale) enqueues it.
        # max_retries=0 rather than retry=False: a retried publish elsewhere in the process
        # leaves its policy on the pooled connection, and retry=False then waits it out.
        try:
            message_enqueue(
                tenant_id=tenant_id,
                message_id=message_id,
                interactive=interactive,
                retry_policy={"max_retries": 0},
            )
        except BrokerUnavailable as error:
            logger.warning("ingest: message %s stored, not enqueued (%s)", message_id, error)

    # robust: whatever else goes wrong publishing, the request must not fail.
    transaction.on_commit(publish, robust=True)


def message_store(
    *,
    integration: Integration | None,
    channel: str,
    body: bytes,
    content_type: str = "",
    format_hint: str = "",
    declared_size: int | None = None,
    limit: int | None = None,
    sent_by_key: ApiKey | None = None,
    interactive: bool = False,
) -> InboundMessage:
    """Store the raw bytes (with checksum) now; processing is enqueued after commit.

    ``interactive``: someone waits to see the result (one shipment's events, a scan); it is
    processed on the interactive queue, alone (integrations.tasks).

    Oversized bodies raise IngestError(413) after recording a dead message (first ``limit``
    bytes kept) so the rejection is visible to ops: the caller must not roll it back.
    """
    if channel not in Channel.values:
        raise IngestError(f"Unknown channel {channel!r}", code="invalid_channel")
    known_formats = ("auto", *FORMATS)
    if format_hint and format_hint not in known_formats:
        raise IngestError(
            f"Unknown format {format_hint!r}; expected {', '.join(known_formats)}",
            code="invalid_format",
            field="format_hint",
        )
    body = bytes(body)
    limit = limit or max_body_bytes()
    size = max(len(body), declared_size or 0)
    oversized = too_large(size, limit)
    if oversized is not None:
        message_reject(
            integration=integration,
            channel=channel,
            body=body[:limit],
            size=size,
            content_type=content_type,
            reason=f"body too large ({size} bytes > {limit})",
        )
        raise oversized
    # No savepoint when nested (the webhook's request transaction): a failure here fails the
    # whole request anyway, and the two extra round trips per message showed at ingest rates.
    with transaction.atomic(savepoint=False):
        message = InboundMessage.objects.create(
            integration=integration,
            channel=channel,
            content_type=content_type[:200],
            body=body,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            format_hint="" if format_hint == "auto" else format_hint,
            status=MessageStatus.RECEIVED,
            sent_by_key=sent_by_key,
            interactive=interactive,
        )
        _enqueue(message)
    return message


@transaction.atomic
def message_reject(
    *,
    integration: Integration | None,
    channel: str,
    body: bytes,
    content_type: str,
    reason: str,
    size: int | None = None,
) -> InboundMessage:
    """Record a message refused at intake (bad signature, too large): dead, never processed."""
    reason = printable(reason)
    message = InboundMessage.objects.create(
        integration=integration,
        channel=channel,
        content_type=printable(content_type[:200]),
        body=bytes(body),
        size=len(body) if size is None else size,
        sha256=hashlib.sha256(bytes(body)).hexdigest(),
        status=MessageStatus.DEAD,
        last_error=reason,
        processed_at=timezone.now(),
    )
    DeadLetter.objects.create(message=message, reason=reason, stage=pipeline.STAGE_INTAKE)
    return message


def message_refuse(
    *, channel: str, body: bytes, size: int, content_type: str, error: DomainError
) -> DomainError:
    """Record a body refused at the door (at most the size limit of it) as a dead message with
    the error as its reason, then hand the error back for the caller to raise: what was
    refused stays visible in the dead letters. The caller's transaction must commit (a 4xx
    answer does)."""
    limit = max_body_bytes()
    reason = error.message
    if error.fields:
        reason += " (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in error.fields.items()) + ")"
    message_reject(
        integration=None,
        channel=channel,
        body=body[:limit],
        size=size,
        content_type=content_type,
        reason=reason[:2000],
    )
    return error


@dataclass
class ReplayResult:
    replayed: int
    resolved: int
    messages: int
    failed: list[dict[str, Any]] = field(default_factory=list)  # message_id, reason


def _process_isolated(message_ids: list[int]) -> tuple[dict[int, pipeline.MessageOutcome], dict]:
    """Replay the messages together; if that fails, each alone, so one message the pipeline
    cannot handle fails its own replay only (its reason recorded), never its batch-mates'."""
    try:
        with transaction.atomic():
            outcomes = pipeline.process_messages(message_ids, force=True)
        return {o.message_id: o for o in outcomes}, {}
    except Exception:  # a bug on some message: find which, one at a time
        logger.exception("replay of %s failed as a batch; replaying one by one", message_ids)
    found: dict[int, pipeline.MessageOutcome] = {}
    failed: dict[int, str] = {}
    for message_id in message_ids:
        try:
            with transaction.atomic():
                found.update(
                    (o.message_id, o) for o in pipeline.process_messages([message_id], force=True)
                )
        except Exception as error:
            logger.exception("replay of message %s failed", message_id)
            failed[message_id] = f"replay failed: {type(error).__name__}: {error}"[:2000]
    for message_id, reason in failed.items():
        _record_replay_failure(message_id, reason)
    return found, failed


def _record_replay_failure(message_id: int, reason: str) -> None:
    """The message stays dead, with a dead letter giving the new reason."""
    InboundMessage.objects.filter(pk=message_id).update(
        status=MessageStatus.DEAD, last_error=reason, processed_at=timezone.now()
    )
    if not DeadLetter.objects.filter(
        message_id=message_id, reason=reason, resolved_at__isnull=True
    ).exists():
        DeadLetter.objects.create(message_id=message_id, reason=reason, stage=pipeline.STAGE_TASK)


def _replay(dead_letters: list[DeadLetter]) -> ReplayResult:
    refused = [d for d in dead_letters if d.stage == pipeline.STAGE_INTAKE]
    if refused and len(refused) == len(dead_letters):
        raise IngestError(
            "This message was refused at intake (bad signature or too large); "
            "ask the partner to resend it.",
            code="not_replayable",
            status=409,
        )
    letters = [d for d in dead_letters if d.stage != pipeline.STAGE_INTAKE]
    message_ids = sorted({d.message_id for d in letters})
    outcomes, failed = _process_isolated(message_ids)
    now = timezone.now()
    DeadLetter.objects.filter(pk__in=[d.pk for d in letters]).update(
        replay_count=F("replay_count") + 1
    )
    # Every unresolved letter of the replayed messages that did not recur is now resolved.
    # Messages of channel processors (documents, positions) report no outcome: for them a
    # replay that ends "processed" resolves their letters.
    processed = set(
        InboundMessage.objects.filter(
            pk__in=message_ids, status=MessageStatus.PROCESSED
        ).values_list("pk", flat=True)
    )
    resolved = 0
    open_letters = DeadLetter.objects.filter(
        message_id__in=[m for m in message_ids if m not in failed], resolved_at__isnull=True
    ).exclude(stage=pipeline.STAGE_INTAKE)
    for letter in open_letters:
        outcome = outcomes.get(letter.message_id)
        cleared = outcome is None and letter.message_id in processed
        if cleared or (
            outcome and (letter.reason, letter.position, letter.unit) not in outcome.errors
        ):
            letter.resolved_at = now
            letter.save(update_fields=["resolved_at"])
            resolved += 1
    return ReplayResult(
        replayed=len(letters),
        resolved=resolved,
        messages=len(message_ids),
        failed=[{"message_id": m, "reason": r} for m, r in sorted(failed.items())],
    )


@transaction.atomic
def dead_letter_replay(*, dead_letter: DeadLetter, actor: User | None = None) -> DeadLetter:
    """Re-run the pipeline for the letter's message; resolved when the problem is gone."""
    _replay([dead_letter])
    dead_letter.refresh_from_db()
    audit_record(
        action="dead_letter.replay",
        target_type="inbound_message",
        target_id=dead_letter.message_id,
        actor=actor,
        changes={"dead_letter": dead_letter.pk, "resolved": dead_letter.resolved_at is not None},
    )
    return dead_letter


@transaction.atomic
def dead_letters_replay_all(
    *, integration: Integration | None = None, actor: User | None = None
) -> ReplayResult:
    letters = DeadLetter.objects.filter(resolved_at__isnull=True).exclude(
        stage=pipeline.STAGE_INTAKE
    )
    if integration is not None:
        letters = letters.filter(message__integration=integration)
    letters = list(letters.order_by("pk"))
    if not letters:
        return ReplayResult(0, 0, 0)
    result = _replay(letters)
    audit_record(
        action="dead_letter.replay_all",
        target_type="integration",
        target_id=integration.pk if integration else "*",
        actor=actor,
        changes={"replayed": result.replayed, "resolved": result.resolved},
    )
    return result


def messages_replay(*, message_ids: list[int]) -> ReplayResult:
    """Replay these messages (a slice of a bulk replay): their open dead letters resolve
    where the problem is gone; messages with held events only are re-run too. A message the
    pipeline cannot handle fails alone, with its reason recorded (``failed``). Refused at
    intake is never replayed. The caller audits the bulk operation."""
    ids = sorted(set(message_ids))
    refused = set(
        DeadLetter.objects.filter(message_id__in=ids, stage=pipeline.STAGE_INTAKE).values_list(
            "message_id", flat=True
        )
    )
    ids = [i for i in ids if i not in refused]
    letters = list(
        DeadLetter.objects.filter(message_id__in=ids, resolved_at__isnull=True)
        .exclude(stage=pipeline.STAGE_INTAKE)
        .order_by("pk")
    )
    result = _replay(letters) if letters else ReplayResult(0, 0, 0)
    others = sorted(set(ids) - {d.message_id for d in letters})
    if others:
        _, failed = _process_isolated(others)
        result.messages += len(others)
        result.failed += [{"message_id": m, "reason": r} for m, r in sorted(failed.items())]
    return result


@transaction.atomic
def integration_code_table_save(
    *, integration: Integration, table: dict[str, str], actor: User | None = None
) -> Integration:
    """Store a checked code table (integrations.code_tables.table_check): a feed's
    ``code_map`` inside its mapping, a standard's ``code_overrides``. Audited either way."""
    if is_feed(integration):
        mapping = feed_mapping_with(integration, table, known=known_milestones())
        return feed_mapping_save(integration=integration, mapping=mapping, actor=actor)
    return integration_set_overrides(integration=integration, code_overrides=table, actor=actor)

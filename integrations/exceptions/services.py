"""Lifecycle of an exception by people: acknowledge, assign (a user or a role), resolve with a
note. Every step is audited; a resolution is announced like an automatic one (outbox, live
update, the workflow hooks). Detection (opening, re-detecting, auto-resolving) lives in
``integrations.exceptions.detection``."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from integrations.exceptions import detection
from integrations.exceptions.models import ExceptionStatus, ShipmentException
from tenancy.audit import audit_record
from tenancy.errors import Conflict, DomainError
from tenancy.models import ApiKey, Membership, Role, User

MAX_NOTE = 2000


def _change(x: ShipmentException) -> detection.Change:
    return detection.Change(
        kind="resolved",
        id=x.pk,
        public_id=x.public_id,
        type=x.type,
        shipment_id=x.shipment_id,
        milestone=x.milestone,
        severity=x.severity,
    )


def _unresolved(exception: ShipmentException) -> ShipmentException:
    locked = ShipmentException.objects.select_for_update().get(pk=exception.pk)
    if locked.status == ExceptionStatus.RESOLVED:
        raise Conflict("This exception is resolved already.", code="exception_resolved")
    return locked


@transaction.atomic
def exception_acknowledge(
    *, exception: ShipmentException, actor: User | None = None, api_key: ApiKey | None = None
) -> ShipmentException:
    x = _unresolved(exception)
    now = timezone.now()
    if x.status == ExceptionStatus.OPEN:
        x.status = ExceptionStatus.ACKNOWLEDGED
    x.acknowledged_at = x.acknowledged_at or now
    x.updated_at = now
    x.save(update_fields=["status", "acknowledged_at", "updated_at"])
    audit_record(
        action="exception.acknowledged",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"status": x.status},
    )
    return x


@transaction.atomic
def exception_assign(
    *,
    exception: ShipmentException,
    user_id: int | None = None,
    role: str | None = None,
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ShipmentException:
    """To a member of the tenant (``user_id``) or a role; exactly one of them."""
    if (user_id is None) == (not role):
        raise DomainError("Assign to a user or to a role.", code="invalid", field="user")
    if role and (role not in Role.values or role == Role.CUSTOMER):
        raise DomainError("Unknown staff role.", code="invalid", field="role")
    if (
        user_id is not None
        and not Membership.objects.filter(user_id=user_id, is_active=True)
        .exclude(role=Role.CUSTOMER)
        .exists()
    ):
        raise DomainError("Not a member of this tenant.", code="invalid", field="user")
    x = _unresolved(exception)
    now = timezone.now()
    x.status = ExceptionStatus.ASSIGNED
    x.assignee_user_id = user_id
    x.assignee_role = role or ""
    x.acknowledged_at = x.acknowledged_at or now
    x.updated_at = now
    x.save(
        update_fields=["status", "assignee_user", "assignee_role", "acknowledged_at", "updated_at"]
    )
    audit_record(
        action="exception.assigned",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"user": user_id, "role": role or ""},
    )
    return x


@transaction.atomic
def exception_resolve(
    *,
    exception: ShipmentException,
    note: str,
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ShipmentException:
    note = (note or "").strip()
    if not note:
        raise DomainError("Say how it was resolved.", code="invalid", field="note")
    if len(note) > MAX_NOTE or "\x00" in note:
        raise DomainError(f"At most {MAX_NOTE} characters.", code="invalid", field="note")
    x = _unresolved(exception)
    now = timezone.now()
    x.status = ExceptionStatus.RESOLVED
    x.resolved_at = now
    x.updated_at = now
    x.resolution_note = note
    x.save(update_fields=["status", "resolved_at", "updated_at", "resolution_note"])
    audit_record(
        action="exception.resolved",
        target_type="exception",
        target_id=x.public_id,
        actor=actor,
        api_key=api_key,
        changes={"auto": False},
        reason=note,
    )
    detection.announce(x.tenant_id, [_change(x)])
    return x

"""The audit log's one writer: every service records who changed what through ``audit_record``.

Its own module (not tenancy.services) so that the services of every layer can call it without
importing tenancy's other writes.
"""

from __future__ import annotations

from tenancy.models import ApiKey, AuditLog, User


def audit_record(
    *,
    action: str,
    target_type: str,
    target_id: object,
    actor: User | None = None,
    api_key: ApiKey | None = None,
    changes: dict[str, object] | None = None,
    reason: str = "",
) -> AuditLog:
    """Append one audit entry in the current tenant context."""
    return AuditLog.objects.create(
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        actor=actor if actor is not None and actor.is_authenticated else None,
        api_key=api_key,
        changes=changes or {},
        reason=reason,
    )

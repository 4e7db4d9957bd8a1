"""Writes of the feeds channel: an integration's CSV/JSON field mapping."""

from __future__ import annotations

from typing import Any

from integrations.feeds.parse import mapping_validate
from integrations.models import Integration
from integrations.selectors import known_milestones
from tenancy.audit import audit_record
from tenancy.models import User


def feed_mapping_save(
    *, integration: Integration, mapping: Any, actor: User | None = None
) -> Integration:
    """Validate and store an integration's feed mapping (audited); MappingError otherwise."""
    checked = mapping_validate(mapping, milestones=known_milestones())
    before = integration.feed_mapping
    integration.feed_mapping = checked
    integration.save(update_fields=["feed_mapping"])
    audit_record(
        action="integration.feed_mapping",
        target_type="integration",
        target_id=integration.pk,
        actor=actor,
        changes={"feed_mapping": [before, checked]},
    )
    return integration

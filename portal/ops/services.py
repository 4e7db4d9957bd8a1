"""The dashboard's own writes (saved views, tags) and its bulk actions, which call the
shipments services once per shipment: no second way to record a milestone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction

from integrations.workflow import services as workflow_services
from portal.ops.models import SavedView
from shipments import services as shipment_services
from shipments.models import Shipment
from tenancy.errors import DomainError
from tenancy.models import User

MAX_BULK = 500


@transaction.atomic
def saved_view_save(*, user: User, name: str, query: str) -> SavedView:
    name = name.strip()
    if not name:
        raise DomainError("Name the view.", code="name_required", field="name")
    view, _ = SavedView.objects.update_or_create(
        user=user, name=name[:80], defaults={"query": query[:1000]}
    )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    view.delete()


def tags_add(*, shipments: Sequence[Shipment], name: str, actor: User) -> int:
    """Tag the shipments: the workflow's tags, which rule filters and set_tag share."""
    return workflow_services.shipment_tags_add(shipments=shipments, tag=name, actor=actor)


def tag_remove(*, shipment: Shipment, name: str, actor: User) -> None:
    workflow_services.shipment_tag_remove(shipment=shipment, tag=name, actor=actor)


@dataclass
class BulkResult:
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (public id, reason)


def milestones_record_many(
    *,
    shipments: Sequence[Shipment],
    milestone: str,
    occurred_at: datetime,
    reason: str,
    actor: User,
    location: str = "",
) -> BulkResult:
    """shipments.services.milestone_record_manual for each shipment, each in its own
    transaction: one refused shipment (a milestone its template lacks) does not undo the rest."""
    if len(shipments) > MAX_BULK:
        raise DomainError(f"At most {MAX_BULK} shipments at once.", code="too_many")
    result = BulkResult()
    for shipment in shipments:
        try:
            with transaction.atomic():
                shipment_services.milestone_record_manual(
                    shipment=shipment,
                    milestone=milestone,
                    occurred_at=occurred_at,
                    reason=reason,
                    actor=actor,
                    location=location,
                )
            result.done += 1
        except (DomainError, IntegrityError) as error:
            result.failed.append((shipment.public_id, str(error)))
    return result

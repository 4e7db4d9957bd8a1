"""Writes of the customer portal: settings, share links, ratings, the message thread, the
notification opt-in (through integrations.notifications) and return requests."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.workflow import services as workflow_services
from milestones.default_templates import default_template
from milestones.models import MilestoneTemplate
from milestones.selectors import template_latest_version
from milestones.services import template_create
from portal.tracking import live, tokens
from portal.tracking.models import (
    Author,
    PortalSettings,
    Rating,
    ReturnRequest,
    ShareLink,
    ThreadMessage,
)
from portal.tracking.selectors import LOW_RATING
from shipments.models import Shipment
from shipments.services import shipment_create
from tenancy.audit import audit_record
from tenancy.errors import Conflict, DomainError
from tenancy.models import User

logger = logging.getLogger(__name__)

RETURN_TYPE = "return"
MAX_MESSAGE = 2000


class PortalError(DomainError):
    code = "invalid_request"
    status = 400


def settings_set(*, actor: User | None = None, **fields: object) -> PortalSettings:
    current = PortalSettings.objects.first() or PortalSettings()
    for name, value in fields.items():
        if name not in {"sharing_enabled", "share_link_days", "driver_position"}:
            raise PortalError(f"Unknown setting {name!r}.", field=name)
        setattr(current, name, value)
    current.updated_at = timezone.now()
    current.full_clean(exclude=["tenant"])
    current.save()
    audit_record(
        action="portal.settings",
        target_type="portal_settings",
        target_id=current.pk,
        actor=actor,
        changes={k: str(v) for k, v in fields.items()},
    )
    return current


def share_link_create(*, shipment: Shipment, actor: User | None = None) -> tuple[ShareLink, str]:
    """A new link to the shipment's full page: (row, token for /t/<token>/)."""
    settings = PortalSettings.objects.first() or PortalSettings()
    if not settings.sharing_enabled:
        raise Conflict("Sharing is switched off for this tenant.")
    link = ShareLink.objects.create(
        shipment=shipment,
        expires_at=timezone.now() + timedelta(days=settings.share_link_days),
        created_by=actor,
    )
    return link, tokens.share_token(tenant_id=link.tenant_id, nonce=link.nonce)


def share_link_revoke(*, link: ShareLink, actor: User | None = None) -> ShareLink:
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    audit_record(
        action="share_link.revoke", target_type="share_link", target_id=link.pk, actor=actor
    )
    return link


def share_links_revoke_all(*, actor: User | None = None) -> PortalSettings:
    current = PortalSettings.objects.first() or PortalSettings()
    current.links_valid_after = timezone.now()
    current.save()
    audit_record(
        action="share_link.revoke_all",
        target_type="portal_settings",
        target_id=current.pk,
        actor=actor,
    )
    return current


@transaction.atomic
def rating_submit(
    *, shipment: Shipment, stars: int, comment: str = "", followup_answer: str = ""
) -> Rating:
    """Rate a delivered shipment (1 to 5). A low rating's follow-up answer opens an ops task."""
    if shipment.status != "delivered":
        raise Conflict("Only a delivered shipment can be rated.")
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise PortalError("Give 1 to 5 stars.", field="stars")
    rating, _ = Rating.objects.update_or_create(
        shipment=shipment,
        defaults={"stars": stars, "comment": comment.strip()[:MAX_MESSAGE]},
    )
    if followup_answer.strip():
        rating.followup_answer = followup_answer.strip()[:MAX_MESSAGE]
        rating.save(update_fields=["followup_answer"])
    if rating.stars <= LOW_RATING and rating.task_id is None:
        open_rating_followup(rating)
    live.publish_ops(
        payload={"type": "rating.created", "shipment": shipment.public_id, "stars": stars}
    )
    return rating


def open_rating_followup(rating: Rating) -> int:
    """An ops task for a low rating, with the customer's words (idempotent per rating)."""
    shipment = rating.shipment
    task = workflow_services.create_task(
        tenant_id=rating.tenant_id,
        title=f"Low delivery rating ({rating.stars}/5) for {shipment.public_id}",
        shipment_id=shipment.pk,
        assignee_role="ops",
        source="rating",
        source_key=f"rating:{rating.pk}",
        note="\n\n".join(p for p in (rating.comment, rating.followup_answer) if p),
    )
    rating.task_id = task.pk
    rating.save(update_fields=["task_id"])
    return int(task.pk)


def message_post(
    *,
    shipment: Shipment,
    author_kind: str,
    body: str,
    author: User | None = None,
    addressed_to: str = "support",
) -> ThreadMessage:
    """One message on the shipment's thread; pushed live to the customer page and to ops."""
    text = (body or "").strip()
    if not text:
        raise PortalError("Write a message.", field="body")
    if len(text) > MAX_MESSAGE:
        raise PortalError(f"At most {MAX_MESSAGE} characters.", field="body")
    if author_kind not in Author.values:
        raise PortalError("Unknown author.", field="author_kind")
    message = ThreadMessage.objects.create(
        shipment=shipment,
        author_kind=author_kind,
        author=author,
        addressed_to=addressed_to if addressed_to in ("driver", "support") else "support",
        body=text,
    )
    live.publish_shipment(shipment)
    live.publish_ops(
        payload={"type": "thread.message", "shipment": shipment.public_id, "author": author_kind}
    )
    return message


def notify_optin(
    *,
    shipment: Shipment,
    tracking_number: str,
    sms: bool,
    email: bool,
    phone: str = "",
    address: str = "",
    milestones: list[str],
    locale: str,
):
    """The customer's channels and milestones for this tracking number (notifications app)."""
    from integrations.notifications.services import PreferenceValues, preference_set

    visible = set(milestones)
    values = PreferenceValues(
        email=address.strip(),
        phone=phone.strip(),
        locale=locale,
        email_enabled=email,
        sms_enabled=sms,
        email_milestones=sorted(visible) if email else (),
        sms_milestones=sorted(visible) if sms else (),
    )
    from integrations.selectors import known_milestones

    return preference_set(
        values=values, known_milestones=known_milestones(), tracking_number=tracking_number
    )


def _return_template():
    template = MilestoneTemplate.objects.filter(
        mode="first_mile", shipment_type=RETURN_TYPE
    ).first()
    if template is not None:
        return template_latest_version(mode="first_mile", shipment_type=RETURN_TYPE)
    return template_create(
        name="Customer return (first mile)",
        mode="first_mile",
        shipment_type=RETURN_TYPE,
        definitions=default_template("first_mile"),
    )


@transaction.atomic
def return_request(*, shipment: Shipment, reason: str = "") -> ReturnRequest:
    """A return shipment (its own "return" template) from the recipient back to the shipper."""
    if shipment.status != "delivered":
        raise Conflict("Only a delivered shipment can be returned.")
    if ReturnRequest.objects.filter(original=shipment).exists():
        raise Conflict("A return was already requested.")
    returned = shipment_create(
        mode="first_mile",
        references=[("tracking_number", f"R{shipment.public_id[4:].upper()}")],
        booked_at=timezone.now(),
        template_version=_return_template(),
        customer_account=shipment.customer_account,
        shipper_name=shipment.consignee_name,
        consignee_name=shipment.shipper_name,
        origin_address=shipment.destination_address,
        origin_lat=shipment.destination_lat,
        origin_lon=shipment.destination_lon,
        destination_address=shipment.origin_address,
        destination_lat=shipment.origin_lat,
        destination_lon=shipment.origin_lon,
    )
    request = ReturnRequest.objects.create(
        original=shipment, return_shipment=returned, reason=reason.strip()[:MAX_MESSAGE]
    )
    audit_record(
        action="shipment.return_request",
        target_type="shipment",
        target_id=shipment.pk,
        changes={"return_shipment": returned.public_id},
    )
    live.publish_ops(payload={"type": "return.requested", "shipment": shipment.public_id})
    return request

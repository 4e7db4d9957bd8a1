"""Writes of the API events channel: check at the door, store, process later."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.events.parse import FORMAT_NAME
from integrations.models import Channel, InboundMessage
from integrations.parsers.jsonutil import canonical_json
from integrations.services import message_store
from shipments.models import Shipment
from shipments.services import shipment_public_reference_ensure
from tenancy.models import ApiKey

CONTENT_TYPE = "application/json; milepost-api-events"
# At most this many events about one shipment are processed on the interactive queue (a
# person or a partner's screen waiting for the timeline); more is a bulk load.
INTERACTIVE_MAX_EVENTS = 20


@transaction.atomic
def events_submit(
    *,
    events: list[dict[str, Any]],
    shipment: Shipment | None = None,
    sent_by_key: ApiKey | None = None,
) -> InboundMessage:
    """Store checked events as one inbound message (processed by the pipeline after commit).

    ``shipment``: the events are all about it (the per-shipment endpoint); otherwise each
    event names its shipment by reference."""
    document: dict[str, Any] = {"events": events}
    if shipment is not None:
        shipment_public_reference_ensure(shipment=shipment)
        document["shipment"] = shipment.public_id
    return message_store(
        integration=None,
        channel=Channel.UPLOAD,
        body=canonical_json(document).encode("utf-8"),
        content_type=CONTENT_TYPE,
        format_hint=FORMAT_NAME,
        sent_by_key=sent_by_key,
        interactive=shipment is not None and len(events) <= INTERACTIVE_MAX_EVENTS,
    )

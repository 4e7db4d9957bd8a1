"""Reads of the customer portal. ``tracking_view`` builds the ONLY data a customer page or
its websocket ever gets: a plain dict of customer-visible fields (no ids, notes, costs,
sources, other customers). Templates and the consumer receive nothing else.
"""

from __future__ import annotations

import hmac
import itertools
import re
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime

from integrations.eta.selectors import predicted_delivery
from integrations.models import Attachment, LatestPosition
from integrations.notifications.models import NotificationPreference
from milestones.engine import KIND_PROGRESS
from portal.routing.models import DriverScan, RouteStop, StopStatus
from portal.routing.solver import road_km
from portal.tracking.i18n import Words
from portal.tracking.models import (
    DriverPosition,
    PortalSettings,
    Rating,
    ReturnRequest,
    SharedDocument,
    ShareLink,
    ThreadMessage,
)
from shipments.models import ReferenceKind, Shipment, ShipmentReference
from shipments.selectors import version_definitions
from tenancy.models import Tenant

LOW_RATING = 2  # this many stars or fewer: one follow-up question and a task for ops
POD_MILESTONES = ("delivered", "proof_of_delivery")
POSITION_MAX_AGE = timedelta(minutes=30)
APPROXIMATE_DECIMALS = 2  # ~1.1 km north-south
LOOKUP_KINDS = [k for k in ReferenceKind.values if k != ReferenceKind.MILEPOST]


def portal_settings() -> PortalSettings:
    """The current tenant's settings (defaults when it never saved any)."""
    found = PortalSettings.objects.first()
    return found if found is not None else PortalSettings()


def shipment_for_tracking(tracking_number: str) -> Shipment | None:
    """The current tenant's shipment with this customer-facing reference. Another tenant's
    number is invisible here (tenant manager + RLS): the same query, the same None."""
    value = (tracking_number or "").strip()
    if not value or len(value) > 80:
        return None
    reference = (
        ShipmentReference.objects.filter(value=value, kind__in=LOOKUP_KINDS)
        .select_related("shipment")
        .order_by("pk")
        .first()
    )
    return reference.shipment if reference else None


def tracking_number_of(shipment: Shipment) -> str:
    refs = dict(
        ShipmentReference.objects.filter(shipment=shipment, kind__in=LOOKUP_KINDS)
        .order_by("-pk")
        .values_list("kind", "value")
    )
    return refs.get(ReferenceKind.TRACKING_NUMBER) or next(iter(refs.values()), "")


_POSTCODE_TOKEN = re.compile(r"[A-Za-z0-9]+(?:\s?[A-Za-z0-9]+)?")


def _norm(value: str) -> str:
    return re.sub(r"\s+", "", value or "").lower()


def verify_recipient(shipment: Shipment, secret: str) -> bool:
    """The postcode of the delivery address, or an email the tenant has for this shipment
    (its customer account's contact, a notification preference of its tracking number)."""
    given = _norm(secret)
    if len(given) < 3:
        return False
    if "@" in given:
        emails = set(
            NotificationPreference.objects.filter(
                tracking_number__in=ShipmentReference.objects.filter(shipment=shipment).values(
                    "value"
                )
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
        if shipment.customer_account_id and shipment.customer_account:
            emails.add(shipment.customer_account.contact_email)
        return any(hmac.compare_digest(given, _norm(e)) for e in emails if e)
    words = re.findall(r"[A-Za-z0-9]+", shipment.destination_address or "")
    candidates = {w.lower() for w in words if any(c.isdigit() for c in w)}
    # two-part postcodes (UK "SW1A 1AA", NL "1012 AB"): adjacent words joined
    candidates |= {(a + b).lower() for a, b in itertools.pairwise(words)}
    return any(hmac.compare_digest(given, c) for c in candidates)


def recipient_zone(shipment: Shipment, tenant: Tenant) -> str:
    for zone in (
        getattr(shipment.destination_tenant_place, "timezone", "") or "",
        getattr(shipment.destination_place, "timezone", "") or "",
        tenant.timezone,
    ):
        if zone:
            return zone
    return "UTC"


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def _fmt(moment: datetime | None, zone: str, locale: str, pattern: str = "D j M, H:i") -> str:
    if moment is None:
        return ""
    with translation.override(locale):
        return str(formats.date_format(moment.astimezone(zoneinfo.ZoneInfo(zone)), pattern))


def _label(labels: Any, code: str, locale: str) -> str:
    mapping = dict(labels or {})
    return mapping.get(locale) or mapping.get("en") or code.replace("_", " ").capitalize()


def _round5(moment: datetime, up: bool) -> datetime:
    minutes = moment.minute - moment.minute % 5
    base = moment.replace(minute=minutes, second=0, microsecond=0)
    return base + timedelta(minutes=5) if up and base < moment else base


def eta_window(shipment: Shipment, now: datetime) -> tuple[datetime, datetime] | None:
    """The route's ETA of the delivery stop (±15 min) while the stop is pending, else the
    ETA service's delivery prediction."""
    stop = (
        RouteStop.objects.filter(shipment=shipment, kind="delivery", status=StopStatus.PENDING)
        .exclude(eta=None)
        .order_by("-id")
        .first()
    )
    if stop is not None and stop.eta is not None:
        return _round5(stop.eta - timedelta(minutes=15), False), _round5(
            stop.eta + timedelta(minutes=15), True
        )
    prediction = predicted_delivery([shipment.pk], now=now).get(shipment.pk)
    if prediction is None or prediction.likely is None:
        return None
    return prediction.earliest or prediction.likely, prediction.latest or prediction.likely


def driver_position(shipment: Shipment, mode: str, now: datetime) -> dict | None:
    if mode == DriverPosition.NONE or shipment.status != "out_for_delivery":
        return None
    latest = LatestPosition.objects.filter(subject_kind="shipment", shipment=shipment).first()
    stop = RouteStop.objects.filter(shipment=shipment).select_related("route").last()
    if stop is not None and stop.route.vehicle_ref:
        vehicle = LatestPosition.objects.filter(
            subject_kind="vehicle", subject=stop.route.vehicle_ref
        ).first()
        if vehicle is not None and (latest is None or vehicle.at > latest.at):
            latest = vehicle
    if latest is None or now - latest.at > POSITION_MAX_AGE:
        return None
    if mode == DriverPosition.APPROXIMATE:
        return {
            "lat": round(latest.lat, APPROXIMATE_DECIMALS),
            "lon": round(latest.lon, APPROXIMATE_DECIMALS),
            "approximate": True,
        }
    return {"lat": round(latest.lat, 5), "lon": round(latest.lon, 5), "approximate": False}


def proof_of_delivery(shipment: Shipment) -> dict | None:
    events = list(
        shipment.events.filter(milestone__in=POD_MILESTONES, classifier="ACT", voids=False)
        .order_by("occurred_at", "id")
        .values("occurred_at", "details", "inbound_message_id")
    )
    if not events:
        return None
    attachment_ids: list[int] = []
    message_ids = [e["inbound_message_id"] for e in events if e["inbound_message_id"]]
    for event in events:
        extra = (event["details"] or {}).get("extra") or {}
        attachment_ids += [int(a["id"]) for a in extra.get("attachments") or [] if "id" in a]
    files = {
        kind: pk
        for pk, kind in Attachment.objects.filter(
            Q(pk__in=attachment_ids) | Q(message_id__in=message_ids),
            kind__in=("photo", "signature"),
        )
        .order_by("pk")
        .values_list("pk", "kind")
    }
    scan = (
        DriverScan.objects.filter(Q(message_id__in=message_ids) | Q(pod_message_id__in=message_ids))
        .exclude(recipient_name="")
        .order_by("pk")
        .last()
    )
    if not files and scan is None:
        return None  # a delivery reported without any proof: nothing to show
    return {
        "at": events[-1]["occurred_at"],
        "recipient_name": scan.recipient_name if scan else "",
        "photo_id": files.get("photo"),
        "signature_id": files.get("signature"),
    }


def shared_documents(shipment: Shipment) -> list[dict]:
    return [
        {"id": d.attachment_id, "title": d.title or "Document"}
        for d in SharedDocument.objects.filter(shipment=shipment).order_by("pk")
    ]


def customer_file_ids(shipment: Shipment) -> set[int]:
    """Every attachment a full view of the shipment may download (POD and shared docs)."""
    pod = proof_of_delivery(shipment) or {}
    ids = {pod.get("photo_id"), pod.get("signature_id")} | {
        d["id"] for d in shared_documents(shipment)
    }
    return {i for i in ids if i}


def _delay(shipment: Shipment, rows: list[dict], words: Words, eta_text: str) -> str:
    codes_reached = {r["code"] for r in rows if r.get("reached")}
    if shipment.status == "failed_delivery":
        phrase = words["delayed_failed"]
    elif shipment.status == "at_customs" or (
        "customs_hold" in codes_reached and "customs_cleared" not in codes_reached
    ):
        phrase = words["delayed_customs"]
    elif shipment.is_late and shipment.status not in ("delivered", "cancelled", "returned"):
        phrase = words["delayed"]
    else:
        return ""
    return f"{phrase} — {words['new_estimate']} {eta_text}" if eta_text else phrase


def tracking_view(
    *, shipment: Shipment, tenant: Tenant, full: bool, locale: str, now: datetime | None = None
) -> dict:
    """What the customer page shows (and the websocket sends) of the shipment."""
    now = now or timezone.now()
    words = Words(locale)
    zone = recipient_zone(shipment, tenant)
    definitions = {d.code: d for d in version_definitions(shipment.template_version_id)}
    summary_rows = list((shipment.timeline or {}).get("rows") or [])
    milestones = []
    ordered_rows = sorted(summary_rows, key=lambda r: r.get("sequence") or 0)
    last_reached = max((i for i, r in enumerate(ordered_rows) if r.get("reached")), default=-1)
    for index, row in enumerate(ordered_rows):
        if index < last_reached and not row.get("reached"):
            continue  # skipped steps (an order never reported once it was picked up)
        definition = definitions.get(row["code"])
        if definition is None or not definition.customer_visible:
            continue
        reached = bool(row.get("reached"))
        if definition.kind != KIND_PROGRESS and not reached:
            continue  # holds and alternatives (failed, returned) only once they happened
        at = _when((row.get("actual") or {}).get("at")) if reached else None
        expected = None if reached else _when(row.get("estimated_at") or row.get("planned"))
        milestones.append(
            {
                "code": row["code"],
                "label": _label(definition.label, row["code"], locale),
                "reached": reached,
                "at": _fmt(at, zone, locale),
                "expected": _fmt(expected, zone, locale),
            }
        )
    window = (
        None
        if shipment.status in ("delivered", "cancelled", "returned")
        else (eta_window(shipment, now))
    )
    eta_text = ""
    if window is not None:
        start, end = window
        same_day = (
            start.astimezone(zoneinfo.ZoneInfo(zone)).date()
            == end.astimezone(zoneinfo.ZoneInfo(zone)).date()
        )
        end_text = _fmt(end, zone, locale, "H:i" if same_day else "D j M, H:i")
        eta_text = f"{_fmt(start, zone, locale)}\u2013{end_text}"
    delivered_at = ""
    for m in milestones:
        if m["code"] == "delivered" and m["reached"]:
            delivered_at = m["at"]
        elif m["code"] == "delivered" and eta_text:
            m["expected"] = eta_text  # the one estimate the customer sees, not the template's
        elif m["code"] == "proof_of_delivery" and not m["reached"]:
            m["expected"] = ""
    view: dict[str, Any] = {
        "delivered_at": delivered_at,
        "tracking_number": tracking_number_of(shipment),
        "status": shipment.status,
        "status_label": words.get(f"status_{shipment.status}", shipment.status),
        "progress": 100 if shipment.status == "delivered" else shipment.progress_percent,
        "milestones": milestones,
        "eta": eta_text,
        "zone": zone,
        "delay": _delay(shipment, summary_rows, words, eta_text),
        "destination": _destination(shipment),
        "full": full,
    }
    if not full:
        return view
    settings = portal_settings()
    pod = proof_of_delivery(shipment)
    driver = driver_position(shipment, settings.driver_position, now)
    if driver is not None and shipment.destination_lat is not None:
        driver["km"] = round(
            road_km(
                driver["lat"],
                driver["lon"],
                shipment.destination_lat,
                shipment.destination_lon or 0,
            ),
            1,
        )
    if pod is not None:
        pod = pod | {"at": _fmt(pod["at"], zone, locale)}
    view |= {
        "driver": driver,
        "pod": pod,
        "documents": shared_documents(shipment),
        "thread": [
            {
                "author": m.author_kind,
                "addressed_to": m.addressed_to,
                "body": m.body,
                "at": _fmt(m.created_at, zone, locale, "j M, H:i"),
            }
            for m in ThreadMessage.objects.filter(shipment=shipment).order_by("created_at", "id")
        ],
        "destination_point": _destination_point(shipment, settings.driver_position),
        "can_rate": shipment.status == "delivered",
        "rating": _rating(shipment),
        "can_return": shipment.status == "delivered"
        and not ReturnRequest.objects.filter(original=shipment).exists(),
        "notify_milestones": [
            {"code": m["code"], "label": m["label"]}
            for m in milestones
            if m["code"] != "order_created"
        ],
    }
    return view


def _rating(shipment: Shipment) -> dict | None:
    rating = Rating.objects.filter(shipment=shipment).first()
    if rating is None:
        return None
    return {
        "stars": rating.stars,
        "needs_followup": rating.stars <= LOW_RATING and not rating.followup_answer,
    }


def _destination(shipment: Shipment) -> str:
    place = shipment.destination_place
    if place is not None:
        return place.name
    # the town part of the address, not the street (the page may be shared)
    parts = [p.strip() for p in (shipment.destination_address or "").split(",") if p.strip()]
    return parts[-1] if parts else ""


def _destination_point(shipment: Shipment, mode: str) -> dict | None:
    if mode == DriverPosition.NONE or shipment.destination_lat is None:
        return None
    return {
        "lat": round(shipment.destination_lat, 3),
        "lon": round(shipment.destination_lon or 0, 3),
    }


def share_link_valid(*, nonce: str, now: datetime | None = None) -> ShareLink | None:
    now = now or timezone.now()
    settings = portal_settings()
    if not settings.sharing_enabled:
        return None
    link = ShareLink.objects.filter(nonce=nonce, revoked_at=None, expires_at__gt=now).first()
    if link is None:
        return None
    if settings.links_valid_after and link.created_at <= settings.links_valid_after:
        return None
    return link


def customer_shipments(
    *, account_ids: frozenset[int], query: str = "", status: str = ""
) -> QuerySet[Shipment]:
    """A customer user's own accounts' shipments, newest first, searched and filtered."""
    shipments = Shipment.objects.filter(customer_account_id__in=sorted(account_ids))
    if status:
        shipments = shipments.filter(status=status)
    if query.strip():
        shipments = shipments.filter(
            pk__in=ShipmentReference.objects.filter(
                value__icontains=query.strip(), kind__in=LOOKUP_KINDS
            ).values("shipment_id")
        ) | shipments.filter(consignee_name__icontains=query.strip())
    return shipments.order_by("-booked_at", "-id")

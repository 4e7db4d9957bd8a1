"""Times for people: an ISO time from a timeline shown as an absolute local time with its
zone's abbreviation ("2026-12-01 10:00 CET")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template

register = template.Library()


@register.filter
def when(value: object, zone: str = "") -> str:
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if zone:
            moment = moment.astimezone(ZoneInfo(zone))
    except (ValueError, KeyError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


@register.filter
def words(value: object) -> str:
    """A code for people: "in_transit" → "in transit"."""
    return str(value or "").replace("_", " ")

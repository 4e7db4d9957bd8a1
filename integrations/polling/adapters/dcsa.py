"""DCSA Track & Trace 2.2: GET {base_url}/v2/events with filters and cursor paging.

poll_config keys: base_url (required; https, see ``integrations.outbound``), headers (auth,
e.g. {"API-Key": "…"}), eventType, carrierBookingReference, equipmentReference,
transportDocumentReference, limit, timeout_s (at most ``outbound.MAX_TIMEOUT_S``). The
cursor (Integration.poll_cursor) is JSON: {"since", "page"|"next_url", "seen"} — "since"
feeds ``eventCreatedDateTime:gte``, "page" is the server's ``Next-Page-Cursor`` (or
"next_url" its ``Link: rel="next"``) while a result set is being paged, "seen" the eventIDs
at exactly "since" (so an unchanged boundary page is not stored again every round).

Every request goes through ``integrations.outbound.fetch`` (address checked at connect time,
redirects re-checked, bounded time and size). What a failed poll records is our own text:
the status code with its standard phrase, or the guard's short reason — never the remote's.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from datetime import UTC, datetime

from integrations import outbound
from integrations.limits import max_body_bytes
from integrations.polling.adapters.base import AdapterError, PollBatch

logger = logging.getLogger(__name__)

FILTERS = (
    "eventType",
    "carrierBookingReference",
    "equipmentReference",
    "transportDocumentReference",
    "shipmentEventTypeCode",
    "transportEventTypeCode",
    "equipmentEventTypeCode",
)
DEFAULT_LIMIT = 100
DEFAULT_TIMEOUT_S = 20
LINK_NEXT = re.compile(r'<([^>]+)>\s*;[^,]*rel="?next"?', re.IGNORECASE)
CONTENT_TYPE = "application/json"


def validate_base_url(value: object) -> str:
    """The base URL without its trailing slash, or ValueError with a message that reads
    after the field name ("must not point to a loopback address (127.0.0.1)").

    ``outbound.check_url``: https (http only to WEBHOOK_ALLOWED_NETWORKS), a host that is not
    localhost nor a literal address in a refused range, no credentials in the URL. Names are
    not resolved here; ``outbound.fetch`` checks the addresses when it connects.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required")
    url = value.strip()
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as error:
        raise ValueError(error.message) from None
    return url.rstrip("/")


def _target(base_url: str) -> str:
    """What a failed poll names: the configured origin and path, never remote-chosen text."""
    parts = urllib.parse.urlsplit(base_url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}/v2/events"


def load_cursor(cursor: str) -> dict:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {"since": cursor}  # a bare timestamp set by hand
    return state if isinstance(state, dict) else {}


def _events(body: bytes) -> list[dict] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict):
        document = document.get("events")
    if not isinstance(document, list):
        return None
    return [e for e in document if isinstance(e, dict)]


def _created(event: dict) -> str | None:
    value = event.get("eventCreatedDateTime")
    if value is None and isinstance(event.get("metadata"), dict):
        value = event["metadata"].get("eventCreatedDateTime")
    return value if isinstance(value, str) and value else None


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event_id(event: dict) -> str | None:
    value = event.get("eventID")
    if value is None and isinstance(event.get("metadata"), dict):
        value = event["metadata"].get("eventID")
    return str(value) if value else None


class DcsaV2Adapter:
    def fetch(self, integration, cursor: str) -> PollBatch:
        config = integration.poll_config or {}
        try:
            base_url = validate_base_url(config.get("base_url"))
        except ValueError as error:
            raise AdapterError(f"poll_config: base_url {error}") from None
        state = load_cursor(cursor)
        url = self._url(base_url, config, state)
        body, headers = self._get(url, config, _target(base_url))
        events = _events(body)
        page, next_url = self._next(headers, base_url)
        since = state.get("since") or ""
        seen = list(state.get("seen") or [])
        # The newest creation time seen so far in this result set: the next set starts there.
        newest, newest_ids = state.get("newest") or since, list(state.get("newest_ids") or seen)
        for event in events or []:
            created = _created(event)
            moment = _moment(created)
            if moment is None:
                continue
            current = _moment(newest)
            if current is None or moment > current:
                newest, newest_ids = created, []
            elif moment < current:
                continue
            if _event_id(event):
                newest_ids.append(_event_id(event))
        fresh = events is None or any(
            _event_id(e) is None or _event_id(e) not in seen or _created(e) != since for e in events
        )
        bodies = [(body, headers.get("Content-Type") or CONTENT_TYPE, "dcsa")] if fresh else []
        if page or next_url:
            next_state = {"since": since, "seen": seen, "newest": newest}
            next_state["newest_ids"] = sorted(set(newest_ids))
            next_state["page" if page else "next_url"] = page or next_url
            return PollBatch(bodies=bodies, next_cursor=json.dumps(next_state), more=True)
        done = {"since": newest, "seen": sorted(set(newest_ids))} if newest else {}
        return PollBatch(bodies=bodies, next_cursor=json.dumps(done) if done else "", more=False)

    @staticmethod
    def _url(base_url: str, config: dict, state: dict) -> str:
        if state.get("next_url"):
            return state["next_url"]
        limit = int(config.get("limit") or DEFAULT_LIMIT)
        if state.get("page"):
            # DCSA 2.2: with a cursor the server replays the original filters itself.
            params: list[tuple[str, str]] = [("cursor", state["page"]), ("limit", str(limit))]
        else:
            params = [(name, str(config[name])) for name in FILTERS if config.get(name)]
            if state.get("since"):
                params.append(("eventCreatedDateTime:gte", state["since"]))
            params.append(("limit", str(limit)))
        return f"{base_url}/v2/events?{urllib.parse.urlencode(params, safe=':,')}"

    @staticmethod
    def _get(url: str, config: dict, target: str) -> tuple[bytes, dict]:
        headers = {"Accept": "application/json", "User-Agent": "Milepost-poller/1"}
        extra = config.get("headers") or {}
        if isinstance(extra, dict):
            headers.update({str(k): str(v) for k, v in extra.items()})
        timeout = float(config.get("timeout_s") or DEFAULT_TIMEOUT_S)
        try:
            response = outbound.fetch(
                "GET", url, headers=headers, timeout_s=timeout, max_bytes=max_body_bytes()
            )
        except outbound.OutboundError as error:
            raise AdapterError(f"GET {target}: {error.message}") from None
        if not response.ok:
            phrase = f" {response.reason}" if response.reason else ""
            raise AdapterError(f"HTTP {response.status}{phrase} from GET {target}")
        return response.body, {k.title(): v for k, v in response.headers.items()}

    @staticmethod
    def _next(headers: dict, base_url: str) -> tuple[str, str]:
        """(Next-Page-Cursor, or "" ; else the Link rel=next URL on the same origin, or "")."""
        lowered = {k.lower(): v for k, v in headers.items()}
        page = (lowered.get("next-page-cursor") or "").strip()
        if page:
            return page, ""
        match = LINK_NEXT.search(lowered.get("link") or "")
        if not match:
            return "", ""
        link = urllib.parse.urljoin(base_url + "/", match.group(1).strip())
        origin = urllib.parse.urlsplit(base_url)
        target = urllib.parse.urlsplit(link)
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            # Never send the partner's credentials to another host.
            logger.warning("dcsa poll: ignoring a next link to another origin")
            return "", ""
        return "", link

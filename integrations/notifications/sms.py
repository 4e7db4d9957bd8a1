"""SMS backends, chosen by the setting ``SMS_BACKEND``: ``file`` (development: one JSON line
per message in ``SMS_FILE_PATH``), ``console`` (the log), ``twilio`` (Twilio's Messages API).

Every HTTP request goes through integrations.outbound.fetch (the one outbound guard). A
backend answers with an :class:`SmsResult` or raises :class:`SendFailed`, which says whether
trying again can help (timeouts, 429, 5xx) and, for 429/503, how long the provider asked us
to wait (Retry-After)."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from django.conf import settings

from integrations import outbound

logger = logging.getLogger(__name__)

REASON_CHARS = 300


@dataclass(frozen=True)
class SmsResult:
    provider: str
    message_id: str
    # "sent" (accepted, delivery unknown yet) or "delivered" (final: the file/console backends)
    status: str


class SendFailed(Exception):
    def __init__(self, reason: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason[:REASON_CHARS]
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class SmsBackend(Protocol):
    name: str

    def send(self, *, to: str, body: str, reference: str) -> SmsResult: ...

    def status(self, *, message_id: str) -> tuple[str, str]:
        """(status, reason): "sent" (still unknown), "delivered" or "failed"."""
        ...


class FileSmsBackend:
    """Appends each message to a JSON-lines file: what the demo's customers "receive"."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, *, to: str, body: str, reference: str) -> SmsResult:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"to": to, "body": body, "reference": reference, "at": datetime.now(UTC).isoformat()}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return SmsResult(provider=self.name, message_id=reference, status="delivered")

    def status(self, *, message_id: str) -> tuple[str, str]:
        return "delivered", ""


class ConsoleSmsBackend:
    name = "console"

    def send(self, *, to: str, body: str, reference: str) -> SmsResult:
        logger.info("SMS to %s (%s): %s", to, reference, body)
        return SmsResult(provider=self.name, message_id=reference, status="delivered")

    def status(self, *, message_id: str) -> tuple[str, str]:
        return "delivered", ""


# Twilio's message statuses -> ours (https://www.twilio.com/docs/messaging/api/message-resource)
TWILIO_FINAL = {"delivered": "delivered", "undelivered": "failed", "failed": "failed"}


class TwilioSmsBackend:
    """POST /2010-04-01/Accounts/{sid}/Messages.json (form: To, From or MessagingServiceSid,
    Body) with HTTP basic auth; GET …/Messages/{message sid}.json for the delivery status."""

    name = "twilio"

    def __init__(
        self, *, api_url: str, account_sid: str, auth_token: str, sender: str, timeout_s: float
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.account_sid = account_sid
        self.sender = sender
        self.timeout_s = timeout_s
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _messages_url(self, suffix: str = "") -> str:
        sid = urllib.parse.quote(self.account_sid, safe="")
        return f"{self.api_url}/2010-04-01/Accounts/{sid}/Messages{suffix}.json"

    def send(self, *, to: str, body: str, reference: str) -> SmsResult:
        form = {"To": to, "Body": body}
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        response = self._call(
            "POST",
            self._messages_url(),
            urllib.parse.urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        data = _json(response.body)
        sid = str(data.get("sid") or "")
        if not sid:
            raise SendFailed("the provider answered without a message id", retryable=True)
        status = TWILIO_FINAL.get(str(data.get("status")), "sent")
        if status == "failed":
            raise SendFailed(_twilio_reason(data, response.status), retryable=False)
        return SmsResult(provider=self.name, message_id=sid, status=status)

    def status(self, *, message_id: str) -> tuple[str, str]:
        suffix = "/" + urllib.parse.quote(message_id, safe="")
        data = _json(self._call("GET", self._messages_url(suffix), None, {}).body)
        status = TWILIO_FINAL.get(str(data.get("status")), "sent")
        return status, _twilio_reason(data, 200) if status == "failed" else ""

    def _call(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> outbound.OutboundResponse:
        try:
            response = outbound.fetch(
                method,
                url,
                headers=self.headers | headers,
                body=body,
                timeout_s=self.timeout_s,
                max_bytes=256 * 1024,
                max_redirects=0,
            )
        except outbound.OutboundRefused as error:
            raise SendFailed(f"provider refused: {error.message}", retryable=False) from None
        except outbound.OutboundError as error:
            raise SendFailed(f"provider unreachable: {error.message}", retryable=True) from None
        if response.ok:
            return response
        reason = _twilio_reason(_json(response.body), response.status)
        if response.status == 429 or response.status >= 500:
            raise SendFailed(
                reason, retryable=True, retry_after_s=_retry_after(response.header("retry-after"))
            )
        raise SendFailed(reason, retryable=False)


def _json(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _twilio_reason(data: dict[str, object], status: int) -> str:
    """The provider's reason: its error code and message (the operator's provider, so its
    text is shown to ops; bounded, one line)."""
    code = data.get("code") or data.get("error_code")
    message = str(data.get("message") or data.get("error_message") or "").replace("\n", " ")
    phrase = outbound.OutboundResponse(status, {}, b"", "").reason
    parts = [f"HTTP {status} {phrase}".strip()]
    if code:
        parts.append(f"code {code}")
    if message:
        parts.append(message[:200])
    return ": ".join(parts)


def _retry_after(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 24 * 3600 else None


def sms_backend() -> SmsBackend:
    """The configured backend (read per call: tests override the settings)."""
    name = settings.SMS_BACKEND
    if name == "twilio":
        return TwilioSmsBackend(
            api_url=settings.TWILIO_API_URL,
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            sender=settings.TWILIO_FROM,
            timeout_s=settings.SMS_TIMEOUT_S,
        )
    if name == "console":
        return ConsoleSmsBackend()
    return FileSmsBackend(Path(settings.SMS_FILE_PATH))

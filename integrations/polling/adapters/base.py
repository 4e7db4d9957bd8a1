"""The poll adapter interface and its registry (keyed by ``Integration.poll_adapter``).

Adapters only talk to the outside world, and only through ``integrations.outbound.fetch``
(the one guard for outbound requests): they fetch one page per call and return its raw
bytes. ``integrations.polling`` stores every page with ``message_store(channel="poll")`` in
the same transaction that advances ``Integration.poll_cursor``, and processing follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tenancy.errors import DomainError

if TYPE_CHECKING:
    from integrations.models import Integration

# (body bytes, content type, format hint for message_store)
Body = tuple[bytes, str, str]


class AdapterError(DomainError):
    """The partner could not be fetched (HTTP error, timeout, bad config). Shown to the tenant
    (``last_poll_error``): our own short text only, never credentials nor what the remote
    answered."""

    code = "poll_failed"
    status = 502


@dataclass
class PollBatch:
    """One fetched page: the bodies to store, where to continue, and whether to go on now."""

    bodies: list[Body] = field(default_factory=list)
    next_cursor: str = ""
    more: bool = False


class PollAdapter(Protocol):
    def fetch(self, integration: Integration, cursor: str) -> PollBatch: ...

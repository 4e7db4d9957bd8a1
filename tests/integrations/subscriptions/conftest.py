"""Fixtures of the partner-webhook tests: a local receiver on 127.0.0.1 (the only place test
traffic goes; allowed by WEBHOOK_ALLOWED_NETWORKS for these tests alone), subscriptions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from tests.integrations.netstub import Edge, StubServer, send


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@dataclass
class Receiver:
    """A partner's endpoint: answers from ``script`` in turn (the last one repeats)."""

    server: StubServer
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0

    @property
    def url(self) -> str:
        return f"{self.server.url}/hooks/milepost"

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return self.server.requests

    def answer(self, *answers: int | tuple[int, dict[str, str]]) -> Receiver:
        self.script = [a if isinstance(a, tuple) else (a, {}) for a in answers]
        return self


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    def respond(handler: BaseHTTPRequestHandler) -> None:
        current = holder[0]
        with current.lock:
            index = min(current.answered, len(current.script) - 1)
            status, headers = current.script[index] if current.script else (200, {})
            current.answered += 1
        send(handler, status, b"ok", headers)

    server = StubServer(respond)
    holder.append(Receiver(server))
    yield holder[0]
    server.close()


@pytest.fixture
def edge(monkeypatch) -> Edge:
    return Edge().install(monkeypatch)


Responder = Callable[[BaseHTTPRequestHandler], None]

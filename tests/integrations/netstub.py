"""The outside world for outbound-request tests: the network edge recorded, and stub servers.

``Edge`` replaces name resolution and socket connects at the bottom (``socket.getaddrinfo``,
``socket.socket.connect``): names resolve only from the test's own table (never real DNS),
every connect attempt is recorded, and only 127.0.0.1 is really connected to — anything else
is answered "connection refused" here, so no traffic ever leaves the machine. A test proves a
refusal happened *before* any connection by asserting on ``edge.lookups`` / ``edge.connects``.

``StubServer`` is a real HTTP(S) server on 127.0.0.1 whose answer a test writes by hand.
"""

from __future__ import annotations

import errno
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integrations import outbound


@dataclass
class Edge:
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    # (address, port, opened by integrations.outbound?)
    attempts: list[tuple[str, int, bool]] = field(default_factory=list)
    resolve_delay_s: float = 0.0  # a resolver that takes its time

    def answer(self, host: str, *addresses: str) -> None:
        """Add one DNS answer for host; successive lookups take successive answers, the last
        one repeating."""
        self.answers.setdefault(host, []).append(list(addresses))

    @property
    def connects(self) -> list[tuple[str, int]]:
        """Connect attempts made by the outbound guard."""
        return [(host, port) for host, port, guarded in self.attempts if guarded]

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        time.sleep(self.resolve_delay_s)
        queue = self.answers.get(name)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "unknown to the test")
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        infos = []
        for address in addresses:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Edge:
        real_connect = socket.socket.connect
        edge = self

        def connect(sock: socket.socket, address: Any) -> None:
            host, port = str(address[0]), int(address[1])
            edge.attempts.append((host, port, isinstance(sock, outbound._DeadlineSocket)))
            if host != "127.0.0.1":
                raise ConnectionRefusedError(errno.ECONNREFUSED, "the test edge: 127.0.0.1 only")
            real_connect(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        return self


Respond = Callable[[BaseHTTPRequestHandler], None]


class StubServer:
    """A server on 127.0.0.1:<free port>; ``respond(handler)`` writes each answer."""

    def __init__(self, respond: Respond, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = threading.Event()  # set at teardown: handlers that wait may finish
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.requests.append((self.command, self.path, headers, body))
                respond(self)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> None:
    handler.send_response(status, reason)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)

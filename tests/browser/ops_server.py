"""An ASGI server (uvicorn, in a thread of the test process) for browser tests that need
websockets: the live_server fixture is WSGI only. It serves config.asgi's application on the
test database, like the production ASGI entry point."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def asgi_server() -> Iterator[str]:
    """Connections of the server's threads close after each request (CONN_MAX_AGE 0, as
    config/asgi.py sets in production), so none is left open when the test database goes."""
    from django.db import connections

    from config.asgi import application

    before = {alias: connections[alias].settings_dict["CONN_MAX_AGE"] for alias in connections}
    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0
    port = _free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the ASGI test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for alias, age in before.items():
            connections[alias].settings_dict["CONN_MAX_AGE"] = age

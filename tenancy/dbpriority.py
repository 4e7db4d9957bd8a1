"""A niced process's database work niced too: its PostgreSQL backend gets its niceness.

``scripts/lowprio.sh`` runs the bulk worker at a lower CPU priority so that interactive work
(the API, the interactive worker, the websockets) keeps the cores under a bulk load. Most of a
bulk batch's CPU, though, is spent by its PostgreSQL backend, which runs at the postmaster's
priority: without this, a 1,000 events/s ingest still takes the CPU from the backends of the
interactive path. On connecting, a process started with ``MILEPOST_DB_NICE`` set renices its
own backend to that level. Best effort, and only where that is the backend's process: the
database on this host (loopback or a socket) and the pid's command ``postgres`` (in containers
the pid names another namespace's process, so it is left alone); without the permission
nothing happens.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENV = "MILEPOST_DB_NICE"
LOCAL_HOSTS = frozenset({"", "127.0.0.1", "::1", "localhost"})


def wanted_niceness() -> int | None:
    raw = os.environ.get(ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def is_local(settings_dict: dict[str, Any]) -> bool:
    host = str(settings_dict.get("HOST") or "")
    return host in LOCAL_HOSTS or host.startswith("/")


def renice_backend(pid: int, niceness: int) -> bool:
    """Renice ``pid`` if it is a PostgreSQL process of this host that we may renice."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
            return False
        if os.getpriority(os.PRIO_PROCESS, pid) >= niceness:
            return True
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError as error:
        logger.debug("database backend %s not reniced: %s", pid, error)
        return False
    return True


def on_connection_created(sender: object, connection: Any, **kwargs: object) -> None:
    niceness = wanted_niceness()
    if niceness is None or connection.vendor != "postgresql":
        return
    if not is_local(connection.settings_dict):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    renice_backend(int(pid), niceness)

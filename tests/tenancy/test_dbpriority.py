"""A process started niced (scripts/lowprio.sh sets MILEPOST_DB_NICE) gets its PostgreSQL
backend niced too: the bulk worker's SQL yields the CPU like the worker itself."""

from __future__ import annotations

import os

import pytest
from django.db import connections

from tenancy import dbpriority


def test_the_niceness_comes_from_the_environment_and_only_a_positive_one(monkeypatch):
    monkeypatch.delenv(dbpriority.ENV, raising=False)
    assert dbpriority.wanted_niceness() is None
    for raw, wanted in (("10", 10), ("0", None), ("-5", None), ("high", None), (" 7 ", 7)):
        monkeypatch.setenv(dbpriority.ENV, raw)
        assert dbpriority.wanted_niceness() == wanted


def test_only_a_database_on_this_host_counts_as_local():
    for host in ("", "127.0.0.1", "localhost", "::1", "/var/run/postgresql"):
        assert dbpriority.is_local({"HOST": host})
    for host in ("db", "10.0.0.5", "postgres.internal"):
        assert not dbpriority.is_local({"HOST": host})


def test_a_process_that_is_not_postgres_is_never_reniced():
    before = os.getpriority(os.PRIO_PROCESS, os.getpid())
    assert dbpriority.renice_backend(os.getpid(), before + 3) is False
    assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == before
    assert dbpriority.renice_backend(2**22 + 12345, 5) is False  # no such process


def _backend_niceness(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return os.getpriority(os.PRIO_PROCESS, int(pid))


@pytest.mark.django_db
def test_a_new_connection_of_a_niced_process_renices_its_backend(monkeypatch):
    if not dbpriority.is_local(connections["default"].settings_dict):
        pytest.skip("the database does not run on this host")
    plain = connections.create_connection("default")
    niced = connections.create_connection("default")
    try:
        monkeypatch.delenv(dbpriority.ENV, raising=False)
        plain.ensure_connection()
        base = _backend_niceness(plain)
        if base >= 10:
            pytest.skip("the database already runs at nice 10 or lower priority")
        monkeypatch.setenv(dbpriority.ENV, "10")
        niced.ensure_connection()
        assert _backend_niceness(niced) == 10
        assert _backend_niceness(plain) == base  # other backends keep their priority
    finally:
        plain.close()
        niced.close()

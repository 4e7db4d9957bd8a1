"""The Redis broker transport: kombu's, with one guard that keeps a worker alive when Redis dies.

Celery 5.7 / kombu 5.7 can kill a worker on a broker outage ("Restoring 1 unacknowledged
message(s)", then ``CRITICAL Unrecoverable error: AttributeError("'NoneType' object has no
attribute 'hostname'")``). When the connection is lost while the task channel has a BRPOP in
flight, ``Connection.collect()`` cannot close that channel (its close first reads the pending
reply and fails), detaches the transport (``transport.client = None``) anyway, and celery's
``Consumer.on_connection_error_after_connected`` then calls ``connection.close()``: that closes
the same channel again, which now gets as far as restoring its unacked messages, needs a new
Redis pool, and reads the host name from the detached transport. An ``AttributeError`` is not
one of the transport's connection errors, so nothing swallows it and the worker exits.

Here a channel whose transport is already detached raises a Redis ``ConnectionError`` instead:
celery treats it like the outage it is and reconnects. The unacked messages stay in Redis's
unacked hash (restored after the visibility timeout) and, as the database is the record of
what must be processed, ``integrations.requeue_stale`` re-enqueues them sooner.
tests/test_broker.py reproduces the sequence against a real Redis.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        # kombu is untyped
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel

"""Database sessions where each operation sees only its own session's row.

``django_session`` has an RLS policy (tenancy.rls): a row is visible only while the
transaction-local setting ``milepost.session_key`` names its key. The key is the session's
credential, so whoever can name it owns the session anyway and the setting needs no signature;
SQL that does not know a key (injection in any request) sees no session at all. Expired rows
are removed by ``milepost_clear_expired_sessions()``, owned by the owner role.

Used as ``SESSION_ENGINE = "tenancy.sessions"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router, transaction

from tenancy.rls import CLEAR_SESSIONS_FUNCTION


@contextmanager
def session_context(session_key: str, using: str) -> Iterator[None]:
    """A transaction (or savepoint) in which the row of ``session_key`` is visible."""
    nested = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT set_config(%s, %s, true)", [settings.SESSION_DB_SETTING, session_key]
            )
        yield
        if nested:  # the enclosing transaction goes on: it must not keep seeing the row
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT set_config(%s, '', true)", [settings.SESSION_DB_SETTING])


class SessionStore(DatabaseSessionStore):
    @classmethod
    def _db(cls, write: bool = False) -> str:
        model = cls.get_model_class()
        return router.db_for_write(model) if write else router.db_for_read(model)

    def load(self) -> dict:
        if not self.session_key:
            self._session_key = None
            return {}
        with session_context(self.session_key, self._db()):
            return super().load()

    def exists(self, session_key: str) -> bool:
        with session_context(session_key, self._db()):
            return super().exists(session_key)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()  # picks a new key, then saves through here with it
        with session_context(self.session_key, self._db(write=True)):
            return super().save(must_create=must_create)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key is None:
            return
        with session_context(key, self._db(write=True)):
            super().delete(key)

    @classmethod
    def clear_expired(cls) -> None:
        with connections[cls._db(write=True)].cursor() as cursor:
            cursor.execute(f"SELECT {CLEAR_SESSIONS_FUNCTION}()")

    # The async API goes through the same guarded code (the ORM's async calls are
    # thread-offloaded anyway).
    async def aload(self) -> dict:
        return await sync_to_async(self.load)()

    async def aexists(self, session_key: str) -> bool:
        return await sync_to_async(self.exists)(session_key)

    async def asave(self, must_create: bool = False) -> None:
        return await sync_to_async(self.save)(must_create)

    async def acreate(self) -> None:
        return await sync_to_async(self.create)()

    async def adelete(self, session_key: str | None = None) -> None:
        return await sync_to_async(self.delete)(session_key)

    @classmethod
    async def aclear_expired(cls) -> None:
        await sync_to_async(cls.clear_expired)()

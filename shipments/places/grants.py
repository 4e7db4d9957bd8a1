"""The global place registry is reference data: the app role may read it, never write it.

``tenancy.rls`` grants the app role SELECT, INSERT, UPDATE, DELETE on every table after each
migrate; this takes the writes back on the global table (``load_places`` writes it as the
owner role). Tenant places are ordinary tenant-owned tables and keep their grants and RLS.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections


def global_tables() -> list[str]:
    from shipments.places.models import Place

    return [Place._meta.db_table]


def revoke_statements(app_role: str, quote: Any) -> list[str]:
    role = quote(app_role)
    return [
        f"REVOKE INSERT, UPDATE, DELETE ON {quote(table)} FROM {role}" for table in global_tables()
    ]


def apply_read_only(using: str = "owner") -> None:
    connection = connections[using]
    app_role = settings.DATABASES["default"]["USER"]
    if not app_role or app_role == connection.settings_dict["USER"]:
        return
    with connection.cursor() as cursor:
        for statement in revoke_statements(app_role, connection.ops.quote_name):
            cursor.execute(statement)


def on_post_migrate(sender: Any, using: str = "owner", **kwargs: Any) -> None:
    if using == "owner":
        apply_read_only(using)

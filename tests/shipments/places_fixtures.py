"""The global place registry in the test database (import the fixture into a test module).

It is loaded once, as the owner role on a connection of its own (committed, outside the
test's transaction; the app role may not write it), and again only after a transactional
test's flush emptied the table."""

from __future__ import annotations

import psycopg2
import pytest
from django.db import connections

from shipments.places import data
from shipments.places.loader import place_rows, write_rows
from shipments.places.models import Place


def load_registry() -> int:
    # A plain psycopg2 connection: Django refuses its own to the owner alias inside a test.
    params = connections["owner"].get_connection_params()
    raw = psycopg2.connect(**params)
    try:
        with raw, raw.cursor() as cursor:  # one transaction, committed at the end
            written = write_rows(cursor, place_rows(data.registry_records()))
    finally:
        raw.close()
    return written


@pytest.fixture
def place_registry(db) -> None:
    if not Place.objects.filter(code="NLRTM").exists():
        load_registry()

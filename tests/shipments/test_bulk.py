"""COPY staging (shipments.bulk): awkward values survive the trip into PostgreSQL unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction

from shipments.bulk import Stage, copy_field
from shipments.models import SourceKind

pytestmark = pytest.mark.django_db

AWKWARD = [
    "plain",
    "tab\there",
    "new\nline and \r return",
    "back\\slash \\N not null",
    "ünïcødé ✓ 漢字",
    "",
]


def test_copy_field_encodes_choices_bools_and_refuses_unknown_types():
    assert copy_field(SourceKind.INTEGRATION) == "integration"
    assert copy_field(None) == r"\N"
    assert (copy_field(True), copy_field(False)) == ("t", "f")
    assert copy_field(Decimal("1.50")) == "1.50"
    with pytest.raises(TypeError, match="cannot COPY a object"):
        copy_field(object())


def test_values_round_trip_through_a_stage():
    stage = Stage(
        "stage_bulk_test", "shipments_trackingevent", ("location", "occurred_at", "details")
    )
    when = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    details = {"quote": 'say "hi"\n', "path": "C:\\dir", "n": 3, "none": None, "at": when}
    rows = [(text, when, details) for text in AWKWARD] + [(None, None, None)]
    with transaction.atomic(), connection.cursor() as cursor:
        stage.load(cursor.cursor, rows)
        cursor.execute("SELECT location, occurred_at, details FROM stage_bulk_test")
        back = cursor.fetchall()
        stage.load(cursor.cursor, rows[:1])  # a second load replaces the rows
        cursor.execute("SELECT count(*) FROM stage_bulk_test")
        assert cursor.fetchone() == (1,)
    assert [r[0] for r in back] == [*AWKWARD, None]
    assert {r[1] for r in back[:-1]} == {when.astimezone(UTC)}
    # Django leaves jsonb undecoded on raw cursors (JSONField decodes it).
    assert json.loads(back[0][2]) == details | {"at": when.isoformat()}
    assert back[-1][1:] == (None, None)

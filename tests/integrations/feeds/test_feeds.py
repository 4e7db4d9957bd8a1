"""Warehouse and customs feeds: mapping validation, CSV/JSON parsing, preview and save API."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from integrations import pipeline, services
from integrations.feeds import parse as feeds
from integrations.feeds import services as feed_services
from integrations.models import DeadLetter, InboundMessage, Integration, MessageStatus
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory, events_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CSV = (FIXTURES / "warehouse.csv").read_bytes()
JSON_FEED = (FIXTURES / "customs.json").read_bytes()
CSV_MAPPING = json.loads((FIXTURES / "csv_mapping.json").read_text())
JSON_MAPPING = json.loads((FIXTURES / "json_mapping.json").read_text())
KNOWN = {"warehouse_received", "departed", "arrived", "customs_cleared", "customs_hold"}


def _integration(tenant, kind="csv", mapping=None):
    with tenant_context(tenant.pk):
        integration = IntegrationFactory(tenant=tenant, name=f"Feed {kind}", kind=kind)
        if mapping is not None:
            feed_services.feed_mapping_save(integration=integration, mapping=mapping)
        return integration


def _process(tenant, integration, body):
    with tenant_context(tenant.pk):
        message = services.message_store(
            integration=integration, channel="upload", body=body, content_type="text/csv"
        )
        pipeline.process_messages([message.pk])
        message.refresh_from_db()
        letters = {(d.position, d.reason) for d in DeadLetter.objects.filter(message=message)}
        return message, letters


# --- mapping validation ---------------------------------------------------------------------


def _with(mapping, path, value):
    changed = copy.deepcopy(mapping)
    target = changed
    *parents, last = path
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return changed


@pytest.mark.parametrize(
    ("mapping", "field", "words"),
    [
        (_with(CSV_MAPPING, ["fields", "reference"], KeyError), "fields.reference", "required"),
        (_with(CSV_MAPPING, ["fields", "time"], ""), "fields.time", "required"),
        (_with(CSV_MAPPING, ["code_map", "RCV"], "teleported"), "code_map.RCV", "unknown"),
        (_with(CSV_MAPPING, ["fields", "time_zone"], "Mars/Olympus"), "fields.time_zone", "zone"),
        (_with(CSV_MAPPING, ["fields", "time_zone"], "../etc"), "fields.time_zone", "zone"),
        (_with(CSV_MAPPING, ["fields", "time_format"], "%H:%M"), "fields.time_format", "date"),
        (_with(CSV_MAPPING, ["fields", "time_format"], "yyyy-mm-dd"), "fields.time_format", "%"),
        (_with(CSV_MAPPING, ["fields", "colour"], "x"), "fields.colour", "unknown"),
        (_with(CSV_MAPPING, ["delimiter"], ";;"), "delimiter", "one character"),
        (_with(CSV_MAPPING, ["format"], "xml"), "format", "csv"),
        (_with(JSON_MAPPING, ["records"], "$.items[?(@.x)]"), "records", "invalid JSON path"),
        (_with(JSON_MAPPING, ["fields", "time"], "$.a[*]"), "fields.time", "[*]"),
        ("not a mapping", "mapping", "object"),
    ],
)
def test_mapping_validation_names_the_problem(mapping, field, words):
    with pytest.raises(feeds.MappingError) as caught:
        feeds.mapping_validate(mapping, milestones=KNOWN)
    assert caught.value.field == field
    assert words in caught.value.message


def test_valid_mappings_are_normalized():
    csv_mapping = feeds.mapping_validate(CSV_MAPPING, milestones=KNOWN)
    assert csv_mapping["fields"]["reference"] == {"column": "Ref"}
    assert csv_mapping["fields"]["time_zone"] == {"const": "Europe/Berlin"}
    json_mapping = feeds.mapping_validate(JSON_MAPPING, milestones=KNOWN)
    assert json_mapping["fields"]["time"] == {"path": "$.ts"}
    headerless = _with(CSV_MAPPING, ["has_header"], False)
    headerless["fields"] = {"reference": 0, "milestone": "1", "time": 2, "time_zone": "UTC"}
    assert feeds.mapping_validate(headerless, milestones=KNOWN)["fields"]["milestone"] == {
        "column": 1
    }
    headerless["fields"]["reference"] = "Ref"
    with pytest.raises(feeds.MappingError, match="0-based"):
        feeds.mapping_validate(headerless, milestones=KNOWN)


def test_json_path_resolver_is_small_and_safe():
    document = {"a": {"b": [{"c": 1}, {"c": 2}], "weird key": 3}}
    tokens = feeds.compile_path("$.a.b[*].c")
    assert feeds.resolve_path(document, tokens) == [("$.a.b[0].c", 1), ("$.a.b[1].c", 2)]
    assert feeds.resolve_path(document, feeds.compile_path("$.a['weird key']")) == [
        ("$.a['weird key']", 3)
    ]
    assert feeds.resolve_path(document, feeds.compile_path("a.b[5].c")) == []
    for bad in ("$..a", "$.a;import os", "$.__class__()", "$[-1]", ""):
        with pytest.raises(feeds.MappingError):
            feeds.compile_path(bad)


# --- parsing through the pipeline -----------------------------------------------------------


def test_csv_feed_applies_good_rows_and_dead_letters_bad_ones(acme):
    integration = _integration(acme.tenant, "csv", CSV_MAPPING)
    shipment = ShipmentFactory(tenant=acme.tenant, reference="SHIP100")
    message, letters = _process(acme.tenant, integration, CSV)
    events = events_of(acme.tenant, shipment)
    assert [(e.milestone, e.occurred_at) for e in events] == [
        ("warehouse_received", datetime(2026, 3, 5, 8, 0, tzinfo=UTC)),  # CET = UTC+1
        ("departed", datetime(2026, 3, 6, 13, 30, tzinfo=UTC)),
    ]
    assert events[0].location == "Hamburg DC"
    assert events[0].raw_code == "RCV"
    assert message.status == MessageStatus.PARTIALLY_FAILED
    assert message.events_applied == 2
    assert message.events_held == 1  # UNKNOWN9 waits for its shipment
    positions = {position for position, _ in letters}
    assert positions == {"row 4, column Status", "row 5, column When", "row 6, column When"}
    reasons = " | ".join(reason for _, reason in letters)
    assert "unknown milestone code 'XXX'" in reasons
    assert "non-existent local time 2026-03-29T02:30:00 in Europe/Berlin" in reasons
    assert "does not match format" in reasons

    # The same rows again (a replay): nothing recorded twice.
    with tenant_context(acme.tenant.pk):
        pipeline.process_messages([message.pk], force=True)
    assert len(events_of(acme.tenant, shipment)) == 2


def test_dedupe_key_is_per_integration_reference_milestone_and_time():
    at = datetime(2026, 3, 5, 8, tzinfo=UTC)
    key = feeds.row_dedupe_key(1, "SHIP100", "departed", at)
    assert key == feeds.row_dedupe_key(1, "SHIP100", "departed", at.astimezone())
    assert key != feeds.row_dedupe_key(2, "SHIP100", "departed", at)
    assert len(key) == 64


def test_json_feed_uses_paths_and_the_mapping_zone(acme):
    integration = _integration(acme.tenant, "json", JSON_MAPPING)
    shipment = ShipmentFactory(tenant=acme.tenant, reference="SHIP100")
    message, letters = _process(acme.tenant, integration, JSON_FEED)
    events = events_of(acme.tenant, shipment)
    assert [(e.milestone, e.occurred_at) for e in events] == [
        ("customs_hold", datetime(2026, 3, 7, 7, 0, tzinfo=UTC)),
        ("customs_cleared", datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),
    ]
    assert {e.location for e in events} == {"DEHAM"}
    assert message.format == "json"
    assert {position for position, _ in letters} == {"$.items[2].ts", "$.items[3].ref"}
    assert any("ambiguous local time" in reason for _, reason in letters)


def test_feed_without_mapping_or_with_garbage_is_dead(acme):
    integration = _integration(acme.tenant, "csv")
    message, letters = _process(acme.tenant, integration, CSV)
    assert message.status == MessageStatus.DEAD
    assert any("no feed mapping" in reason for _, reason in letters)
    json_integration = _integration(acme.tenant, "json", JSON_MAPPING)
    message, letters = _process(acme.tenant, json_integration, b"{not json")
    assert message.status == MessageStatus.DEAD
    assert any("invalid JSON" in reason for _, reason in letters)
    wrong_header = _integration(acme.tenant, "csv", CSV_MAPPING)
    message, letters = _process(acme.tenant, wrong_header, b"A,B\n1,2\n")
    assert message.status == MessageStatus.DEAD
    assert ("row 1", "column 'Ref' not found in the header") in letters


def test_code_overrides_of_the_integration_also_apply(acme):
    integration = _integration(acme.tenant, "csv", CSV_MAPPING)
    with tenant_context(acme.tenant.pk):
        services.integration_set_overrides(
            integration=integration, code_overrides={"XXX": "arrived"}
        )
    shipment = ShipmentFactory(tenant=acme.tenant, reference="SHIP100")
    _process(acme.tenant, integration, CSV)
    assert "arrived" in {e.milestone for e in events_of(acme.tenant, shipment)}


# --- API ------------------------------------------------------------------------------------


@covers_url("ingest-feed-mapping")
def test_put_feed_mapping_validates_saves_and_audits(acme):
    integration = _integration(acme.tenant, "csv")
    url = reverse("ingest-feed-mapping", args=[integration.pk])
    ops = acme.client("ops")
    bad = _with(CSV_MAPPING, ["code_map", "RCV"], "teleported")
    response = ops.put(url, data={"mapping": bad}, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_mapping"
    assert "code_map.RCV" in error["fields"]
    response = ops.put(url, data={"mapping": CSV_MAPPING}, content_type="application/json")
    assert response.status_code == 200, response.content
    with tenant_context(acme.tenant.pk):
        integration.refresh_from_db()
        assert integration.feed_mapping["fields"]["time"] == {"column": "When"}
        assert AuditLog.objects.filter(
            action="integration.feed_mapping", target_id=str(integration.pk)
        ).exists()
    assert ops.get(url).json()["mapping"]["code_map"]["RCV"] == "warehouse_received"
    # Roles: customers and drivers may not; tenant B's admin gets 404 for A's integration.
    for role in ("customer", "driver", "finance"):
        denied = acme.client(role).put(url, data=CSV_MAPPING, content_type="application/json")
        assert denied.status_code == 403
    other = acme.client("outsider").put(url, data=CSV_MAPPING, content_type="application/json")
    assert other.status_code == 404
    assert Client().put(url, data=CSV_MAPPING, content_type="application/json").status_code in (
        401,
        403,
    )


@covers_url("ingest-feed-mapping-preview")
def test_preview_parses_the_first_ten_rows_and_stores_nothing(acme):
    integration = _integration(acme.tenant, "csv")
    url = reverse("ingest-feed-mapping-preview", args=[integration.pk])
    rows = "".join(f"S{i},RCV,2026-03-05 09:{i:02d},DC\n" for i in range(15))
    sample = ("Ref,Status,When,Site\n" + rows).encode()
    ops = acme.client("ops")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = ops.post(
        url,
        data={
            "file": SimpleUploadedFile("sample.csv", sample, "text/csv"),
            "mapping": json.dumps(CSV_MAPPING),
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["events"]) == 10
    assert body["events"][0]["reference"] == "S0"
    assert body["events"][0]["milestone"] == "warehouse_received"
    assert body["events"][0]["occurred_at"] == "2026-03-05T09:00:00+01:00"
    assert body["errors"] == []

    # Raw body with ?mapping=, errors per row with position and reason.
    response = ops.generic(
        "POST",
        url + "?mapping=" + json.dumps(CSV_MAPPING),
        data=CSV,
        content_type="text/csv",
    )
    assert response.status_code == 200, response.content
    errors = {e["position"]: e["reason"] for e in response.json()["errors"]}
    assert set(errors) == {"row 4, column Status", "row 5, column When", "row 6, column When"}

    # JSON body with a sample string; a bad mapping names the field.
    bad = _with(JSON_MAPPING, ["fields", "time_zone"], "Nowhere/Land")
    response = ops.post(
        url, data={"mapping": bad, "sample": JSON_FEED.decode()}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "fields.time_zone" in response.json()["error"]["fields"]
    response = ops.post(
        url,
        data={"mapping": JSON_MAPPING, "sample": JSON_FEED.decode()},
        content_type="application/json",
    )
    positions = [e["position"] for e in response.json()["errors"]]
    assert positions == ["$.items[2].ts", "$.items[3].ref"]
    response = ops.post(url, data=b"{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"

    with tenant_context(acme.tenant.pk):
        assert not InboundMessage.objects.exists()
        assert Integration.objects.get(pk=integration.pk).feed_mapping == {}
    assert acme.client("customer").post(url, data=CSV, content_type="text/csv").status_code == 403
    assert acme.client("outsider").post(url, data=CSV, content_type="text/csv").status_code == 404

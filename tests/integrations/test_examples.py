"""Every example file of the standards digest goes through the whole pipeline and ends either
applied/held (each parsed event accounted for) or rejected with a reason: nothing vanishes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db.models import Sum

from integrations import pipeline, services
from integrations.models import DeadLetter, HeldEvent, InboundMessage, MessageStatus
from milestones.services import templates_install_defaults
from shipments.models import TrackingEvent
from shipments.services import shipment_create
from tenancy.context import tenant_context
from tests.shared_examples import EXAMPLES, example_path, require

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent / "parsers" / "fixtures"
FILES = sorted([*EXAMPLES.glob("*/*.json"), *EXAMPLES.glob("*/*.jsonld"), *FIXTURES.glob("*.edi")])
KIND = {".json": "dcsa", ".jsonld": "epcis", ".edi": "x12"}


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


def test_the_example_directory_is_there():
    require()
    assert len(FILES) >= 16, f"expected the shared examples beside the repo, found {FILES}"


def _kind(path: Path) -> str:
    if path.suffix == ".edi" and "edifact" in path.name:
        return "edifact"
    return KIND[path.suffix]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_is_ingested_or_rejected_with_a_reason(personas, path):
    tenant = personas.tenant
    with tenant_context(tenant.pk):
        templates_install_defaults()
        # One known shipment, so some events apply and the rest wait in the holding list.
        shipment_create(
            mode="ocean_fcl",
            references=[("container", "APZU4812090")],
            booked_at=datetime(2021, 1, 1, tzinfo=UTC),
        )
        integration = services.integration_create(name=path.name, kind=_kind(path))
        message = services.message_store(
            integration=integration, channel="upload", body=path.read_bytes()
        )
        pipeline.process_messages([message.pk])
        message.refresh_from_db()
        letters = list(DeadLetter.objects.filter(message=message))
        applied = TrackingEvent.objects.filter(inbound_message_id=message.pk).count()
        held = HeldEvent.objects.filter(message=message).count()

    assert message.status in {
        MessageStatus.PROCESSED,
        MessageStatus.PARTIALLY_FAILED,
        MessageStatus.DEAD,
    }
    assert all(letter.reason.strip() for letter in letters)
    if message.status == MessageStatus.DEAD:
        assert letters, "a rejected file must say why"
    else:
        mapped_away = sum(1 for letter in letters if letter.stage == "mapping")
        assert applied + held + mapped_away >= message.events_parsed - _retracted(path)
        assert message.events_applied == applied and message.events_held == held
    if message.status == MessageStatus.PARTIALLY_FAILED:
        assert letters


def _retracted(path: Path) -> int:
    return 1 if "retracted" in path.name else 0


def test_the_invalid_dcsa_file_keeps_its_good_event_and_rejects_the_rest(personas):
    path = example_path("dcsa/tnt-v2.2-invalid-date-times.json")
    with tenant_context(personas.tenant.pk):
        integration = services.integration_create(name="dcsa", kind="dcsa")
        message = services.message_store(
            integration=integration, channel="upload", body=path.read_bytes()
        )
        pipeline.process_messages([message.pk])
        message.refresh_from_db()
        positions = sorted(
            DeadLetter.objects.filter(message=message).values_list("position", flat=True)
        )
        totals = InboundMessage.objects.filter(pk=message.pk).aggregate(
            n=Sum("events_applied") + Sum("events_held")
        )
    assert message.status == MessageStatus.PARTIALLY_FAILED
    assert totals["n"] == 1
    assert all(p.startswith("$[") for p in positions) and len(positions) == 6

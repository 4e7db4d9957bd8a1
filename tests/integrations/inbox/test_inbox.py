"""Watched inbox folders: stored first, moved to processed/ only after commit, never lost."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from integrations.inbox import services as inbox
from integrations.inbox.tasks import inbox_sweep
from integrations.models import Channel, InboundMessage, Integration
from milestones.services import templates_install_defaults
from shipments.models import TrackingEvent
from shipments.services import shipment_create
from tenancy.context import tenant_context
from tests.integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

X12_SMALL = (
    b"ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*00401"
    b"*000000201*0*P*>~GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010~ST*214*0001~"
    b"B10*PRO777*REF777*ABCD~LX*1~AT7*AF*NS***20260305*0900*UT~AT7*ZZ*NS***20260306*1000*UT~"
    b"AT7*D1*NS***20260307*1100*UT~SE*7*0001~GE*1*1~IEA*1*000000201~"
)


@pytest.fixture(autouse=True)
def _tasks_in_process(eager_celery):
    """These tests need no worker: tasks run in the test process."""


@pytest.fixture
def acme(personas, settings, tmp_path):
    settings.INGEST_INBOX_ROOT = tmp_path / "inbox"
    for tenant in (personas.tenant, personas.other_tenant):
        with tenant_context(tenant.pk):
            templates_install_defaults()
    return personas


def _drop(folder, name, body, age_s=10.0):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(body)
    moment = time.time() - age_s
    os.utime(path, (moment, moment))
    return path


def _sweep(capture):
    with capture(execute=True):
        return inbox_sweep()


def _inbox_messages(tenant):
    with tenant_context(tenant.pk):
        return list(InboundMessage.objects.filter(channel=Channel.INBOX).order_by("pk"))


def test_sweep_creates_folders_stores_files_and_moves_them_after_commit(
    acme, django_capture_on_commit_callbacks
):
    integration = IntegrationFactory(tenant=acme.tenant, name="Drop folder", inbox_enabled=True)
    with tenant_context(acme.tenant.pk):
        Integration.objects.create(name="Webhook only", kind="x12")
        shipment = shipment_create(
            mode="road_ftl",
            references=[("shipment_id", "REF777")],
            booked_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    folder = inbox.inbox_path(acme.tenant, integration)
    assert not folder.exists()
    _sweep(django_capture_on_commit_callbacks)
    assert folder.is_dir()  # created on the first sweep
    # Only inbox-enabled integrations get a folder.
    assert [p.name for p in folder.parent.iterdir()] == [str(integration.token)]

    _drop(folder, "status.edi", X12_SMALL)
    _drop(folder, ".uploading.edi", X12_SMALL)  # hidden: skipped
    _drop(folder, "still-writing.edi", X12_SMALL, age_s=0)  # too fresh: skipped
    _sweep(django_capture_on_commit_callbacks)

    [message] = _inbox_messages(acme.tenant)
    assert bytes(message.body) == X12_SMALL
    assert message.integration_id == integration.pk
    assert message.content_type == "application/edi-x12"
    assert message.format == "x12"
    processed = list((folder / "processed").iterdir())
    assert len(processed) == 1
    assert processed[0].name.endswith(f"_m{message.pk}_status.edi")
    assert processed[0].read_bytes() == X12_SMALL
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        ".uploading.edi",
        "still-writing.edi",
    ]
    with tenant_context(acme.tenant.pk):
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 2


def test_file_stays_when_the_transaction_rolls_back(acme, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(tenant=acme.tenant, name="Drop folder", inbox_enabled=True)
    path = _drop(inbox.inbox_path(acme.tenant, integration), "status.edi", X12_SMALL)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        tenant_context(acme.tenant.pk),
    ):
        assert inbox.sweep_tenant(acme.tenant)["stored"] == 1
        raise RuntimeError("crash before commit")
    assert path.read_bytes() == X12_SMALL  # not moved: it was never stored
    assert _inbox_messages(acme.tenant) == []
    _sweep(django_capture_on_commit_callbacks)
    assert len(_inbox_messages(acme.tenant)) == 1
    assert not path.exists()


def test_a_file_that_cannot_be_stored_goes_to_failed_with_the_reason(
    acme, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_MAX_BODY_BYTES = 50
    integration = IntegrationFactory(tenant=acme.tenant, name="Drop folder", inbox_enabled=True)
    folder = inbox.inbox_path(acme.tenant, integration)
    _drop(folder, "huge.edi", X12_SMALL)
    _sweep(django_capture_on_commit_callbacks)
    failed = sorted((folder / "failed").iterdir())
    assert len(failed) == 2
    data = next(p for p in failed if p.name.endswith("_huge.edi"))
    assert data.read_bytes() == X12_SMALL  # kept whole, nothing deleted
    reason = next(p for p in failed if p.name.endswith(".error.txt")).read_text()
    assert "too large" in reason
    assert not (folder / "huge.edi").exists()


def test_tenants_folders_are_separate(acme, django_capture_on_commit_callbacks):
    mine = IntegrationFactory(tenant=acme.tenant, name="Drop folder", inbox_enabled=True)
    theirs = IntegrationFactory(tenant=acme.other_tenant, name="Drop folder", inbox_enabled=True)
    _drop(inbox.inbox_path(acme.other_tenant, theirs), "b.json", b'{"events": []}')
    _sweep(django_capture_on_commit_callbacks)
    assert _inbox_messages(acme.tenant) == []
    [message] = _inbox_messages(acme.other_tenant)
    assert message.integration_id == theirs.pk
    assert message.content_type == "application/json"
    assert inbox.inbox_path(acme.tenant, mine).parent.name == acme.tenant.slug


def test_content_type_and_format_hints():
    assert inbox.format_hint_for("a.EDI") == "auto"
    assert inbox.format_hint_for("a.x12") == "auto"
    assert inbox.format_hint_for("a.json") == "auto"
    assert inbox.format_hint_for("feed.csv") == "csv"
    assert inbox.content_type_for("feed.csv") == "text/csv"
    assert inbox.content_type_for("noext") == "application/octet-stream"

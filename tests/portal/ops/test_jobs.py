"""Long operations as Celery jobs (portal/ops/jobs.py): bulk replay of dead letters and the
export of the shipment list (CSV, XLSX), their progress partial, result page and file;
one bad item never stops the others; tenants and roles."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from config.celery import app as celery_app
from integrations import formats, pipeline, services
from integrations.models import DeadLetter, InboundMessage, MessageStatus
from integrations.parsers.base import Format
from portal.ops import jobs, tasks
from portal.ops.models import JobKind, JobStatus, OpsJob
from shipments.models import Shipment
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.portal.ops.test_codes import X12
from tests.shipments.factories import ShipmentFactory

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _raise_bug(data: bytes, context: object) -> None:
    raise RuntimeError("parser bug")


@pytest.fixture
def queued(monkeypatch) -> list[dict]:
    found: list[dict] = []
    monkeypatch.setattr(tasks.job_run, "delay", lambda **kwargs: found.append(kwargs))
    return found


@pytest.fixture
def dead(board, monkeypatch):
    """Three dead-lettered X12 messages (code ZZ unmapped) and one that the pipeline cannot
    handle at all: a format plugin with a bug stands in for it (nothing of the replay is
    patched)."""
    monkeypatch.setitem(formats.FORMATS, "buggy", Format("buggy", "Buggy", _raise_bug))
    p = board.personas
    integration = IntegrationFactory(tenant=p.tenant, name="ABCD Freight", kind="x12")
    ShipmentFactory(tenant=p.tenant, references=[("shipment_id", "REF777")])
    ids = []
    with tenant_context(p.tenant.pk):
        for n in range(3):
            body = X12.replace(b"000000201", f"00000030{n}".encode())
            message = services.message_store(integration=integration, channel="upload", body=body)
            pipeline.process_messages([message.pk])
            ids.append(message.pk)
        bad = InboundMessage.objects.create(
            channel="upload",
            body=b"odd",
            sha256="b",
            status=MessageStatus.DEAD,
            format_hint="buggy",
        )
        DeadLetter.objects.create(message=bad, reason="parse failed once", stage="parse")
        services.integration_set_overrides(
            integration=integration, code_overrides={"ZZ": "arrived"}
        )
    return board, integration, ids, bad.pk


@covers_url("ops-dead-letters-replay-all", "ops-job", "ops-job-progress")
def test_replay_all_is_a_job_that_progresses_and_keeps_going_past_a_bad_message(
    dead, queued, monkeypatch, django_capture_on_commit_callbacks
):
    board, _integration, _ids, bad = dead
    tenant = board.personas.tenant
    client = board.personas.client("member")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ops-dead-letters-replay-all"))
    with tenant_context(tenant.pk):
        job = OpsJob.objects.get()
    assert response["Location"] == reverse("ops-job", args=[job.pk])
    assert queued == [{"tenant_id": tenant.pk, "job_id": job.pk}]
    assert job.kind == JobKind.REPLAY and job.total == 4 and job.status == JobStatus.QUEUED
    progress = reverse("ops-job-progress", args=[job.pk])
    first = client.get(progress).content.decode()
    assert 'hx-trigger="every 1s"' in first and 'value="0"' in first and 'max="4"' in first
    # one message per slice: the bad one (the newest id) fails its own replay only
    seen = []
    original = jobs._replay_slice

    def watch(job, ids):
        seen.append(job.done)
        original(job, ids)

    monkeypatch.setattr(jobs, "_replay_slice", watch)  # a spy: the real slice runs
    assert jobs._replay_run(tenant.pk, job.pk, batch=1) == "done"
    assert seen == [0, 1, 2, 3]  # progress committed slice by slice
    with tenant_context(tenant.pk):
        job = OpsJob.objects.get()
        assert (job.done, job.failed, job.status) == (4, 1, JobStatus.DONE)
        assert job.result["resolved"] == 3
        [failure] = job.result["failed"]
        assert failure["message_id"] == bad
        assert "RuntimeError: parser bug" in failure["reason"]
        open_letters = DeadLetter.objects.filter(resolved_at__isnull=True)
        assert set(open_letters.values_list("message_id", flat=True)) == {bad}
        assert AuditLog.objects.filter(action="ops_job.replay").count() == 1
    done = client.get(progress).content.decode()
    assert "hx-trigger" not in done and 'value="4"' in done
    assert 'id="job-errors"' in done and "parser bug" in done
    page = client.get(reverse("ops-job", args=[job.pk])).content.decode()
    assert "Bulk replay" in page and 'id="job-bar"' in page
    # the integrations page lists the job
    assert (
        reverse("ops-job", args=[job.pk])
        in client.get(reverse("ops-integrations")).content.decode()
    )


def test_replay_all_with_nothing_open_says_so(board, queued):
    response = board.personas.client("member").post(
        reverse("ops-dead-letters-replay-all"), follow=True
    )
    assert "Nothing to replay" in response.content.decode() and queued == []


def test_the_celery_task_runs_the_job(dead, django_capture_on_commit_callbacks):
    board, *_ = dead
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            board.personas.client("member").post(reverse("ops-dead-letters-replay-all"))
    finally:
        celery_app.conf.task_always_eager = before
    with tenant_context(board.personas.tenant.pk):
        job = OpsJob.objects.get()
        assert job.status == JobStatus.DONE and job.done == 4 and job.failed == 1


@pytest.fixture
def listed(board):
    """Shipments whose texts a spreadsheet would run as formulas, among others."""
    p = board.personas
    nasty = [
        ShipmentFactory(
            tenant=p.tenant, reference='=HYPERLINK("http://x")', carrier="DHL", booked_at=t
        )
        for t in [board.mine.booked_at]
    ]
    nasty.append(ShipmentFactory(tenant=p.tenant, reference="+SUM(A1)", carrier="DHL"))
    nasty.append(ShipmentFactory(tenant=p.tenant, reference="-42", carrier="DHL"))
    nasty.append(ShipmentFactory(tenant=p.tenant, reference="@cmd", carrier="UPS"))
    return board


def _list_ids(client, query: str) -> list[str]:
    body = client.get(f"{reverse('ops-shipments')}?{query}").content.decode()
    import re

    return re.findall(r'<tr data-id="(shp_[^"]+)"', body)


@covers_url("ops-export", "ops-job", "ops-job-download", "ops-shipments")
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_of_the_filtered_list_is_a_job_whose_file_matches_the_list(listed, queued, fmt):
    board = listed
    tenant = board.personas.tenant
    client = board.personas.client("member")
    query = "carrier=DHL&sort=-booked"
    expected = _list_ids(client, query)
    assert len(expected) == 4  # mine and three nasty ones; UPS ones are filtered out
    response = client.post(reverse("ops-export"), {"query": query, "format": fmt})
    with tenant_context(tenant.pk):
        job = OpsJob.objects.get()
    assert response["Location"] == reverse("ops-job", args=[job.pk])
    assert job.kind == JobKind.EXPORT and job.total == 4
    download = reverse("ops-job-download", args=[job.pk])
    assert client.get(download).status_code == 404  # not ready yet
    assert jobs.job_run(tenant_id=tenant.pk, job_id=job.pk) == "done"
    page = client.get(reverse("ops-job", args=[job.pk])).content.decode()
    assert download in page and 'value="4"' in page
    file = client.get(download)
    assert file.status_code == 200
    assert file["Content-Disposition"].endswith(f'.{fmt}"')
    data = b"".join(file.streaming_content) if file.streaming else file.content
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        rows = [
            [c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)
        ]
    else:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Shipment", "References", "Status"]
    assert [r[0] for r in body] == expected  # same rows, same order as the list
    for row in rows:
        for cell in row:
            assert not str(cell).startswith(FORMULA_STARTS), cell
    references = {r[1] for r in body}
    assert '\'=HYPERLINK("http://x")' in references and "'+SUM(A1)" in references
    assert "'-42" in references
    with tenant_context(tenant.pk):
        assert AuditLog.objects.filter(action="ops_job.export").count() == 1
        mine = Shipment.objects.get(pk=board.mine.pk)
    row = next(r for r in body if r[0] == mine.public_id)
    assert row[4] == "DHL" and row[5] == "SHIPPER1" and row[6:8] == ["DEHAM", "FRPAR"]


def test_export_of_an_unknown_format_is_refused(board, queued):
    response = board.personas.client("member").post(
        reverse("ops-export"), {"query": "", "format": "pdf"}, follow=True
    )
    assert "Export as csv or xlsx." in response.content.decode() and queued == []


@covers_url("ops-job", "ops-job-progress", "ops-job-download", "ops-export")
def test_another_tenants_job_is_a_404(listed, queued):
    board = listed
    client = board.personas.client("member")
    client.post(reverse("ops-export"), {"query": "", "format": "csv"})
    with tenant_context(board.personas.tenant.pk):
        job = OpsJob.objects.get()
    jobs.job_run(tenant_id=board.personas.tenant.pk, job_id=job.pk)
    outsider = board.personas.client("outsider")
    for name in ("ops-job", "ops-job-progress", "ops-job-download"):
        assert outsider.get(reverse(name, args=[job.pk])).status_code == 404
    # the outsider's own export holds only their shipments
    outsider.post(reverse("ops-export"), {"query": "", "format": "csv"})
    with tenant_context(board.personas.other_tenant.pk):
        theirs = OpsJob.objects.get()
    jobs.job_run(tenant_id=board.personas.other_tenant.pk, job_id=theirs.pk)
    data = outsider.get(reverse("ops-job-download", args=[theirs.pk])).content.decode()
    assert board.theirs.public_id in data and board.mine.public_id not in data


@covers_url("ops-dead-letters-replay-all", "ops-job", "ops-export")
@pytest.mark.parametrize("who", ["sales", "finance", "driver", "customer"])
def test_roles(dead, queued, who):
    board, *_ = dead
    tenant = board.personas.tenant
    board.personas.client("member").post(reverse("ops-dead-letters-replay-all"))
    with tenant_context(tenant.pk):
        replay = OpsJob.objects.get()
    client = board.personas.client(who)
    assert client.post(reverse("ops-dead-letters-replay-all")).status_code == 404
    assert client.get(reverse("ops-job", args=[replay.pk])).status_code == 404
    assert client.get(reverse("ops-job-progress", args=[replay.pk])).status_code == 404
    exported = client.post(reverse("ops-export"), {"query": "", "format": "csv"})
    with tenant_context(tenant.pk):
        count = OpsJob.objects.count()
    if who in ("sales", "finance"):  # they read the list, so they may export it
        assert exported.status_code == 302 and count == 2
    else:
        assert exported.status_code == 404 and count == 1

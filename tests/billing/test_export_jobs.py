"""Export jobs (/finance/exports/): written by the Celery task in chunks, the file parses back
(csv, openpyxl) to the filtered charges with the right totals and no cell starting with a
formula character; progress reaches 100 %; a failure mid-way is recorded with its reason;
finance and admin only; another tenant's job and its download are 404."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import OperationalError
from django.urls import reverse
from openpyxl import load_workbook

from billing import exporting, selectors, services, tasks
from billing.exporting import ExportFilters
from billing.exports import FORMULA_STARTS
from billing.models import ExportJob, ExportStatus
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.billing.factories import freight, rate_card, record, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]

EVIL = '=HYPERLINK("http://x.test","click")'
PAGES = ("finance-exports", "finance-export", "finance-export-progress", "finance-export-download")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def queued(monkeypatch) -> list[dict]:
    """The enqueued tasks (the broker is outside the test); tests run them themselves."""
    calls: list[dict] = []
    monkeypatch.setattr(tasks.export_run, "delay", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
def billed(acme):
    """March 2026: five delivered shipments of customer 1, two of
    customer 2; a freight line of 100.00 plus an evil-described handling line of 12.345."""
    rate_card(
        acme.tenant,
        freight("100.00"),
        services.LineSpec(code="handling", description=EVIL, amount="12.345", currency="EUR"),
    )
    for n in range(7):
        customer = acme.customer_account if n < 5 else acme.other_customer_account
        ship = shipment(acme.tenant, customer_account=customer, reference=f"REF-{n}")
        record(acme.tenant, ship, "delivered", datetime(2026, 3, 3 + n, 9, tzinfo=UTC))
    # One in April, outside the period.
    ship = shipment(acme.tenant, customer_account=acme.customer_account, reference="APRIL")
    record(acme.tenant, ship, "delivered", datetime(2026, 4, 2, 9, tzinfo=UTC))
    return acme


def _job(acme, *, kind="charges", file_format="csv", **filters) -> ExportJob:
    with tenant_context(acme.tenant.pk):
        return services.export_job_create(
            kind=kind,
            file_format=file_format,
            filters=ExportFilters(**filters),
            actor=acme.users["finance"],
        )


def _run(acme, job: ExportJob, chunk: int = 3) -> ExportJob:
    assert exporting.export_run(tenant_id=acme.tenant.pk, job_id=job.pk, chunk=chunk) in (
        "done",
        "failed",
    )
    with tenant_context(acme.tenant.pk):
        return ExportJob.objects.get(pk=job.pk)


def _read(job: ExportJob) -> bytes:
    with job.file.open("rb") as handle:
        return handle.read()


def _no_formula(values) -> None:
    for value in values:
        if isinstance(value, str):
            assert not value.startswith(FORMULA_STARTS), value


def _expected(acme, **filters):
    with tenant_context(acme.tenant.pk):
        return list(ExportFilters(**filters).charges())


def test_csv_job_writes_the_filtered_charges_in_chunks(
    billed, queued, monkeypatch, django_capture_on_commit_callbacks
):
    march = {
        "period_start": datetime(2026, 3, 1).date(),
        "period_end": datetime(2026, 3, 31).date(),
    }
    filters = march | {"customer": billed.customer_account.pk}
    with django_capture_on_commit_callbacks(execute=True):
        job = _job(billed, **filters)
    assert queued == [{"tenant_id": billed.tenant.pk, "job_id": job.pk}]
    assert (job.status, job.total, job.done) == (ExportStatus.QUEUED, 10, 0)

    seen: list[tuple[int, int]] = []
    original = selectors.charge_chunk

    def watching(*args, **kwargs):  # the progress recorded before each chunk is read
        with tenant_context(billed.tenant.pk):
            row = ExportJob.objects.get(pk=job.pk)
            seen.append((row.done, row.total))
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "charge_chunk", watching)
    done = _run(billed, job, chunk=3)
    assert seen == [(0, 10), (3, 10), (6, 10), (9, 10)]  # four chunks: 3 + 3 + 3 + 1
    assert (done.status, done.done, done.total, done.percent, done.error) == (
        ExportStatus.DONE,
        10,
        10,
        100,
        "",
    )
    assert done.finished_at is not None and done.started_at is not None
    body = _read(done).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    expected = _expected(billed, **filters)
    assert [r["idempotency_key"] for r in rows] == [c.idempotency_key for c in expected]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("561.75")  # 5 x (100 + 12.35)
    assert {r["customer"] for r in rows} == {billed.customer_account.name}
    assert {r["description"] for r in rows} == {"Freight", "'" + EVIL}
    for row in csv.reader(io.StringIO(body)):
        _no_formula(row)
    # Run again (Celery redelivers after a lost worker): a done job is left alone.
    assert exporting.export_run(tenant_id=billed.tenant.pk, job_id=job.pk) == "done"


def test_xlsx_journal_job_balances_and_keeps_numbers(billed, queued):
    job = _run(billed, _job(billed, kind="journal", file_format="xlsx", status="accrued"), chunk=4)
    assert job.status == ExportStatus.DONE and job.done == job.total == 16
    sheet = load_workbook(io.BytesIO(_read(job)), read_only=True)["Journal"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [
        "date",
        "account",
        "debit",
        "credit",
        "reference",
        "customer",
        "currency",
    ]
    assert len(rows) == 1 + 2 * 16
    debit = sum(Decimal(str(r[2])) for r in rows[1:] if r[2] not in (None, ""))
    credit = sum(Decimal(str(r[3])) for r in rows[1:] if r[3] not in (None, ""))
    assert debit == credit == Decimal("898.80")  # 8 x 112.35
    for row in rows:
        _no_formula(row)
    # The same export through the synchronous API parses back to the same rows.
    api = billed.client("finance").get(
        reverse("billing-journal-export"), {"format": "xlsx", "status": "accrued"}
    )
    api_rows = list(load_workbook(io.BytesIO(api.content)).active.iter_rows(values_only=True))
    assert [r[1:] for r in api_rows] == [r[1:] for r in rows]


def test_xlsx_charges_job_amounts_are_numbers(billed, queued):
    job = _run(billed, _job(billed, file_format="xlsx", period_start=date(2026, 4, 1)))
    sheet = load_workbook(io.BytesIO(_read(job)))["Charges"]
    header = [c.value for c in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 2 and job.total == 2
    assert sum(Decimal(str(r[header.index("amount")])) for r in rows) == Decimal("112.35")
    assert rows[0][header.index("description")] in ("Freight", "'" + EVIL)
    for row in sheet.iter_rows(values_only=True):
        _no_formula(row)


def test_failure_mid_way_is_recorded_with_its_reason(billed, queued, monkeypatch):
    job = _job(billed)
    original, calls = selectors.charge_chunk, []

    def dropping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the database goes away during the third chunk
            raise OperationalError("server closed the connection unexpectedly")
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "charge_chunk", dropping)
    failed = _run(billed, job, chunk=5)
    assert failed.status == ExportStatus.FAILED
    assert failed.error == "OperationalError: server closed the connection unexpectedly"
    assert failed.done == 10 and failed.total == 16  # two chunks were written before
    assert not failed.file  # a half-written file is never offered
    assert failed.finished_at is not None
    # A failed job stays failed (not retried with the same data); the page shows why.
    assert exporting.export_run(tenant_id=billed.tenant.pk, job_id=job.pk) == "failed"
    page = billed.client("finance").get(reverse("finance-export-progress", args=[job.pk]))
    assert "server closed the connection unexpectedly" in page.content.decode()
    assert "finance-export-download" not in page.content.decode()
    assert (
        billed.client("finance").get(reverse("finance-export-download", args=[job.pk])).status_code
        == 404
    )


def test_a_running_job_picked_up_again_starts_over(billed, queued):
    """A worker died mid-way (acks late: the task comes again): the job is rewritten whole."""
    job = _job(billed)
    with tenant_context(billed.tenant.pk):
        ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, done=7)
    done = _run(billed, job, chunk=4)
    assert (done.status, done.done) == (ExportStatus.DONE, 16)
    assert len(list(csv.DictReader(io.StringIO(_read(done).decode())))) == 16


@covers_url(*PAGES)
def test_pages_start_poll_and_download(billed, queued, django_capture_on_commit_callbacks):
    finance = billed.client("finance")
    assert finance.get(reverse("finance-exports")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        started = finance.post(
            reverse("finance-exports"),
            {"kind": "charges", "format": "csv", "period": "2026-03", "customer": "", "status": ""},
        )
    assert started.status_code == 302
    [call] = queued
    job_id = call["job_id"]
    assert started["Location"] == reverse("finance-export", args=[job_id])
    detail = finance.get(started["Location"]).content.decode()
    assert 'id="export-bar"' in detail and 'hx-trigger="every 1s"' in detail
    assert "0 of 14 charges" in detail
    tasks.export_run.run(**call)  # the task itself, as the worker runs it
    progress = finance.get(reverse("finance-export-progress", args=[job_id])).content.decode()
    assert "hx-get" not in progress  # done: polling stops
    assert "14 of 14 charges · 100%" in progress
    assert reverse("finance-export-download", args=[job_id]) in progress
    download = finance.get(reverse("finance-export-download", args=[job_id]))
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert download["Content-Disposition"] == f'attachment; filename="charges-{job_id}.csv"'
    body = b"".join(download.streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 14
    # The list and the home page link it.
    assert (
        reverse("finance-export", args=[job_id])
        in finance.get(reverse("finance-home")).content.decode()
    )
    # Bad input: a field-named message, nothing queued.
    for bad in (
        {"kind": "invoices", "format": "csv"},
        {"kind": "charges", "format": "pdf"},
        {"kind": "charges", "format": "csv", "status": "nope"},
        {"kind": "charges", "format": "csv", "period": "2026-13"},
        {"kind": "charges", "format": "csv", "customer": "x"},
    ):
        refused = finance.post(reverse("finance-exports"), bad)
        assert refused.status_code == 400, bad
    assert len(queued) == 1


@covers_url(*PAGES)
def test_export_pages_are_for_finance_only_and_this_tenant(billed, queued):
    job = _run(billed, _job(billed))
    urls = [reverse(name, args=[job.pk]) for name in PAGES[1:]]
    for url in [reverse("finance-exports"), *urls]:
        for role in ("finance", "admin"):
            assert billed.client(role).get(url).status_code == 200, (url, role)
        for role in ("ops", "sales", "customer", "driver"):
            assert billed.client(role).get(url).status_code == 403, (url, role)
        anonymous = billed.client("anonymous").get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for role in ("ops", "sales"):
        refused = billed.client(role).post(
            reverse("finance-exports"), {"kind": "charges", "format": "csv"}
        )
        assert refused.status_code == 403
    assert queued == []
    # The other tenant's admin (finance rights there): someone else's job does not exist.
    outsider = billed.client("outsider")
    for url in urls:
        assert outsider.get(url).status_code == 404, url
    their_list = outsider.get(reverse("finance-exports")).content.decode()
    assert job.file_name not in their_list
    # Nor can they export our customer's charges by naming its id.
    refused = outsider.post(
        reverse("finance-exports"),
        {"kind": "charges", "format": "csv", "customer": billed.customer_account.pk},
    )
    assert refused.status_code == 400 and "Unknown customer account" in refused.content.decode()
    with tenant_context(billed.other_tenant.pk):
        assert ExportJob.objects.count() == 0


def test_home_links_sync_exports_only_up_to_the_threshold(billed, settings):
    finance = billed.client("finance")
    settings.BILLING_EXPORT_SYNC_MAX_ROWS = 14
    home = finance.get(reverse("finance-home"), {"period": "2026-03"}).content.decode()
    assert "charges CSV" in home and 'id="export-form"' in home
    settings.BILLING_EXPORT_SYNC_MAX_ROWS = 13
    home = finance.get(reverse("finance-home"), {"period": "2026-03"}).content.decode()
    assert "charges CSV" not in home and 'id="export-large"' in home
    assert 'id="export-form"' in home

"""Bulk import of shipments (/ops/import/): mapping, dry run, rejected rows with reasons, the
real run through shipments.services.shipment_create, idempotent re-runs, tenants and roles."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.celery import app as celery_app
from portal.ops import importing, services
from portal.ops.models import ImportStatus, ShipmentImport
from shipments.models import Shipment, ShipmentReference
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url

CSV = (
    "Order ref,Transport mode,Booking date,Carrier,Customer,From,To,Kind\n"
    "IMP-1,road_ftl,2026-11-30 08:00,DHL,SHIPPER1,DEHAM,FRPAR,\n"
    "IMP-2,Road FTL,2026-11-30,UPS,,NLRTM,DEMUC,\n"
    "IMP-3,teleport,2026-11-30,DHL,,,,\n"  # unknown mode
    ",road_ftl,2026-11-30,DHL,,,,\n"  # no reference
    "IMP-5,road_ftl,yesterday,DHL,,,,\n"  # not a date
    "IMP-6,road_ftl,2026-11-30,DHL,NOSUCH,,,\n"  # unknown customer
    "IMP-1,road_ftl,2026-11-30,DHL,,,,\n"  # repeats row 2
    "ACME-0001,road_ftl,2026-11-30,DHL,,,,tracking_number\n"  # the board's tracking number
)


def _upload(client, body: str | bytes = CSV, name: str = "shipments.csv"):
    data = body.encode() if isinstance(body, str) else body
    return client.post(reverse("ops-import"), {"file": SimpleUploadedFile(name, data)})


def _job(tenant, **filters) -> ShipmentImport:
    with tenant_context(tenant.pk):
        return ShipmentImport.objects.get(**filters)


def _mapping_post(job, action="check", **override):
    data = {f"map_{name}": str(i) for name, i in job.mapping.items()}
    data.update({f"map_{k}": str(v) for k, v in override.items()})
    data["action"] = action
    return data


def test_mapping_is_guessed_from_headers():
    headers = ["Order ref", "Transport mode", "Booking date", "Carrier", "Customer", "From", "To"]
    assert importing.guess_mapping(headers) == {
        "reference": 0,
        "mode": 1,
        "booked_at": 2,
        "carrier": 3,
        "customer": 4,
        "origin": 5,
        "destination": 6,
    }
    exact = importing.guess_mapping(["booked_at", "mode", "reference", "Promised at"])
    assert exact == {"booked_at": 0, "mode": 1, "reference": 2, "promised_at": 3}


@covers_url("ops-import", "ops-import-detail")
def test_upload_then_dry_run_shows_each_row_and_writes_nothing(board):
    client = board.personas.client("member")
    response = _upload(client)
    job = _job(board.personas.tenant)
    assert response.status_code == 302 and response["Location"] == reverse(
        "ops-import-detail", args=[job.pk]
    )
    assert job.total == 8 and job.mapping["reference"] == 0
    page = client.get(response["Location"]).content.decode()
    assert 'name="map_reference"' in page and "Order ref" in page
    before = _count(board.personas.tenant)
    body = client.post(response["Location"], _mapping_post(job)).content.decode()
    assert _count(board.personas.tenant) == before  # a dry run creates nothing
    assert '<strong id="dry-create">2</strong>' in body
    assert '<strong id="dry-skip">1</strong>' in body
    assert '<strong id="dry-reject">5</strong>' in body
    assert "mode:" in body and "teleport" in body
    assert "unknown customer account &#x27;NOSUCH&#x27;" in body
    assert "repeats the reference of row 2" in body
    assert "reference:" in body and "booked_at:" in body


def test_editing_the_mapping_changes_the_dry_run(board):
    client = board.personas.client("member")
    _upload(client)
    job = _job(board.personas.tenant)
    url = reverse("ops-import-detail", args=[job.pk])
    # map the reference to the carrier column: every row then has a reference ("DHL"…)
    body = client.post(url, _mapping_post(job, reference=3, carrier=-1)).content.decode()
    assert "repeats the reference of row 2" in body
    assert _job(board.personas.tenant).mapping["reference"] == 3
    assert "carrier" not in _job(board.personas.tenant).mapping
    # a required field left unmapped is refused with a message
    missing = client.post(url, _mapping_post(job, mode=-1), follow=True).content.decode()
    assert "Map a column to: Mode." in missing


def test_real_run_creates_through_the_service_and_keeps_going_past_bad_rows(board):
    client = board.personas.client("member")
    _upload(client)
    job = _job(board.personas.tenant)
    response = client.post(reverse("ops-import-detail", args=[job.pk]), _mapping_post(job, "start"))
    assert response.status_code == 302
    assert _job(board.personas.tenant, pk=job.pk).status == ImportStatus.QUEUED
    # small batches: the bad rows share batches with good ones
    assert services.import_run(tenant_id=board.personas.tenant.pk, import_id=job.pk, batch=3) == (
        "done"
    )
    job = _job(board.personas.tenant, pk=job.pk)
    assert (job.created_count, job.skipped_count, job.rejected_count) == (2, 1, 5)
    assert job.processed == job.total == 8
    assert [r["row"] for r in job.rejected] == [4, 5, 6, 7, 8]
    assert all(r["reason"] for r in job.rejected)
    with tenant_context(board.personas.tenant.pk):
        one = Shipment.objects.get(references__value="IMP-1")
        assert one.customer_account_id == board.personas.customer_account.pk
        assert one.origin_locode == "DEHAM" and one.carrier == "DHL"
        assert one.booked_at.isoformat().startswith("2026-11-30T07:00")  # Berlin local 08:00
        # the same path as the API: a milepost reference, the audit entry
        assert ShipmentReference.objects.filter(shipment=one, kind="milepost").exists()
        assert AuditLog.objects.filter(action="shipment.create", target_id=one.pk).exists()
        assert Shipment.objects.filter(references__value="IMP-2", mode="road_ftl").exists()
    page = client.get(reverse("ops-import-detail", args=[job.pk])).content.decode()
    assert 'id="import-rejected"' in page and "teleport" in page
    assert one.public_id in page


def test_same_file_twice_creates_nothing_twice(board):
    client = board.personas.client("member")
    tenant = board.personas.tenant
    for _ in range(2):
        _upload(client)
        job = _job(tenant, status=ImportStatus.UPLOADED)
        client.post(reverse("ops-import-detail", args=[job.pk]), _mapping_post(job, "start"))
        services.import_run(tenant_id=tenant.pk, import_id=job.pk)
    first, second = (_job(tenant, pk=j) for j in _ids(tenant))
    assert first.created_count == 2 and second.created_count == 0
    assert second.skipped_count == 3  # IMP-1, IMP-2 and ACME-0001 are known
    with tenant_context(tenant.pk):
        assert ShipmentReference.objects.filter(value="IMP-1").count() == 1
    # a run resumed after a worker died does not redo rows
    assert services.import_run(tenant_id=tenant.pk, import_id=first.pk) == "done"
    assert _job(tenant, pk=first.pk).created_count == 2


def test_start_enqueues_the_celery_task_after_commit(board, django_capture_on_commit_callbacks):
    client = board.personas.client("member")
    _upload(client)
    job = _job(board.personas.tenant)
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("ops-import-detail", args=[job.pk]), _mapping_post(job, "start"))
    finally:
        celery_app.conf.task_always_eager = before
    job = _job(board.personas.tenant, pk=job.pk)
    assert job.status == ImportStatus.DONE and job.created_count == 2


@covers_url("ops-import-progress")
def test_progress_partial_polls_until_done(board):
    client = board.personas.client("member")
    _upload(client)
    job = _job(board.personas.tenant)
    client.post(reverse("ops-import-detail", args=[job.pk]), _mapping_post(job, "start"))
    url = reverse("ops-import-progress", args=[job.pk])
    queued = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in queued and 'value="0"' in queued
    services.import_run(tenant_id=board.personas.tenant.pk, import_id=job.pk)
    done = client.get(url).content.decode()
    assert "hx-trigger" not in done and 'value="8"' in done and 'max="8"' in done


def test_xlsx_is_read(board):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["reference", "mode", "booked_at"])
    from datetime import datetime

    sheet.append(["XL-1", "air", datetime(2026, 11, 30, 9, 30)])
    sheet.append([None, None, None])
    sheet.append([12345, "air", "2026-11-30T10:00+00:00"])
    out = io.BytesIO()
    book.save(out)
    client = board.personas.client("member")
    _upload(client, out.getvalue(), "book.xlsx")
    job = _job(board.personas.tenant)
    assert job.rows == [
        ["XL-1", "air", "2026-11-30T09:30:00"],
        ["12345", "air", "2026-11-30T10:00+00:00"],
    ]
    with tenant_context(board.personas.tenant.pk):
        outcomes = services.import_check(job=job)
    assert [o.outcome for o in outcomes] == ["create", "create"]


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("notes.pdf", b"%PDF", "Upload a .csv or .xlsx file."),
        ("broken.xlsx", b"not a zip", "The file is not a readable .xlsx."),
        ("empty.csv", b"\n\n", "The file has no header row."),
    ],
)
def test_unreadable_files_are_refused_with_a_message(board, name, body, message):
    client = board.personas.client("member")
    response = client.post(
        reverse("ops-import"), {"file": SimpleUploadedFile(name, body)}, follow=True
    )
    assert message in response.content.decode()
    with tenant_context(board.personas.tenant.pk):
        assert not ShipmentImport.objects.exists()


@covers_url("ops-import", "ops-import-detail", "ops-import-progress")
def test_another_tenants_import_is_a_404(board):
    _upload(board.personas.client("member"))
    job = _job(board.personas.tenant)
    outsider = board.personas.client("outsider")
    for url in (
        reverse("ops-import-detail", args=[job.pk]),
        reverse("ops-import-progress", args=[job.pk]),
    ):
        assert outsider.get(url).status_code == 404
    assert (
        outsider.post(
            reverse("ops-import-detail", args=[job.pk]), _mapping_post(job, "start")
        ).status_code
        == 404
    )
    assert "shipments.csv" not in outsider.get(reverse("ops-import")).content.decode()
    assert _job(board.personas.tenant, pk=job.pk).status == ImportStatus.UPLOADED
    # the outsider's own import creates in their tenant only; ACME-0001 is not theirs
    _upload(outsider)
    theirs = _job(board.personas.other_tenant)
    with tenant_context(board.personas.other_tenant.pk):
        outcomes = {o.reference: o.outcome for o in services.import_check(job=theirs)}
    assert outcomes["ACME-0001"] == "create"


@covers_url("ops-import", "ops-import-detail", "ops-import-progress")
@pytest.mark.parametrize("who", ["sales", "finance", "driver", "customer"])
def test_only_writers_may_import(board, who):
    _upload(board.personas.client("member"))
    job = _job(board.personas.tenant)
    client = board.personas.client(who)
    assert client.get(reverse("ops-import")).status_code == 404
    assert _upload(client).status_code == 404
    assert client.get(reverse("ops-import-detail", args=[job.pk])).status_code == 404
    assert client.get(reverse("ops-import-progress", args=[job.pk])).status_code == 404
    with tenant_context(board.personas.tenant.pk):
        assert ShipmentImport.objects.count() == 1


def test_admin_may_import_and_the_nav_links_it(board):
    client = board.personas.client("admin")
    assert 'href="/ops/import/"' in client.get(reverse("ops-shipments")).content.decode()
    assert _upload(client).status_code == 302
    sales = board.personas.client("sales").get(reverse("ops-shipments")).content.decode()
    assert 'href="/ops/import/"' not in sales


def _count(tenant) -> int:
    with tenant_context(tenant.pk):
        return Shipment.objects.count()


def _ids(tenant) -> list[int]:
    with tenant_context(tenant.pk):
        return list(ShipmentImport.objects.order_by("pk").values_list("pk", flat=True))

"""The code table of an integration at /ops/integrations/<id>/codes/: rows edited in the
page with errors named by row, the replay dry run (what a replay with the new table would
accept and which milestones it would record; nothing stored), saving (audited), and saving
with a replay (a Celery job); tenants and roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations import code_tables, pipeline, services
from integrations.feeds.services import feed_mapping_save
from integrations.models import DeadLetter, HeldEvent, Integration
from portal.ops import jobs, tasks
from portal.ops.models import JobStatus, OpsJob
from shipments.models import TrackingEvent
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.integrations.factories import IntegrationFactory
from tests.shipments.factories import ShipmentFactory

# AF (departed) and D1 (delivered) are X12 codes; ZZ is unknown: a dead letter until mapped.
X12 = (
    b"ISA*00*          *00*          *ZZ*CARRIER        *ZZ*MILEPOST       *260308*1200*U*00401"
    b"*000000201*0*P*>~GS*QM*CARRIER*MILEPOST*20260308*1200*1*X*004010~ST*214*0001~"
    b"B10*PRO777*REF777*ABCD~LX*1~AT7*AF*NS***20260305*0900*UT~AT7*ZZ*NS***20260306*1000*UT~"
    b"AT7*D1*NS***20260307*1100*UT~SE*7*0001~GE*1*1~IEA*1*000000201~"
)
# the same with a reference no shipment has: its events are held
X12_HELD = X12.replace(b"REF777", b"NOSHIP1").replace(b"PRO777", b"PRO778")

FEED_MAPPING = {
    "format": "csv",
    "fields": {"reference": "Ref", "milestone": "Status", "time": "When", "time_zone": "UTC"},
    "code_map": {"RCV": "picked_up"},
}
FEED = b"Ref,Status,When\nREF777,RCV,2026-03-05 09:00\nREF777,OUT,2026-03-06 10:00\n"


def _process(tenant, integration, body):
    with tenant_context(tenant.pk):
        message = services.message_store(
            integration=integration, channel="upload", body=body, content_type="text/plain"
        )
        pipeline.process_messages([message.pk])
    return message.pk


@pytest.fixture
def x12(board):
    p = board.personas
    integration = IntegrationFactory(tenant=p.tenant, name="ABCD Freight", kind="x12")
    shipment = ShipmentFactory(tenant=p.tenant, references=[("shipment_id", "REF777")])
    dead = _process(p.tenant, integration, X12)
    held = _process(p.tenant, integration, X12_HELD)
    return board, integration, shipment, dead, held


def _state(tenant, integration_id):
    with tenant_context(tenant.pk):
        return (
            Integration.objects.get(pk=integration_id).code_overrides,
            TrackingEvent.objects.count(),
            DeadLetter.objects.filter(resolved_at__isnull=True).count(),
            HeldEvent.objects.count(),
            AuditLog.objects.filter(action__startswith="integration.").count(),
            OpsJob.objects.count(),
        )


def _rows(*pairs, action="preview"):
    return {
        "code": [c for c, _ in pairs],
        "milestone": [m for _, m in pairs],
        "action": action,
    }


@covers_url("ops-integration-codes", "ops-integrations")
def test_preview_shows_what_a_replay_would_accept_and_stores_nothing(x12):
    board, integration, shipment, *_ = x12
    client = board.personas.client("member")
    url = reverse("ops-integration-codes", args=[integration.pk])
    listing = client.get(reverse("ops-integrations")).content.decode()
    assert url in listing  # each integration links its code table
    page = client.get(url).content.decode()
    assert 'id="format-defaults"' in page and "AF" in page  # the format's own table
    assert 'value="save"' not in page  # saving comes after a preview
    before = _state(board.personas.tenant, integration.pk)
    body = client.post(url, _rows(("ZZ", "arrived"))).content.decode()
    assert _state(board.personas.tenant, integration.pk) == before  # a dry run
    assert '<strong id="pv-accepted">2</strong>' in body  # ZZ of both messages
    assert '<strong id="pv-messages">2</strong>' in body
    assert "of 2 held or dead-lettered" in body
    assert "unmapped code &#x27;ZZ&#x27; (x12)" in body  # what it is now
    assert f'href="/ops/shipments/{shipment.public_id}/"' in body  # recorded on it
    assert "until a shipment has NOSHIP1" in body  # the other one is held
    assert 'value="save_replay"' in body and "Save and replay 2 messages" in body
    # AF and D1 are already recorded / held: not a change
    assert body.count('class="change-accepted"') == 2
    assert 'class="change-changed"' not in body


def test_a_remap_of_a_recorded_code_is_not_a_change_but_a_held_one_is(x12):
    board, integration, *_ = x12
    with tenant_context(board.personas.tenant.pk):
        preview = code_tables.replay_preview(
            integration=integration, table={"AF": "arrived", "ZZ": "arrived"}
        )
    kinds = sorted(c.kind for m in preview.messages for c in m.changes)
    # ZZ accepted twice; AF already on the timeline (dedupe key) changes nothing there, but
    # the held message's AF would be held again (same key): no change either
    assert kinds == ["accepted", "accepted"]
    af = {p.outcome for m in preview.messages for p in m.after if p.code == "AF"}
    assert af == {"recorded", "held"}
    zz = {(p.outcome, p.milestone) for m in preview.messages for p in m.after if p.code == "ZZ"}
    assert zz == {("apply", "arrived"), ("hold", "arrived")}


@covers_url("ops-integration-codes")
def test_bad_rows_are_named_in_place_and_nothing_is_saved(x12):
    board, integration, *_ = x12
    client = board.personas.client("member")
    url = reverse("ops-integration-codes", args=[integration.pk])
    before = _state(board.personas.tenant, integration.pk)
    body = client.post(
        url,
        _rows(("ZZ", "nosuch"), ("AF", "arrived"), ("AF", "departed"), ("", "arrived"), ("", "")),
    ).content.decode()
    assert "row 1: unknown milestone &#x27;nosuch&#x27;" in body
    assert "row 3: code &#x27;AF&#x27; is already mapped in row 2" in body
    assert "row 4: the source code is empty" in body
    assert body.count('data-testid="row-error"') == 3
    assert 'aria-invalid="true"' in body and 'id="replay-preview"' not in body
    assert 'value="nosuch"' in body  # the rows come back as typed
    # a save with bad rows is refused just the same
    client.post(url, _rows(("ZZ", "nosuch"), action="save"))
    assert _state(board.personas.tenant, integration.pk) == before


@covers_url("ops-integration-codes")
def test_save_is_audited_and_save_and_replay_runs_a_job(
    x12, monkeypatch, django_capture_on_commit_callbacks
):
    board, integration, shipment, dead, held = x12
    tenant = board.personas.tenant
    client = board.personas.client("member")
    url = reverse("ops-integration-codes", args=[integration.pk])
    saved = client.post(url, _rows(("ZZ", "arrived"), action="save"))
    assert saved.status_code == 302
    with tenant_context(tenant.pk):
        assert Integration.objects.get(pk=integration.pk).code_overrides == {"ZZ": "arrived"}
        entry = AuditLog.objects.get(action="integration.overrides")
        assert entry.actor_id == board.personas.member.pk
        assert entry.changes["code_overrides"] == [{}, {"ZZ": "arrived"}]
    # remove the row, add another, then save and replay
    queued: list[dict] = []
    monkeypatch.setattr(tasks.job_run, "delay", lambda **kwargs: queued.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, _rows(("ZZ", "arrived"), ("XX", "delivered"), action="save_replay")
        )
    with tenant_context(tenant.pk):
        job = OpsJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("ops-job", args=[job.pk])
    assert queued == [{"tenant_id": tenant.pk, "job_id": job.pk}]
    assert sorted(job.params["message_ids"]) == sorted([dead, held])
    assert jobs.job_run(tenant_id=tenant.pk, job_id=job.pk) == "done"
    with tenant_context(tenant.pk):
        job = OpsJob.objects.get()
        assert (job.status, job.done, job.total, job.failed) == (JobStatus.DONE, 2, 2, 0)
        assert job.result["resolved"] == 2  # the ZZ letter of each message
        assert not DeadLetter.objects.filter(resolved_at__isnull=True).exists()
        milestones = set(
            TrackingEvent.objects.filter(shipment=shipment).values_list("milestone", flat=True)
        )
        assert "arrived" in milestones  # ZZ, recorded by the replay
        assert AuditLog.objects.filter(action="ops_job.replay").count() == 1


@covers_url("ops-integration-codes")
def test_a_feed_edits_its_code_map(board):
    p = board.personas
    integration = IntegrationFactory(tenant=p.tenant, name="Warehouse", kind="csv")
    with tenant_context(p.tenant.pk):
        feed_mapping_save(integration=integration, mapping=FEED_MAPPING)
    ShipmentFactory(tenant=p.tenant, references=[("shipment_id", "REF777")])
    _process(p.tenant, integration, FEED)  # OUT is unknown: row 3 is a dead letter
    client = p.client("member")
    url = reverse("ops-integration-codes", args=[integration.pk])
    page = client.get(url).content.decode()
    assert 'value="RCV"' in page
    body = client.post(url, _rows(("RCV", "picked_up"), ("OUT", "out_for_delivery"))).content
    body = body.decode()
    assert '<strong id="pv-accepted">1</strong>' in body
    assert "<code>row 3</code>" in body and "out_for_delivery" in body
    client.post(url, _rows(("RCV", "picked_up"), ("OUT", "out_for_delivery"), action="save"))
    with tenant_context(p.tenant.pk):
        mapping = Integration.objects.get(pk=integration.pk).feed_mapping
        assert mapping["code_map"] == {"RCV": "picked_up", "OUT": "out_for_delivery"}
        assert mapping["fields"]["reference"] == {"column": "Ref"}  # the rest is kept
        assert AuditLog.objects.filter(action="integration.feed_mapping").count() == 2


@covers_url("ops-integration-codes")
def test_another_tenants_integration_is_a_404(x12):
    board, integration, *_ = x12
    outsider = board.personas.client("outsider")
    url = reverse("ops-integration-codes", args=[integration.pk])
    before = _state(board.personas.tenant, integration.pk)
    assert outsider.get(url).status_code == 404
    assert outsider.post(url, _rows(("ZZ", "arrived"), action="save")).status_code == 404
    assert _state(board.personas.tenant, integration.pk) == before


@covers_url("ops-integration-codes")
@pytest.mark.parametrize("who", ["sales", "finance", "driver", "customer", "anonymous"])
def test_only_staff_edit_code_tables(x12, who):
    board, integration, *_ = x12
    client = board.personas.client(who)
    url = reverse("ops-integration-codes", args=[integration.pk])
    before = _state(board.personas.tenant, integration.pk)
    assert client.get(url).status_code in (302, 404)
    assert client.post(url, _rows(("ZZ", "arrived"), action="save")).status_code in (302, 404)
    assert _state(board.personas.tenant, integration.pk) == before


def test_the_code_table_and_a_job_page_speak_german(x12):
    board, integration, *_ = x12
    client = board.personas.client("member")
    client.post(reverse("set_language"), {"language": "de", "next": "/ops/"})
    url = reverse("ops-integration-codes", args=[integration.pk])
    page = client.get(url).content.decode()
    assert "Codetabelle" in page and "Wiederholung vorab ansehen" in page
    body = client.post(url, _rows(("ZZ", "arrived"))).content.decode()
    assert "Jetzt angenommen" in body and "Speichern und 2 Nachrichten wiederholen" in body

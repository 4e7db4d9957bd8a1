"""The exception queue and the tasks pages: grouped queue with SLA, acknowledge/assign/resolve
one and in bulk through integrations.exceptions services, tasks done/reopen through
integrations.workflow services; other tenants' rows are 404 or invisible; roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.exceptions.models import ShipmentException
from integrations.workflow.models import Task
from integrations.workflow.services import create_task
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url


def _exception(tenant, shipment, type="missed_milestone", severity="major", hours_ago=1):
    with tenant_context(tenant.pk):
        return ShipmentException.objects.create(
            tenant=tenant,
            shipment=shipment,
            type=type,
            severity=severity,
            opened_at=timezone.now() - timedelta(hours=hours_ago),
        )


@pytest.fixture
def work(board):
    p = board.personas
    mine = [
        _exception(p.tenant, board.mine, severity="critical", hours_ago=5),
        _exception(p.tenant, board.late, type="delayed_departure"),
    ]
    theirs = _exception(p.other_tenant, board.theirs)
    return board, mine, theirs


@covers_url("ops-exceptions")
def test_queue_groups_by_type_and_severity_and_shows_sla(work):
    board, mine, _ = work
    body = board.personas.client("sales").get(reverse("ops-exceptions")).content.decode()
    assert "Missed milestone" in body and "Delayed departure" in body
    assert f'data-id="{mine[0].public_id}"' in body and board.mine.public_id in body
    assert board.theirs.public_id not in body
    assert "due in" in body or "overdue" in body
    assert 'name="ids"' not in body  # sales reads, does not act


@covers_url("ops-exceptions-act")
def test_bulk_acknowledge_assign_and_resolve_with_note(work):
    board, mine, theirs = work
    client = board.personas.client("member")
    ids = [x.public_id for x in mine]
    url = reverse("ops-exceptions-act")
    client.post(url, {"ids": ids, "action": "acknowledge"})
    client.post(url, {"ids": ids[:1], "action": "assign", "role": "ops"})
    refused = client.post(url, {"ids": ids, "action": "resolve", "note": ""}, follow=True)
    assert "Say how it was resolved." in refused.content.decode()
    client.post(url, {"ids": ids, "action": "resolve", "note": "carrier confirmed"})
    with tenant_context(board.personas.tenant.pk):
        states = dict(ShipmentException.objects.values_list("public_id", "status"))
        assert states[ids[0]] == states[ids[1]] == "resolved"
        assert AuditLog.objects.filter(action="exception.assigned").count() == 1
        assert AuditLog.objects.filter(action="exception.resolved").count() == 2
    # another tenant's id is ignored, as if missing
    client.post(url, {"ids": [theirs.public_id], "action": "acknowledge"})
    with tenant_context(board.personas.other_tenant.pk):
        assert ShipmentException.objects.get(pk=theirs.pk).status == "open"


@covers_url("ops-exceptions-act", "ops-tasks", "ops-task-act")
@pytest.mark.parametrize("who", ["sales", "finance", "driver", "customer"])
def test_only_staff_act_and_see_tasks(work, who):
    board, mine, _ = work
    client = board.personas.client(who)
    response = client.post(
        reverse("ops-exceptions-act"), {"ids": [mine[0].public_id], "action": "acknowledge"}
    )
    assert response.status_code == 404
    assert client.get(reverse("ops-tasks")).status_code == 404
    task = create_task(tenant_id=board.personas.tenant.pk, title="Chore", assignee_role="ops")
    assert client.post(reverse("ops-task-act", args=[task.pk])).status_code == 404
    with tenant_context(board.personas.tenant.pk):
        assert ShipmentException.objects.get(pk=mine[0].pk).status == "open"


@covers_url("ops-exceptions")
@pytest.mark.parametrize("who", ["driver", "customer"])
def test_driver_and_customer_cannot_open_the_queue(work, who):
    assert work[0].personas.client(who).get(reverse("ops-exceptions")).status_code == 404


@covers_url("ops-tasks", "ops-task-act")
def test_tasks_mine_role_overdue_done_and_reopen(board):
    p = board.personas
    past = timezone.now() - timedelta(hours=2)
    mine = create_task(
        tenant_id=p.tenant.pk,
        title="Call the consignee",
        assignee_user_id=p.member.pk,
        shipment_id=board.mine.pk,
        due_at=past,
    )
    role = create_task(tenant_id=p.tenant.pk, title="Check customs papers", assignee_role="ops")
    theirs = create_task(tenant_id=p.other_tenant.pk, title="Rival chore", assignee_role="ops")
    client = p.client("member")
    assert "Call the consignee" in client.get(reverse("ops-tasks")).content.decode()
    by_role = client.get(reverse("ops-tasks"), {"view": "role"}).content.decode()
    assert "Check customs papers" in by_role and "Rival chore" not in by_role
    overdue = client.get(reverse("ops-tasks"), {"view": "overdue"}).content.decode()
    assert "Call the consignee" in overdue and "Check customs papers" not in overdue
    client.post(reverse("ops-task-act", args=[mine.pk]), {"action": "done"})
    with tenant_context(p.tenant.pk):
        assert Task.objects.get(pk=mine.pk).status == "done"
    client.post(reverse("ops-task-act", args=[mine.pk]), {"action": "reopen"})
    with tenant_context(p.tenant.pk):
        assert Task.objects.get(pk=mine.pk).status == "open"
    assert client.post(reverse("ops-task-act", args=[theirs.pk])).status_code == 404
    with tenant_context(p.other_tenant.pk):
        assert Task.objects.get(pk=theirs.pk).status == "open"
    assert role.pk


def test_nav_links_exceptions_for_office_and_tasks_for_staff(board):
    sales = board.personas.client("sales").get(reverse("ops-shipments")).content.decode()
    assert 'href="/ops/exceptions/"' in sales and 'href="/ops/tasks/"' not in sales
    ops = board.personas.client("member").get(reverse("ops-shipments")).content.decode()
    assert 'href="/ops/exceptions/"' in ops and 'href="/ops/tasks/"' in ops


@covers_url("ops-kpis", "ops-shipment")
def test_kpi_tile_and_shipment_panels_show_own_tenant_only(work):
    board = work[0]
    p = board.personas
    create_task(tenant_id=p.tenant.pk, title="Chase the POD", shipment_id=board.mine.pk)
    client = p.client("member")
    tiles = client.get(reverse("ops-kpis")).content.decode()
    assert '<div class="n" data-kpi="exceptions_open">2</div>' in tiles
    page = client.get(reverse("ops-shipment", args=[board.mine.public_id])).content.decode()
    panel = page[page.index('id="shipment-exceptions"') : page.index('id="shipment-tasks"')]
    assert "Missed milestone" in panel and "critical" in panel
    assert "Chase the POD" in page
    other = p.client("outsider").get(reverse("ops-kpis")).content.decode()
    assert '<div class="n" data-kpi="exceptions_open">1</div>' in other


@covers_url("ops-exceptions")
def test_each_open_exception_shows_its_sla_due_time_and_a_countdown(work):
    """The SLA is the exceptions selectors' (by severity, from opening): the page shows the
    due time as an absolute local time and a countdown the browser ticks (countdown.js)."""
    from zoneinfo import ZoneInfo

    from integrations.exceptions.selectors import SLA, sla_due_at

    board, mine, _ = work
    body = board.personas.client("member").get(reverse("ops-exceptions")).content.decode()
    zone = ZoneInfo(board.personas.tenant.timezone)
    for x in mine:
        due = sla_due_at(x)
        assert due == x.opened_at + SLA[x.severity]
        local = due.astimezone(zone)
        assert f'<time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M}</time>' in body
        assert f'data-due="{int(due.timestamp())}"' in body
    # critical opened 5 h ago (SLA 1 h): overdue; major opened 1 h ago (SLA 4 h): due in 3 h
    assert body.count('class="countdown badge bad overdue"') == 2  # its row and its group
    assert "overdue 4\xa0hours" in body and "due in 2\xa0hours, 5" in body
    assert 'data-due-text="due in %s"' in body and "ops/countdown.js" in body
    assert "critical 1 h · major 4 h · minor 24 h" in body

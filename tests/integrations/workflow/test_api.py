"""Tasks and rules over the API: create, list (overdue, mine), done / reopen, audited; rules
by admins with errors naming the field; another tenant's rows answer 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.workflow.services import create_task
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.access import covers_url
from tests.integrations.exceptions.helpers import ago, event, exceptions, shipment

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]


def _post(client, name, body=None, **kwargs):
    return client.post(reverse(name, **kwargs), data=body or {}, content_type="application/json")


@covers_url("tasks", "task-done", "task-reopen")
def test_tasks_are_created_listed_done_and_reopened(acme):
    s = shipment(acme.tenant, booked=ago(days=2))
    event(acme.tenant, s, "order_created", ago(days=2))
    [x] = exceptions(acme.tenant)
    ops = acme.client("ops")
    created = _post(
        ops,
        "tasks",
        {
            "title": "Call the carrier",
            "shipment": s.public_id,
            "exception": x.public_id,
            "assignee_role": "ops",
            "due_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["shipment"] == s.public_id and body["exception"] == x.public_id
    assert body["overdue"] is True
    assert _post(ops, "tasks", {"title": ""}).status_code == 400
    wrong = _post(ops, "tasks", {"title": "x", "assignee_role": "pilot"})
    assert "assignee_role" in wrong.json()["error"]["fields"]
    assert _post(ops, "tasks", {"title": "x", "shipment": "shp_nope"}).status_code == 400
    later = _post(ops, "tasks", {"title": "Later", "assignee_user": acme.member.pk})
    assert later.json()["overdue"] is False
    assert [
        t["title"] for t in ops.get(reverse("tasks"), {"overdue": "true"}).json()["results"]
    ] == ["Call the carrier"]
    mine = ops.get(reverse("tasks"), {"mine": "true"}).json()["results"]
    assert {t["title"] for t in mine} == {"Call the carrier", "Later"}
    admin_mine = acme.client("admin").get(reverse("tasks"), {"mine": "true"}).json()["results"]
    assert admin_mine == []
    assert (
        ops.get(reverse("tasks"), {"shipment": s.public_id}).json()["results"][0]["id"]
        == (body["id"])
    )
    done = _post(ops, "task-done", args=[body["id"]])
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert _post(ops, "task-done", args=[body["id"]]).status_code == 409
    reopened = _post(ops, "task-reopen", args=[body["id"]])
    assert reopened.json()["status"] == "open" and reopened.json()["reopened_at"]
    with tenant_context(acme.tenant.pk):
        actions = list(
            AuditLog.objects.filter(target_type="task", target_id=str(body["id"]))
            .order_by("at", "id")
            .values_list("action", flat=True)
        )
    assert actions == ["task.created", "task.done", "task.reopened"]
    # Another tenant, customers and drivers: nothing.
    outsider = acme.client("outsider")
    assert outsider.get(reverse("tasks")).json()["results"] == []
    assert _post(outsider, "task-done", args=[body["id"]]).status_code == 404
    assert _post(outsider, "task-reopen", args=[body["id"]]).status_code == 404
    assert acme.client("customer").get(reverse("tasks")).status_code == 403
    assert _post(acme.client("driver"), "task-done", args=[body["id"]]).status_code == 403


def test_create_task_service_for_other_engineers(acme):
    s = shipment(acme.tenant, booked=ago(hours=1))
    due = timezone.now() + timedelta(hours=2)
    task = create_task(
        tenant_id=acme.tenant.pk,
        title="Invoice check",
        shipment_id=s.pk,
        assignee_role="finance",
        due_at=due,
        source="billing",
        note="from billing",
    )
    assert (task.tenant_id, task.source, task.due_at, task.status) == (
        acme.tenant.pk,
        "billing",
        due,
        "open",
    )
    # Someone else's shipment is unknown in this tenant.
    theirs = shipment(acme.other_tenant, booked=ago(hours=1))
    from tenancy.errors import NotFound

    with pytest.raises(NotFound):
        create_task(tenant_id=acme.tenant.pk, title="x", shipment_id=theirs.pk)


@covers_url("rules", "rule")
def test_rules_over_the_api(acme):
    admin = acme.client("admin")
    body = {
        "name": "Late pickup",
        "trigger": "milestone_missed",
        "when": {"milestone": "picked_up"},
        "actions": [
            {"type": "create_task", "config": {"title": "Chase", "assignee_role": "ops"}},
            {"type": "notify", "config": {"channel": "pigeon"}},
        ],
    }
    bad = _post(admin, "rules", body)
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["actions[1].config.channel"]
    body["actions"] = body["actions"][:1]
    created = _post(admin, "rules", body)
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert _post(acme.client("ops"), "rules", body).status_code == 403
    listed = acme.client("ops").get(reverse("rules")).json()["results"]
    assert [r["id"] for r in listed] == [rule_id]
    body["is_active"] = False
    replaced = acme.client("admin").put(
        reverse("rule", args=[rule_id]), data=body, content_type="application/json"
    )
    assert replaced.status_code == 200 and replaced.json()["is_active"] is False
    assert admin.get(reverse("rule", args=[rule_id])).json()["name"] == "Late pickup"
    outsider = acme.client("outsider")
    assert outsider.get(reverse("rules")).json()["results"] == []
    assert outsider.get(reverse("rule", args=[rule_id])).status_code == 404
    assert (
        outsider.put(
            reverse("rule", args=[rule_id]), data=body, content_type="application/json"
        ).status_code
        == 404
    )

"""The exception queue (/ops/exceptions/) and tasks (/ops/tasks/): thin views over
integrations.exceptions and integrations.workflow selectors and services (no writes here)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from integrations.exceptions import selectors as exception_selectors
from integrations.exceptions import services as exception_services
from integrations.workflow import selectors as task_selectors
from integrations.workflow import services as task_services
from portal.ops.access import can_change, ops_view, user_of
from tenancy.errors import DomainError
from tenancy.models import OFFICE, STAFF, Role

MAX_ROWS = 200


@require_GET
@ops_view(OFFICE)
def exception_queue(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = list(exception_selectors.exception_list(status="unresolved")[:MAX_ROWS])
    for x in rows:
        x.due_at = exception_selectors.sla_due_at(x)  # type: ignore[attr-defined]
    return render(
        request,
        "ops/exceptions.html",
        {
            "groups": exception_selectors.exception_queue(now=now),
            "rows": rows,
            "can_change": can_change(request),
            "roles": [(r, label) for r, label in Role.choices if r != Role.CUSTOMER],
            "ws_url": settings.OPS_WEBSOCKET_URL or "",
            "sla": exception_selectors.sla_hours(),
            "now": now,
        },
    )


@require_POST
@ops_view(STAFF)
def exceptions_act(request: HttpRequest) -> HttpResponse:
    """One or many (``ids``: public ids): acknowledge, assign to a role or resolve with a note."""
    ids = [i for i in request.POST.getlist("ids") if i][:MAX_ROWS]
    action = request.POST.get("action", "")
    found = list(exception_selectors.exception_list().filter(public_id__in=ids))
    actor = user_of(request)
    done, failed = 0, []
    for x in found:
        try:
            if action == "acknowledge":
                exception_services.exception_acknowledge(exception=x, actor=actor)
            elif action == "assign":
                exception_services.exception_assign(
                    exception=x, role=request.POST.get("role") or None, actor=actor
                )
            elif action == "resolve":
                exception_services.exception_resolve(
                    exception=x, note=request.POST.get("note", ""), actor=actor
                )
            else:
                raise DomainError("Unknown action.", code="invalid")
            done += 1
        except DomainError as error:
            failed.append(f"{x.public_id}: {error}")
    if done:
        messages.success(request, _("%(n)d exception(s) updated.") % {"n": done})
    for message in failed[:5]:
        messages.error(request, message)
    if not found:
        messages.error(request, _("Select at least one exception."))
    return redirect(request.POST.get("next") or "ops-exceptions")


@require_GET
@ops_view(STAFF)
def task_board(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    role = request.membership.role  # type: ignore[attr-defined]
    view = request.GET.get("view", "mine")
    if view == "role":
        tasks = task_selectors.task_list(status="open", assignee_role=role)
    elif view == "overdue":
        tasks = task_selectors.tasks_overdue()
    else:
        view = "mine"
        tasks = task_selectors.task_list(assignee_user_id=user.pk)
    return render(
        request,
        "ops/tasks.html",
        {"tasks": list(tasks[:MAX_ROWS]), "view": view, "now": timezone.now()},
    )


@require_POST
@ops_view(STAFF)
def task_act(request: HttpRequest, task_id: int) -> HttpResponse:
    task = task_selectors.task_list().filter(pk=task_id).first()
    if task is None:
        from django.http import Http404

        raise Http404()
    try:
        if request.POST.get("action") == "reopen":
            task_services.task_reopen(task=task, actor=user_of(request))
        else:
            task_services.task_done(task=task, actor=user_of(request))
    except DomainError as error:
        messages.error(request, str(error))
    return redirect(request.POST.get("next") or "ops-tasks")

"""Workflow API: tasks (list with filters and overdue, create, done, reopen) and rules (list,
create, read, replace). Staff only; rules by admins."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.exceptions.models import ShipmentException
from integrations.workflow import selectors, services
from integrations.workflow.models import Rule, Task, TaskStatus
from integrations.workflow.serializers import RuleIn, RuleOut, TaskIn, TaskOut
from shipments.models import Shipment
from tenancy.api.base import ADMIN_ONLY, STAFF, TenantAPIView
from tenancy.api.parsers import query_flag
from tenancy.api.schema import list_of
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope

READ = frozenset({ApiScope.READ})
WRITE = frozenset({ApiScope.WRITE})
LIMIT = 500


class TaskListView(TenantAPIView):
    role_map = {"GET": STAFF, "POST": STAFF}
    scope_map = {"GET": READ, "POST": WRITE}
    customer_scope = None

    @extend_schema(
        operation_id="tasks_list",
        parameters=[
            OpenApiParameter("status", str, enum=TaskStatus.values),
            OpenApiParameter("overdue", bool),
            OpenApiParameter("mine", bool, description="Assigned to me or to my role"),
            OpenApiParameter("shipment", str, description="A shipment's id (shp_…)"),
        ],
        responses=list_of(TaskOut, "TaskList"),
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in TaskStatus.values:
            raise DomainError(
                f"status must be one of {', '.join(TaskStatus.values)}.",
                code="invalid_parameter",
                field="status",
            )
        shipment_id = None
        if "shipment" in request.query_params:
            shipment_id = (
                Shipment.objects.filter(public_id=request.query_params["shipment"])
                .values_list("pk", flat=True)
                .first()
            )
            if shipment_id is None:
                raise NotFound()
        tasks = selectors.task_list(
            status=status, overdue=query_flag(request, "overdue"), shipment_id=shipment_id
        )
        if query_flag(request, "mine"):
            actor, membership = self.actor, self.membership
            from django.db.models import Q

            tasks = tasks.filter(
                Q(assignee_user_id=actor.pk if actor else None)
                | Q(assignee_role=membership.role if membership else "-")
            )
        return Response({"results": TaskOut(tasks[:LIMIT], many=True).data})

    @extend_schema(operation_id="tasks_create", request=TaskIn, responses={201: TaskOut})
    def post(self, request: Request) -> Response:
        data = TaskIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        shipment_id = exception_id = None
        if values.get("shipment"):
            shipment_id = (
                Shipment.objects.filter(public_id=values["shipment"])
                .values_list("pk", flat=True)
                .first()
            )
            if shipment_id is None:
                raise DomainError("Unknown shipment.", code="not_found", field="shipment")
        if values.get("exception"):
            exception_id = (
                ShipmentException.objects.filter(public_id=values["exception"])
                .values_list("pk", flat=True)
                .first()
            )
            if exception_id is None:
                raise DomainError("Unknown exception.", code="not_found", field="exception")
        task = services.create_task(
            tenant_id=self.tenant.pk,
            title=values["title"],
            note=values.get("note", ""),
            shipment_id=shipment_id,
            exception_id=exception_id,
            assignee_user_id=values.get("assignee_user"),
            assignee_role=values.get("assignee_role"),
            due_at=values.get("due_at"),
            actor=self.actor,
        )
        return Response(TaskOut(task).data, status=201)


class _TaskStep(TenantAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = None

    def task(self, task_id: int) -> Task:
        task = selectors.task_list().filter(pk=task_id).first()
        if task is None:
            raise NotFound()
        return task


class TaskDoneView(_TaskStep):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = None

    @extend_schema(operation_id="tasks_done", request=None, responses=TaskOut)
    def post(self, request: Request, task_id: int) -> Response:
        task = services.task_done(task=self.task(task_id), actor=self.actor)
        return Response(TaskOut(selectors.task_list().get(pk=task.pk)).data)


class TaskReopenView(_TaskStep):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = None

    @extend_schema(operation_id="tasks_reopen", request=None, responses=TaskOut)
    def post(self, request: Request, task_id: int) -> Response:
        task = services.task_reopen(task=self.task(task_id), actor=self.actor)
        return Response(TaskOut(selectors.task_list().get(pk=task.pk)).data)


class RuleListView(TenantAPIView):
    role_map = {"GET": STAFF, "POST": ADMIN_ONLY}
    scope_map = {}
    customer_scope = None

    @extend_schema(operation_id="rules_list", responses=list_of(RuleOut, "RuleList"))
    def get(self, request: Request) -> Response:
        return Response({"results": RuleOut(selectors.rule_list()[:LIMIT], many=True).data})

    @extend_schema(operation_id="rules_create", request=RuleIn, responses={201: RuleOut})
    def post(self, request: Request) -> Response:
        data = RuleIn(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_save(**data.validated_data, actor=self.actor)
        return Response(RuleOut(rule).data, status=201)


class RuleDetailView(TenantAPIView):
    role_map = {"GET": STAFF, "PUT": ADMIN_ONLY}
    scope_map = {}
    customer_scope = None

    def rule(self, rule_id: int) -> Rule:
        rule = selectors.rule_list().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound()
        return rule

    @extend_schema(operation_id="rules_retrieve", responses=RuleOut)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleOut(self.rule(rule_id)).data)

    @extend_schema(operation_id="rules_update", request=RuleIn, responses=RuleOut)
    def put(self, request: Request, rule_id: int) -> Response:
        rule = self.rule(rule_id)
        data = RuleIn(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_save(**data.validated_data, rule=rule, actor=self.actor)
        return Response(RuleOut(rule).data)

"""Workflow rules, their firings, tasks and tags.

Evaluation runs in the changing transaction (for an interactive message, in the one right
after it: shipments.services ``timeline_hooks_deferred``), driven by the same hooks as
detection:

* ``shipments.hooks.on_timeline_changed``: milestone reached, status becomes, ETA moved;
* ``integrations.exceptions.detection.on_exceptions_changed``: exception opened / resolved,
  milestone missed (a missed-milestone or delayed-departure exception opening).

A tenant without active rules pays one query per batch. A firing is inserted with a key
unique per tenant (``ON CONFLICT DO NOTHING``): replaying the same events computes the same
keys, so nothing fires twice. The actions run after commit in a Celery task
(``workflow.run_firings``; the beat task ``workflow.run_pending`` picks up what a lost enqueue
left), each action of a firing at most once (``actions_done``), and each action is itself
idempotent on the firing's id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from integrations.exceptions.detection import Change
from integrations.exceptions.models import ExceptionType, ShipmentException
from integrations.workflow.actions import action_named
from integrations.workflow.models import (
    EtaState,
    Firing,
    FiringStatus,
    Rule,
    ShipmentTag,
    Task,
    TaskStatus,
    Trigger,
)
from shipments.models import Shipment
from tenancy.audit import audit_record
from tenancy.context import current_tenant_id, tenant_context
from tenancy.errors import Conflict, DomainError, NotFound
from tenancy.models import Membership, Role, User
from tenancy.realtime import publish_on_commit

MAX_ACTIONS = 10
MAX_ATTEMPTS = 5
FILTER_KEYS = ("mode", "customer", "origin", "destination", "carrier", "tag")
STATUSES = (
    "booked",
    "in_transit",
    "at_customs",
    "out_for_delivery",
    "delivered",
    "failed_delivery",
    "exception",
    "returned",
    "cancelled",
)
MISSED_TYPES = (ExceptionType.MISSED_MILESTONE, ExceptionType.DELAYED_DEPARTURE)


class RuleInvalid(DomainError):
    code = "invalid_rule"


# --- rules ------------------------------------------------------------------------------------


def _when(trigger: str, when: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(when, Mapping):
        raise RuleInvalid("An object.", field="when")
    if trigger in (Trigger.MILESTONE_REACHED, Trigger.MILESTONE_MISSED):
        milestone = when.get("milestone", "")
        if not isinstance(milestone, str) or len(milestone) > 40:
            raise RuleInvalid("A milestone code (or empty for any).", field="when.milestone")
        return {"milestone": milestone}
    if trigger in (Trigger.EXCEPTION_OPENED, Trigger.EXCEPTION_RESOLVED):
        kind = when.get("exception_type", "")
        if kind and kind not in ExceptionType.values:
            raise RuleInvalid(
                f"One of {', '.join(ExceptionType.values)} (or empty for any).",
                field="when.exception_type",
            )
        return {"exception_type": kind}
    if trigger == Trigger.STATUS_BECOMES:
        status = when.get("status")
        if status not in STATUSES:
            raise RuleInvalid(f"One of {', '.join(STATUSES)}.", field="when.status")
        return {"status": status}
    if trigger == Trigger.ETA_MOVED_MINUTES:
        minutes = when.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 43200:
            raise RuleInvalid("Whole minutes from 1 to 43200.", field="when.minutes")
        return {"minutes": minutes}
    raise RuleInvalid(f"One of {', '.join(Trigger.values)}.", field="trigger")


def _filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(filters, Mapping):
        raise RuleInvalid("An object.", field="filters")
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise RuleInvalid(f"Unknown filter {unknown[0]!r}.", field=f"filters.{unknown[0]}")
    clean: dict[str, Any] = {}
    for key, value in filters.items():
        if value in (None, ""):
            continue
        if key == "customer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise RuleInvalid("A customer account id.", field="filters.customer")
            from tenancy.models import CustomerAccount

            if not CustomerAccount.objects.filter(pk=value).exists():
                raise RuleInvalid("Unknown customer account.", field="filters.customer")
        elif not isinstance(value, str) or len(value) > 120:
            raise RuleInvalid("Text of at most 120 characters.", field=f"filters.{key}")
        clean[key] = value
    return clean


def _actions(actions: Sequence[Any]) -> list[dict[str, Any]]:
    if not isinstance(actions, list) or not actions:
        raise RuleInvalid("At least one action.", field="actions")
    if len(actions) > MAX_ACTIONS:
        raise RuleInvalid(f"At most {MAX_ACTIONS} actions.", field="actions")
    clean = []
    for i, item in enumerate(actions):
        if not isinstance(item, Mapping):
            raise RuleInvalid("An object with type and config.", field=f"actions[{i}]")
        try:
            action = action_named(str(item.get("type")))
        except DomainError as error:
            raise RuleInvalid(str(error), field=f"actions[{i}].type") from None
        try:
            config = action.validate(item.get("config") or {})
        except DomainError as error:
            inner = next(iter(error.fields or {}), "")
            path = f"actions[{i}].config" + ("" if inner in ("", "config") else f".{inner}")
            raise RuleInvalid(error.message, field=path) from None
        clean.append({"type": action.name, "config": config})
    return clean


@transaction.atomic
def rule_save(
    *,
    name: str,
    trigger: str,
    actions: Sequence[Any],
    when: Mapping[str, Any] | None = None,
    filters: Mapping[str, Any] | None = None,
    is_active: bool = True,
    rule: Rule | None = None,
    actor: User | None = None,
) -> Rule:
    """Create (or replace the definition of) a rule, validated; errors name the field."""
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise RuleInvalid("A name of at most 120 characters.", field="name")
    if trigger not in Trigger.values:
        raise RuleInvalid(f"One of {', '.join(Trigger.values)}.", field="trigger")
    values = {
        "name": name.strip(),
        "trigger": trigger,
        "when": _when(trigger, when or {}),
        "filters": _filters(filters or {}),
        "actions": _actions(list(actions)),
        "is_active": bool(is_active),
    }
    if rule is None:
        rule = Rule.objects.create(**values)
        action = "rule.created"
    else:
        for key, value in values.items():
            setattr(rule, key, value)
        rule.updated_at = timezone.now()
        rule.save()
        action = "rule.updated"
    audit_record(action=action, target_type="rule", target_id=rule.pk, actor=actor, changes=values)
    return rule


def rule_set_active(*, rule: Rule, is_active: bool, actor: User | None = None) -> Rule:
    """Switch a rule on or off without touching its definition."""
    if rule.is_active != is_active:
        rule.is_active = is_active
        rule.updated_at = timezone.now()
        rule.save(update_fields=["is_active", "updated_at"])
        audit_record(
            action="rule.enabled" if is_active else "rule.disabled",
            target_type="rule",
            target_id=rule.pk,
            actor=actor,
        )
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, actor: User | None = None) -> None:
    """Delete a rule with its firing log (the tasks and tags it made stay)."""
    audit_record(
        action="rule.deleted",
        target_type="rule",
        target_id=rule.pk,
        actor=actor,
        changes={"name": rule.name, "trigger": rule.trigger},
    )
    rule.delete()


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    rule: Rule
    shipment_id: int | None
    key: str
    cause: dict[str, Any]
    exception_id: int | None = None


def _active_rules(triggers: Iterable[str]) -> list[Rule]:
    return list(Rule.objects.filter(is_active=True, trigger__in=list(triggers)))


SHIPMENT_FACTS = """
SELECT s.id, s.mode, s.customer_account_id, s.origin_locode, s.destination_locode, s.carrier,
       s.status, s.eta, COALESCE(array_agg(t.tag) FILTER (WHERE t.tag IS NOT NULL), '{}'),
       COALESCE((
           SELECT jsonb_agg(jsonb_build_array(x->>'code', x->'actual'->>'at',
                                              x->'actual'->>'recorded_at'))
           FROM jsonb_array_elements(COALESCE(s.timeline->'rows', '[]'::jsonb)) x
           WHERE jsonb_typeof(x->'actual') = 'object'), '[]'::jsonb)
FROM shipments_shipment s
LEFT JOIN workflow_shipmenttag t ON t.shipment_id = s.id AND t.tenant_id = s.tenant_id
WHERE s.tenant_id = %s AND s.id = ANY(%s)
GROUP BY s.id
"""


@dataclass(frozen=True)
class Facts:
    id: int
    mode: str
    customer: int | None
    origin: str
    destination: str
    carrier: str
    status: str
    eta: datetime | None
    tags: list[str]
    reached: list[list[str | None]]


def _facts(ids: Sequence[int]) -> dict[int, Facts]:
    with connection.cursor() as cursor:
        cursor.execute(SHIPMENT_FACTS, [current_tenant_id(), list(ids)])
        rows = cursor.fetchall()
    return {row[0]: Facts(*row[:9], _json(row[9])) for row in rows}  # type: ignore[call-arg]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        import orjson

        return orjson.loads(value)
    return value


def _matches(rule: Rule, facts: Facts | None) -> bool:
    f = rule.filters or {}
    if not f:
        return True
    if facts is None:
        return False
    checks: dict[str, Callable[[Any], bool]] = {
        "mode": lambda v: facts.mode == v,
        "customer": lambda v: facts.customer == v,
        "origin": lambda v: facts.origin.upper() == str(v).upper(),
        "destination": lambda v: facts.destination.upper() == str(v).upper(),
        "carrier": lambda v: facts.carrier.lower() == str(v).lower(),
        "tag": lambda v: v in facts.tags,
    }
    return all(checks[k](v) for k, v in f.items() if k in checks)


def _timeline_candidates(rules: list[Rule], facts: dict[int, Facts]) -> list[Candidate]:
    found: list[Candidate] = []
    eta_rules = [r for r in rules if r.trigger == Trigger.ETA_MOVED_MINUTES]
    before: dict[int, datetime | None] = {}
    if eta_rules:
        before = dict(
            EtaState.objects.filter(shipment_id__in=list(facts)).values_list("shipment_id", "eta")
        )
    for rule in rules:
        for sid, f in facts.items():
            if not _matches(rule, f):
                continue
            if rule.trigger == Trigger.MILESTONE_REACHED:
                wanted = rule.when.get("milestone") or ""
                # Keyed by the milestone's time: a repeated report of it fires nothing, a
                # new attempt of a repeatable milestone (another time) fires again.
                for code, at, recorded_at in f.reached:
                    if wanted and code != wanted:
                        continue
                    # Milestones recorded before the rule existed are history, not news.
                    if recorded_at and datetime.fromisoformat(str(recorded_at)) < rule.created_at:
                        continue
                    found.append(
                        Candidate(
                            rule,
                            sid,
                            f"r{rule.pk}:reached:{sid}:{code}:{at}",
                            {"trigger": rule.trigger, "milestone": code, "at": at},
                        )
                    )
            elif rule.trigger == Trigger.STATUS_BECOMES:
                if f.status == rule.when.get("status"):
                    found.append(
                        Candidate(
                            rule,
                            sid,
                            f"r{rule.pk}:status:{sid}:{f.status}",
                            {"trigger": rule.trigger, "status": f.status},
                        )
                    )
            elif rule.trigger == Trigger.ETA_MOVED_MINUTES:
                old = before.get(sid)
                if sid in before and old is not None and f.eta is not None:
                    moved = round((f.eta - old).total_seconds() / 60)
                    if abs(moved) > int(rule.when.get("minutes", 0)):
                        found.append(
                            Candidate(
                                rule,
                                sid,
                                f"r{rule.pk}:eta:{sid}:{f.eta.isoformat()}",
                                {
                                    "trigger": rule.trigger,
                                    "previous_eta": old.isoformat(),
                                    "eta": f.eta.isoformat(),
                                    "moved_minutes": moved,
                                },
                            )
                        )
    if eta_rules:
        _remember_etas(facts)
    return found


def _remember_etas(facts: dict[int, Facts]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workflow_etastate (tenant_id, shipment_id, eta) "
            "SELECT %s, unnest(%s::bigint[]), unnest(%s::timestamptz[]) "
            "ON CONFLICT (shipment_id) DO UPDATE SET eta = EXCLUDED.eta",
            [current_tenant_id(), list(facts), [f.eta for f in facts.values()]],
        )


def on_timeline_changed(shipment_ids: list[int]) -> None:
    rules = _active_rules(
        (Trigger.MILESTONE_REACHED, Trigger.STATUS_BECOMES, Trigger.ETA_MOVED_MINUTES)
    )
    if not rules:
        return
    facts = _facts(shipment_ids)
    _fire(_timeline_candidates(rules, facts))


def on_exceptions_changed(tenant_id: int, changes: list[Change]) -> None:
    rules = _active_rules(
        (Trigger.EXCEPTION_OPENED, Trigger.EXCEPTION_RESOLVED, Trigger.MILESTONE_MISSED)
    )
    if not rules:
        return
    facts = _facts([c.shipment_id for c in changes if c.shipment_id])
    found = []
    for rule in rules:
        for c in changes:
            f = facts.get(c.shipment_id) if c.shipment_id else None
            if not _matches(rule, f):
                continue
            cause = {
                "trigger": rule.trigger,
                "exception": c.public_id,
                "exception_type": c.type,
                "milestone": c.milestone,
                "severity": c.severity,
            }
            if rule.trigger == Trigger.MILESTONE_MISSED:
                wanted = rule.when.get("milestone") or ""
                if c.kind != "opened" or c.type not in MISSED_TYPES:
                    continue
                if wanted and wanted != c.milestone:
                    continue
            else:
                wanted_kind = "opened" if rule.trigger == Trigger.EXCEPTION_OPENED else "resolved"
                wanted_type = rule.when.get("exception_type") or ""
                if c.kind != wanted_kind or (wanted_type and wanted_type != c.type):
                    continue
            found.append(Candidate(rule, c.shipment_id, f"r{rule.pk}:{c.kind}:{c.id}", cause, c.id))
    _fire(found)


INSERT_FIRINGS = """
INSERT INTO workflow_firing
    (tenant_id, rule_id, shipment_id, exception_id, key, cause, status, actions_done,
     attempts, last_error, created_at)
SELECT %s, rule_id, shipment_id, exception_id, key, cause::jsonb, 'pending', '[]', 0, '', %s
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[])
     AS f(rule_id, shipment_id, exception_id, key, cause)
ON CONFLICT (tenant_id, key) DO NOTHING
RETURNING id
"""


def _fire(found: list[Candidate]) -> list[int]:
    """Log the firings (new keys only) and run their actions after commit."""
    if not found:
        return []
    import orjson

    tenant_id = current_tenant_id()
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_FIRINGS,
            [
                tenant_id,
                timezone.now(),
                [c.rule.pk for c in found],
                [c.shipment_id for c in found],
                [c.exception_id for c in found],
                [c.key for c in found],
                [orjson.dumps(c.cause).decode() for c in found],
            ],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if ids and _runner is not None:
        runner = _runner
        transaction.on_commit(lambda: runner(tenant_id=tenant_id, firing_ids=ids), robust=True)
    return ids


Runner = Callable[..., Any]
_runner: Runner | None = None


def register_runner(runner: Runner) -> None:
    """How firings are run after commit (apps.py: the Celery task's delay; the services do
    not import the tasks that call them). Unset, the beat task finds them pending."""
    global _runner
    _runner = runner


# --- running firings --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRun:
    """What an action's ``run`` gets (integrations.workflow.actions): the firing, and this
    action's config."""

    pk: int
    tenant_id: int
    shipment_id: int | None
    exception_id: int | None
    config: Mapping[str, Any]
    cause: Mapping[str, Any]
    rule_id: int
    rule_name: str
    action_index: int

    @property
    def id(self) -> int:
        return self.pk

    @property
    def context(self) -> Mapping[str, Any]:
        return dict(self.cause)


def firing_run(*, firing_id: int) -> str:
    """Run the actions of one firing that have not run (in the current tenant context);
    each action in its own savepoint, its success recorded at once."""
    with transaction.atomic():
        firing = (
            Firing.objects.select_for_update(skip_locked=True)
            .select_related("rule")
            .filter(pk=firing_id, status=FiringStatus.PENDING)
            .first()
        )
        if firing is None:
            return "skipped"
        done = set(firing.actions_done or [])
        errors = []
        for index, spec in enumerate(firing.rule.actions):
            if index in done:
                continue
            run = ActionRun(
                pk=firing.pk,
                tenant_id=firing.tenant_id,
                shipment_id=firing.shipment_id,
                exception_id=firing.exception_id,
                config=spec.get("config") or {},
                cause=firing.cause,
                rule_id=firing.rule_id,
                rule_name=firing.rule.name,
                action_index=index,
            )
            try:
                with transaction.atomic():
                    action_named(spec["type"]).run(run)
            except Exception as error:  # recorded and retried; never breaks the others
                errors.append(f"actions[{index}] {spec.get('type')}: {error}")
                continue
            done.add(index)
        firing.actions_done = sorted(done)
        firing.attempts += 1
        firing.last_error = "; ".join(errors)[:2000]
        if not errors:
            firing.status = FiringStatus.DONE
            firing.finished_at = timezone.now()
        elif firing.attempts >= MAX_ATTEMPTS:
            firing.status = FiringStatus.FAILED
            firing.finished_at = timezone.now()
        firing.save(
            update_fields=["actions_done", "attempts", "last_error", "status", "finished_at"]
        )
        return str(firing.status)


def firings_pending(
    *, older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> list[int]:
    cutoff = timezone.now() - older_than
    return list(
        Firing.objects.filter(status=FiringStatus.PENDING, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- tasks ------------------------------------------------------------------------------------


def _check_assignee(assignee_user_id: int | None, assignee_role: str | None) -> None:
    if assignee_role and (assignee_role not in Role.values or assignee_role == Role.CUSTOMER):
        raise DomainError("Unknown staff role.", code="invalid", field="assignee_role")
    if assignee_user_id is not None and not (
        Membership.objects.filter(user_id=assignee_user_id, is_active=True)
        .exclude(role=Role.CUSTOMER)
        .exists()
    ):
        raise DomainError("Not a member of this tenant.", code="invalid", field="assignee_user")


def create_task(
    *,
    tenant_id: int,
    title: str,
    shipment_id: int | None = None,
    exception_id: int | None = None,
    assignee_user_id: int | None = None,
    assignee_role: str | None = None,
    due_at: datetime | None = None,
    source: str = "manual",
    note: str = "",
    actor: User | None = None,
    source_key: str | None = None,
) -> Task:
    """Create a task (in ``tenant_id``'s context, opened here if needed), audited.

    ``source_key`` makes it idempotent: a second call with the same key returns the first
    task (rule actions pass "<firing>:<action index>")."""
    with tenant_context(tenant_id):
        title = (title or "").strip()
        if not title or len(title) > 200:
            raise DomainError("A title of at most 200 characters.", code="invalid", field="title")
        if len(note) > 4000:
            raise DomainError("At most 4000 characters.", code="invalid", field="note")
        _check_assignee(assignee_user_id, assignee_role)
        if shipment_id is not None and not Shipment.objects.filter(pk=shipment_id).exists():
            raise NotFound("Unknown shipment.")
        if exception_id is not None:
            exception = ShipmentException.objects.filter(pk=exception_id).first()
            if exception is None:
                raise NotFound("Unknown exception.")
            shipment_id = shipment_id or exception.shipment_id
        if source_key:
            existing = Task.objects.filter(source_key=source_key).first()
            if existing is not None:
                return existing
        try:
            with transaction.atomic():
                task = Task.objects.create(
                    title=title,
                    note=note,
                    shipment_id=shipment_id,
                    exception_id=exception_id,
                    assignee_user_id=assignee_user_id,
                    assignee_role=assignee_role or "",
                    due_at=due_at,
                    source=source[:40],
                    source_key=source_key,
                    created_by=actor if actor is not None and actor.is_authenticated else None,
                )
        except IntegrityError:  # the same key, concurrently
            return Task.objects.get(source_key=source_key)
        audit_record(
            action="task.created",
            target_type="task",
            target_id=task.pk,
            actor=actor,
            changes={
                "title": title,
                "shipment": shipment_id,
                "exception": exception_id,
                "assignee_user": assignee_user_id,
                "assignee_role": assignee_role or "",
                "due_at": due_at.isoformat() if due_at else None,
                "source": source,
            },
        )
        publish_on_commit(tenant_id=tenant_id, payload={"type": "task.created", "task": task.pk})
        return task


@transaction.atomic
def task_done(*, task: Task, actor: User | None = None) -> Task:
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status == TaskStatus.DONE:
        raise Conflict("This task is done already.", code="task_done")
    task.status = TaskStatus.DONE
    task.done_at = timezone.now()
    task.save(update_fields=["status", "done_at"])
    audit_record(action="task.done", target_type="task", target_id=task.pk, actor=actor)
    return task


@transaction.atomic
def task_reopen(*, task: Task, actor: User | None = None) -> Task:
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != TaskStatus.DONE:
        raise Conflict("This task is open.", code="task_open")
    task.status = TaskStatus.OPEN
    task.done_at = None
    task.reopened_at = timezone.now()
    task.save(update_fields=["status", "done_at", "reopened_at"])
    audit_record(action="task.reopened", target_type="task", target_id=task.pk, actor=actor)
    return task


# --- tags -------------------------------------------------------------------------------------


MAX_TAGGED_AT_ONCE = 500


def clean_tag(name: str) -> str:
    """Tags are lower case with single spaces, at most 40 characters."""
    cleaned = " ".join(name.strip().lower().split())[:40]
    if not cleaned:
        raise DomainError("Give the tag a name.", code="tag_required", field="tag")
    return cleaned


@transaction.atomic
def shipment_tags_add(*, shipments: Sequence[Shipment], tag: str, actor: User | None) -> int:
    """Tag many shipments (ops' bulk action); already tagged ones stay as they are. Returns
    how many got the tag. The same rows rule filters and the set_tag action read."""
    tag = clean_tag(tag)
    if len(shipments) > MAX_TAGGED_AT_ONCE:
        raise DomainError(f"At most {MAX_TAGGED_AT_ONCE} shipments at once.", code="too_many")
    existing = set(
        ShipmentTag.objects.filter(shipment__in=shipments, tag=tag).values_list(
            "shipment_id", flat=True
        )
    )
    tenant_id = current_tenant_id()  # bulk_create bypasses save(), which would set it
    new = [
        ShipmentTag(shipment=s, tag=tag, tenant_id=tenant_id)
        for s in shipments
        if s.pk not in existing
    ]
    ShipmentTag.objects.bulk_create(new, ignore_conflicts=True)
    for row in new:
        audit_record(
            action="shipment.tagged",
            target_type="shipment",
            target_id=row.shipment_id,
            actor=actor,
            changes={"tag": tag},
        )
    return len(new)


@transaction.atomic
def shipment_tag_remove(*, shipment: Shipment, tag: str, actor: User | None) -> bool:
    deleted, _ = ShipmentTag.objects.filter(shipment=shipment, tag=clean_tag(tag)).delete()
    if deleted:
        audit_record(
            action="shipment.untagged",
            target_type="shipment",
            target_id=shipment.pk,
            actor=actor,
            changes={"tag": tag},
        )
    return bool(deleted)


def shipment_tag_set(*, shipment_id: int, tag: str) -> bool:
    """Tag a shipment; False when it had the tag already."""
    created = ShipmentTag.objects.get_or_create(shipment_id=shipment_id, tag=tag)[1]
    if created:
        audit_record(
            action="shipment.tagged",
            target_type="shipment",
            target_id=shipment_id,
            changes={"tag": tag},
        )
    return created

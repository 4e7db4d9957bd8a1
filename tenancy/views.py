from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from tenancy.heartbeats import HEARTBEAT_STALE_S, worker_heartbeat_ages
from tenancy.middleware import SESSION_TENANT_KEY
from tenancy.models import OFFICE


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    cache.set("readyz", "1", timeout=5)
    return "ok" if cache.get("readyz") == "1" else "unexpected value"


def _check_migrations() -> str:
    executor = MigrationExecutor(connections["default"])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if not pending else f"{len(pending)} migration(s) not applied"


def _check_workers(ages: dict[str, float]) -> str:
    if any(age <= HEARTBEAT_STALE_S for age in ages.values()):
        return "ok"
    if not ages:
        return "error: no Celery worker has sent a heartbeat"
    return f"error: no Celery worker heartbeat for {min(ages.values()):.0f} s"


def _failed(error: Exception) -> str:
    return f"error: {type(error).__name__}: {error}"


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, Redis, migrations, and the Celery workers' heartbeats (tenancy.heartbeats)."""
    checks = {}
    for name, check in (
        ("database", _check_database),
        ("redis", _check_redis),
        ("migrations", _check_migrations),
    ):
        try:
            checks[name] = check()
        except Exception as error:
            checks[name] = _failed(error)
    ages: dict[str, float] = {}
    try:
        ages = worker_heartbeat_ages()
        checks["workers"] = _check_workers(ages)
    except Exception as error:
        checks["workers"] = _failed(error)
    ready = all(value == "ok" for value in checks.values())
    # Seconds since each worker's last heartbeat: a dead or disconnected worker shows here.
    workers = {name: {"heartbeat_age_s": age} for name, age in ages.items()}
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "workers": workers},
        status=200 if ready else 503,
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.tenant is None:
        return render(request, "tenancy/no_tenant.html", status=403)
    # Office roles work in the ops dashboard: "/" (where login lands) sends them there. The
    # address is a setting, so that tenancy knows no URL of the portal layer above it.
    membership = getattr(request, "membership", None)
    office_home = getattr(settings, "OFFICE_HOME_URL", "")
    if office_home and membership is not None and membership.role in OFFICE:
        return redirect(office_home)
    return render(request, "tenancy/home.html")


@require_POST
@login_required
def switch_tenant(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("tenant", "")
    membership = next((m for m in request.memberships if m.tenant.slug == slug), None)
    if membership is None:
        raise Http404("No such tenant")
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)

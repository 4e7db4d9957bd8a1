"""docker-compose.yml and the Dockerfile match the code they deploy.

Docker is not needed: the compose file is read as YAML and checked against the project —
entry points exist, web is WSGI and ws ASGI, every variable set on an app service is one
config/settings.py reads, health checks and start-up order are in place.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SQL = ROOT / "docker" / "postgres" / "init.sql"
SETTINGS_FILE = ROOT / "config" / "settings.py"

REQUIRED_SERVICES = {"postgres", "redis", "web", "ws", "worker", "beat"}
LONG_RUNNING_APP_SERVICES = ("web", "ws", "worker", "worker-interactive", "beat")
APP_SERVICES = (*LONG_RUNNING_APP_SERVICES, "migrate")
WSGI_SERVERS = {"gunicorn", "uwsgi", "waitress-serve"}
ASGI_SERVERS = {"uvicorn", "daphne", "hypercorn"}

# Calls in config/settings.py whose first argument names an environment variable:
#   env("X" / env.str("X" / env.list(\n "X" / _required_in_production("X" /
#   os.environ.get("X" / os.environ.setdefault("X" / os.getenv("X" / os.environ["X"]
#   and the membership test "X" in os.environ.
_NAME = r"""["'](?P<name>[A-Za-z_][A-Za-z0-9_]*)["']"""
ENV_READ_PATTERNS = [
    re.compile(
        r"""\b(?:env(?:\.\w+)?|_required_in_production|os\.getenv
                |os\.environ\.(?:get|setdefault|pop))\s*\(\s*"""
        + _NAME,
        re.VERBOSE,
    ),
    re.compile(r"\bos\.environ\s*\[\s*" + _NAME),
    re.compile(_NAME + r"\s+(?:not\s+)?in\s+os\.environ\b"),
]


def settings_env_vars() -> set[str]:
    source = SETTINGS_FILE.read_text()
    return {m["name"] for pattern in ENV_READ_PATTERNS for m in pattern.finditer(source)}


def required_in_production() -> set[str]:
    source = SETTINGS_FILE.read_text()
    return set(re.findall(r"_required_in_production\(\s*" + _NAME, source))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _argv(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "app service without a command"
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _commands(service: dict) -> list[list[str]]:
    """The command(s) a service runs: `sh -c "a && b"` gives [a, b]."""
    argv = _argv(service)
    if argv[0] in ("sh", "bash", "/bin/sh", "/bin/bash") and argv[1] == "-c":
        return [shlex.split(part) for part in re.split(r"&&|;", argv[2]) if part.strip()]
    return [argv]


def _check_importable(target: str) -> subprocess.CompletedProcess:
    """Import ``module:attr`` in a fresh interpreter (config.asgi rewrites os.environ)."""
    module, _, attr = target.partition(":")
    code = (
        "import importlib, sys\n"
        "module = importlib.import_module(sys.argv[1])\n"
        "assert hasattr(module, sys.argv[2]), f'{sys.argv[1]} has no attribute {sys.argv[2]}'\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, module, attr or "application"],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- services and entry points --------------------------------------------------------------


def test_required_services_exist(services):
    assert set(services) >= REQUIRED_SERVICES, sorted(REQUIRED_SERVICES - set(services))
    assert "migrate" in services
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_web_runs_the_wsgi_application_with_a_wsgi_server(services):
    argv = _argv(services["web"])
    assert argv[0] in WSGI_SERVERS, f"web must run a WSGI server, got {argv[0]}"
    assert find_spec(argv[0].split("-")[0]) is not None, f"{argv[0]} is not installed"
    targets = [part for part in argv if ":" in part and not part[0].isdigit()]
    assert targets == [settings.WSGI_APPLICATION.replace(".application", ":application")]


def test_ws_runs_the_asgi_application_with_an_asgi_server(services):
    argv = _argv(services["ws"])
    assert argv[0] in ASGI_SERVERS, f"ws must run an ASGI server, got {argv[0]}"
    assert find_spec(argv[0]) is not None, f"{argv[0]} is not installed"
    targets = [part for part in argv if ":" in part and not part[0].isdigit()]
    assert targets == [settings.ASGI_APPLICATION.replace(".application", ":application")]


@pytest.mark.parametrize("service", ["web", "ws"])
def test_server_entry_point_is_importable(services, service):
    target = next(part for part in _argv(services[service]) if re.fullmatch(r"[\w.]+:\w+", part))
    result = _check_importable(target)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("service", "subcommand"),
    [("worker", "worker"), ("worker-interactive", "worker"), ("beat", "beat")],
)
def test_celery_services_find_the_celery_app(services, service, subcommand):
    argv = _argv(services[service])
    assert argv[0] == "celery"
    app_name = argv[argv.index("-A") + 1] if "-A" in argv else argv[argv.index("--app") + 1]
    assert subcommand in argv[argv.index(app_name) + 1 :]
    # Celery's own lookup for `-A <name>` (module attribute `app`/`celery`, or <name>.celery).
    code = (
        "import sys, celery\n"
        "from celery.app.utils import find_app\n"
        "app = find_app(sys.argv[1])\n"
        "assert isinstance(app, celery.Celery), app\n"
        "print(app.main)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, app_name],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "milepost"


def test_the_interactive_queue_has_a_worker_of_its_own(services):
    """One shipment's API events and driver scans never wait behind bulk feeds
    (integrations.tasks): a worker consumes only their queue; the other one consumes both."""
    interactive = _argv(services["worker-interactive"])
    assert interactive[interactive.index("-Q") + 1] == settings.CELERY_INTERACTIVE_QUEUE
    assert "-Q" not in _argv(services["worker"])  # every queue of CELERY_TASK_QUEUES
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert queues == {settings.CELERY_INTERACTIVE_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE}


def test_migrate_runs_migrations_as_the_owner_then_collects_static(services):
    commands = _commands(services["migrate"])
    assert (ROOT / "manage.py").is_file()
    known = get_commands()
    for argv in commands:
        assert argv[:2] == ["python", "manage.py"], argv
        assert argv[2] in known, f"unknown management command {argv[2]}"
        assert "--noinput" in argv
    subcommands = [argv[2] for argv in commands]
    assert subcommands == ["migrate", "collectstatic"]
    # RLS policies and the app role's grants are (re)applied by post_migrate only on "owner".
    assert "--database=owner" in commands[0]
    assert services["migrate"].get("restart", "no") == "no"


def test_app_services_start_after_healthy_dependencies_and_a_finished_migrate(services):
    for name in LONG_RUNNING_APP_SERVICES:
        depends = services[name].get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    migrate = services["migrate"]["depends_on"]
    assert migrate["postgres"]["condition"] == "service_healthy"


def test_services_that_exit_are_restarted(services):
    """Production's supervision: a worker or beat that exits (e.g. on a broker outage) comes
    back by itself, like `make run`'s scripts/supervise.sh; the one-shot migrate does not."""
    for name in (*LONG_RUNNING_APP_SERVICES, "postgres", "redis"):
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    assert services["migrate"].get("restart", "no") == "no"


def test_health_checks(services):
    for name in ("postgres", "redis", "web"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check
    assert ":8000/" in web_check
    assert reverse("healthz") == "/healthz"


# --- environment ----------------------------------------------------------------------------


def test_settings_scan_finds_the_variables_it_must():
    found = settings_env_vars()
    assert {
        "DJANGO_ENV",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_CSRF_TRUSTED_ORIGINS",
        "DATABASE_URL",
        "DATABASE_OWNER_URL",
        "DB_CONN_MAX_AGE",
        "REDIS_URL",
    } <= found, sorted(found)
    assert "POSTGRES_PASSWORD" not in found
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= required_in_production()


def test_every_app_service_variable_is_read_by_settings(services):
    read = settings_env_vars()
    for name in APP_SERVICES:
        assert "env_file" not in services[name], f"{name}: env_file contents cannot be checked"
        unknown = sorted(set(_environment(services[name])) - read)
        assert unknown == [], f"{name} sets variables config/settings.py never reads: {unknown}"


def test_app_services_have_what_production_requires(services):
    needed = required_in_production() | {"DJANGO_ALLOWED_HOSTS"}
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env.get("DJANGO_ENV") == "production", name
        assert needed <= set(env), f"{name} lacks {sorted(needed - set(env))}"
        # Secrets come from the environment / .env, never from this file.
        assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]*\}", env["DJANGO_SECRET_KEY"]), name


def test_database_roles(services):
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env["DATABASE_URL"].startswith("postgres://milepost_app:"), name
        assert "${" in env["DATABASE_URL"], f"{name}: database password is hard-coded"
    for name in LONG_RUNNING_APP_SERVICES:
        assert "DATABASE_OWNER_URL" not in _environment(services[name]), (
            f"{name} must not get the owner role"
        )
    owner_url = _environment(services["migrate"])["DATABASE_OWNER_URL"]
    assert owner_url.startswith("postgres://milepost_owner:")
    assert _environment(services["ws"]).get("DB_CONN_MAX_AGE", "0") == "0"


def test_postgres_creates_the_non_owner_app_role(services):
    postgres = services["postgres"]
    assert _environment(postgres)["POSTGRES_USER"] == "milepost_owner"
    mounts = [str(v) for v in postgres.get("volumes", [])]
    assert any(
        m.startswith("./docker/postgres/init.sql:/docker-entrypoint-initdb.d/") for m in mounts
    ), mounts
    sql = " ".join(INIT_SQL.read_text().split())
    role = re.search(r"CREATE ROLE milepost_app\b[^;]*;", sql, re.IGNORECASE)
    assert role, "init.sql does not create milepost_app"
    for attribute in ("LOGIN", "NOSUPERUSER", "NOBYPASSRLS", "PASSWORD"):
        assert attribute in role.group(0).upper(), attribute
    assert re.search(r"GRANT CONNECT\b[^;]* TO milepost_app", sql, re.IGNORECASE)


# --- image ----------------------------------------------------------------------------------


def test_dockerfile_builds_a_non_root_image_with_every_first_party_app(services):
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"^RUN pip install \.", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    copied = {
        Path(source).as_posix().rstrip("/")
        for line in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    }
    first_party = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    first_party = {app for app in first_party if (ROOT / app).is_dir()}
    needed = first_party | {"config", "templates", "static", "manage.py"}
    assert needed <= copied, f"Dockerfile does not copy {sorted(needed - copied)}"
    for name in APP_SERVICES:
        assert services[name].get("build") in (".", {"context": "."}), name

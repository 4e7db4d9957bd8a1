"""Production mode: ``check --deploy`` reports nothing; missing secrets fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "x" * 20 + "a-long-production-secret-key-with-entropy-9f8e7d6c5b4a",
    "DJANGO_ALLOWED_HOSTS": "milepost.example.com",
    "DATABASE_URL": "postgres://milepost_app:pw@db.internal:5432/milepost",
    "DATABASE_OWNER_URL": "postgres://milepost_owner:pw@db.internal:5432/milepost",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def _manage(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(PRODUCTION_ENV | (extra_env or {}))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production_mode():
    result = _manage("check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", extra_env={"DJANGO_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_bad_environment_name_is_a_loud_error():
    result = _manage("check", extra_env={"DJANGO_ENV": "prod"})
    assert result.returncode != 0
    assert "DJANGO_ENV='prod'" in result.stderr


def test_sqlite_is_refused():
    result = _manage("check", extra_env={"DATABASE_URL": "sqlite:///tmp/x.db"})
    assert result.returncode != 0
    assert "Milepost needs PostgreSQL" in result.stderr

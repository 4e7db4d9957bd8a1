#!/usr/bin/env bash
# `make test` (and CI via .ci/run): bootstrap, ensure Chromium, ruff check + format --check,
# mypy against its baseline, the pure tests without services, then the whole
# pytest suite. Extra arguments go to pytest. "No tests collected" (exit 5) is a failure.
# PostgreSQL/Redis started by this run are stopped again at exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'mp_stop_started_here' EXIT
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
# shellcheck source=scripts/chromium.sh
source scripts/chromium.sh
bash scripts/ocr.sh
bash scripts/pdf.sh

mp_log "ruff check . && ruff format --check ."
.venv/bin/ruff check . || mp_die "ruff check failed (run 'make format' to autofix what it can)"
.venv/bin/ruff format --check . || mp_die "ruff format --check failed (run 'make format')"
mp_log "mypy against mypy-baseline.txt"
bash scripts/typecheck.sh >"$MILEPOST_LOCAL/typecheck.log" 2>&1 || {
    cat "$MILEPOST_LOCAL/typecheck.log" >&2
    mp_die "type check failed: new mypy errors, or fixed ones still in mypy-baseline.txt (scripts/typecheck.sh --sync)"
}

export DJANGO_ENV=test
rc=0
if [[ "$#" -eq 0 ]]; then
    # First every test that uses no database, with PostgreSQL and Redis out of reach: the pure
    # tests (engine, parsers, import graph...) must need neither. Then all the others.
    mp_log "pytest -q --services=none (no database, no Redis)"
    DATABASE_URL=postgres://nobody:none@127.0.0.1:9/none DATABASE_OWNER_URL=postgres://nobody:none@127.0.0.1:9/none \
        REDIS_URL=redis://127.0.0.1:9/0 .venv/bin/pytest -q -p no:cacheprovider --services=none || rc=$?
    if [[ "$rc" -eq 0 ]]; then
        mp_log "pytest -q --services=needed"
        .venv/bin/pytest -q -p no:cacheprovider --services=needed || rc=$?
    fi
else
    mp_log "pytest -q $*"
    .venv/bin/pytest -q -p no:cacheprovider "$@" || rc=$?
fi
if [[ "$rc" -eq 5 ]]; then
    mp_die "pytest collected no tests (exit 5): treating as failure"
elif [[ "$rc" -ne 0 ]]; then
    printf 'ERROR: pytest failed (exit %s)\n' "$rc" >&2
    exit "$rc"
fi
mp_log "all tests passed"

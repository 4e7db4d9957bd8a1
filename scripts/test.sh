#!/usr/bin/env bash
# `make test` (and CI via .ci/run): bootstrap, ensure Chromium, ruff check, then the whole
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

mp_log "ruff check ."
.venv/bin/ruff check . || mp_die "ruff check failed (run 'make format' to autofix what it can)"

export DJANGO_ENV=test
mp_log "pytest -q $*"
rc=0
.venv/bin/pytest -q -p no:cacheprovider "$@" || rc=$?
if [[ "$rc" -eq 5 ]]; then
    mp_die "pytest collected no tests (exit 5): treating as failure"
elif [[ "$rc" -ne 0 ]]; then
    printf 'ERROR: pytest failed (exit %s)\n' "$rc" >&2
    exit "$rc"
fi
mp_log "all tests passed"

#!/usr/bin/env bash
# `make run`: bootstrap, migrate, seed demo data, then run web (uvicorn, HTTP + websockets),
# the Celery workers (bulk and interactive) and Celery beat. Output goes to
# .local/logs/<name>.log and, prefixed, to the terminal. A worker or beat that exits (a crash,
# a lost broker it gave up on) is started again by scripts/supervise.sh. Ctrl-C (or the web
# server dying) stops everything, including the project-local PostgreSQL/Redis that this
# script started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHILD_PGIDS=()
CLEANED_UP=0
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    [[ "$CLEANED_UP" == 0 ]] || return 0
    CLEANED_UP=1
    trap '' INT TERM
    if ((${#CHILD_PGIDS[@]})); then
        printf '\n' >&2
        mp_log "stopping web, workers, beat"
        local pg i alive
        for pg in "${CHILD_PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
        for ((i = 0; i < 60; i++)); do
            alive=0
            for pg in "${CHILD_PGIDS[@]}"; do
                if kill -0 -- "-$pg" 2>/dev/null; then alive=1; fi
            done
            [[ "$alive" == 1 ]] || break
            sleep 0.25
        done
        for pg in "${CHILD_PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
        wait 2>/dev/null || true
    fi
    if declare -F mp_stop_started_here >/dev/null; then mp_stop_started_here; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
bash scripts/ocr.sh
bash scripts/pdf.sh

PY=.venv/bin/python
mp_log "migrate --database=owner"
"$PY" manage.py migrate --database=owner --noinput
# The global places (UN/LOCODEs, cities) from the data packages: idempotent, a few seconds
# (the first run on a machine builds the registry's cache, ~15 s).
mp_log "load_places"
"$PY" manage.py load_places
mp_log "seed_demo"
"$PY" manage.py seed_demo
# Cached timelines of shipments seeded by an older version follow the current rules.
mp_log "timelines_refresh"
"$PY" manage.py timelines_refresh

LOGDIR="$MILEPOST_LOCAL/logs"
mkdir -p "$LOGDIR"
export PYTHONUNBUFFERED=1

# start NAME CMD...: run CMD in its own process group (setsid), log to .local/logs/NAME.log
# and to the terminal prefixed with [NAME].
start() {
    local name="$1"
    shift
    local logfile="$LOGDIR/$name.log"
    printf -- '--- %s: %s\n' "$(date -Is)" "$*" >>"$logfile"
    # tee/sed ignore INT/TERM so the process's own shutdown messages are still logged;
    # they exit at EOF once the process is gone.
    # shellcheck disable=SC2016  # expanded by the inner bash
    setsid bash -c 'set -o pipefail; name="$1"; log="$2"; shift 2
        "$@" 2>&1 </dev/null |
            (trap "" INT TERM; exec tee -a "$log") |
            (trap "" INT TERM; exec sed -u "s/^/[$name] /")' \
        _ "$name" "$logfile" "$@" &
    CHILD_PGIDS+=("$!")
}

WEB_PORT="${PORT:-8000}"
start web .venv/bin/uvicorn config.asgi:application --host 127.0.0.1 --port "$WEB_PORT"
# Two workers: "worker" takes both queues (bulk feeds, and interactive messages when it is
# free); "worker-interactive" only the interactive queue (one shipment's API events, driver
# scans), so those never wait behind a backlog of feeds (integrations.tasks, config/settings.py
# CELERY_INTERACTIVE_QUEUE).
# The bulk worker yields the CPU to everything someone is waiting for (pages, API, websockets,
# the interactive worker): niced, and so is its session's scheduling group (scripts/lowprio.sh).
start worker bash scripts/supervise.sh worker bash scripts/lowprio.sh 10 .venv/bin/celery -A config worker -l info --concurrency 2 -n worker@%h
start worker-interactive bash scripts/supervise.sh worker-interactive .venv/bin/celery -A config worker -Q "${CELERY_INTERACTIVE_QUEUE:-interactive}" -l info --concurrency 1 -n interactive@%h
start beat bash scripts/supervise.sh beat .venv/bin/celery -A config beat -l info

cat <<MSG

Milepost is starting (logs: .local/logs/{web,worker,worker-interactive,beat}.log):
  App:       http://localhost:$WEB_PORT/
  Admin:     http://localhost:$WEB_PORT/admin/
  API docs:  http://localhost:$WEB_PORT/api/docs/
Demo logins were printed above by seed_demo. Press Ctrl-C to stop everything.

MSG

# Return when the web server (or a supervisor) exits, or on Ctrl-C; cleanup stops the rest.
rc=0
wait -n || rc=$?
mp_warn "a Milepost process exited (status $rc); shutting down the others"
exit "$rc"

#!/usr/bin/env bash
# supervise.sh NAME CMD...: run CMD and start it again whenever it exits, until this script
# gets INT or TERM (passed on to CMD, whose exit it then waits for). `make run` keeps the
# Celery worker and beat up with it, as compose's restart policy does in production, and the
# outage drill (tests/integrations/test_outages.py) runs its worker under it.
# A command that fails right after starting is restarted after a pause that doubles from 1 s
# to 30 s; one that ran for a minute or more is restarted after 1 s.
set -uo pipefail
[[ "$#" -ge 2 ]] || {
    printf 'usage: %s NAME CMD...\n' "$0" >&2
    exit 2
}
name="$1"
shift

child=0
stopping=0
# shellcheck disable=SC2317  # invoked via trap
stop() {
    stopping=1
    if [[ "$child" != 0 ]]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap stop INT TERM

delay=1
while :; do
    started=$SECONDS
    "$@" &
    child=$!
    # A trapped signal interrupts `wait`; keep waiting until the command has really exited.
    rc=0
    wait "$child" || rc=$?
    while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
    child=0
    [[ "$stopping" == 0 ]] || exit 0
    if ((SECONDS - started >= 60)); then delay=1; fi
    printf '[supervise] %s exited with status %s; restarting in %s s\n' "$name" "$rc" "$delay" >&2
    sleep "$delay" &
    wait $! || true
    [[ "$stopping" == 0 ]] || exit 0
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
done

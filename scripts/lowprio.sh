#!/usr/bin/env bash
# lowprio.sh N CMD...: run CMD at nice N, and its session's scheduling group too. With the
# kernel's autogroup scheduling (Debian's default) each session is scheduled as one unit, so a
# niced process alone in a session of its own (scripts/run.sh starts each service with setsid)
# yields nothing to the others. Best effort: without autogroup the plain nice still applies.
set -uo pipefail
[[ "$#" -ge 2 ]] || {
    printf 'usage: %s N CMD...\n' "$0" >&2
    exit 2
}
niceness="$1"
shift
# Its PostgreSQL backends too, where they run on this host (tenancy/dbpriority.py).
export MILEPOST_DB_NICE="$niceness"
{ echo "$niceness" >/proc/self/autogroup; } 2>/dev/null || true
exec nice -n "$niceness" "$@"

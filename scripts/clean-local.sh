#!/usr/bin/env bash
# `make clean-local`: stop the project-local servers and delete .local (database, logs, env.sh).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_base="$(mp_pg_base)"
mp_stop_postgres
mp_stop_redis
if [[ "$pg_base" != "$MILEPOST_LOCAL"/* ]]; then
    rm -rf "$pg_base"
fi
rm -rf "$MILEPOST_LOCAL"
mp_log "removed .local"

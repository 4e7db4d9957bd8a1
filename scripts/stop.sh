#!/usr/bin/env bash
# `make stop`: stop the project-local PostgreSQL and Redis (never ones given by URL,
# never the machine's own servers).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mp_stop_postgres
mp_stop_redis
mp_log "project-local servers stopped"

#!/usr/bin/env bash
# `make bench`: bootstrap, migrate (as the owner role), run `manage.py bench_all`, print results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'mp_stop_started_here' EXIT
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

mp_log "migrate --database=owner"
.venv/bin/python manage.py migrate --database=owner --noinput
mp_log "bench_all"
.venv/bin/python manage.py bench_all --output bench-results.json "$@"
cat bench-results.json
printf '\n'
mp_log "results written to bench-results.json"

#!/usr/bin/env bash
# Bootstrap Milepost's development environment (idempotent; fast when done):
#   - .venv with `pip install -e '.[dev]'` (re-run only when pyproject.toml changes)
#   - project-local PostgreSQL on 127.0.0.1:${MILEPOST_PG_PORT:-54329} unless DATABASE_URL is set
#   - project-local Redis on 127.0.0.1:${MILEPOST_REDIS_PORT:-63799} unless REDIS_URL is set
#   - exports DATABASE_URL, DATABASE_OWNER_URL, REDIS_URL and writes them to .local/env.sh
# Sourced by the other scripts; run it directly (`make services`) to just start things.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mp_bootstrap

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    cat <<MSG
Milepost services are up. Environment (also in .local/env.sh):
  DATABASE_URL=$DATABASE_URL
  DATABASE_OWNER_URL=$DATABASE_OWNER_URL
  REDIS_URL=$REDIS_URL
Use them in your shell with:  source .local/env.sh
Stop the project-local servers with:  make stop
MSG
fi

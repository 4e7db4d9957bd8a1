#!/usr/bin/env bash
# `make lint`: ruff check + ruff format --check (needs only the venv, no services).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mp_ensure_venv
cd "$MILEPOST_ROOT"
"$MILEPOST_VENV/bin/ruff" check . && "$MILEPOST_VENV/bin/ruff" format --check .

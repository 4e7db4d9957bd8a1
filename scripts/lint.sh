#!/usr/bin/env bash
# `make lint`: ruff check + format --check, the import contracts, mypy against its baseline
# (needs only the venv, no services).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mp_ensure_venv
cd "$MILEPOST_ROOT"
"$MILEPOST_VENV/bin/ruff" check . && "$MILEPOST_VENV/bin/ruff" format --check .
"$MILEPOST_VENV/bin/lint-imports" --no-cache
bash "$MILEPOST_ROOT/scripts/typecheck.sh"

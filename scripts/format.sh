#!/usr/bin/env bash
# `make format`: apply ruff's autofixes and formatting.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mp_ensure_venv
cd "$MILEPOST_ROOT"
"$MILEPOST_VENV/bin/ruff" check --fix . || true
"$MILEPOST_VENV/bin/ruff" format .

#!/usr/bin/env bash
# mypy (django-stubs, djangorestframework-stubs) against mypy-baseline.txt: an error that is
# not in the baseline fails, and so does a baseline entry that is fixed but still listed
# (run `scripts/typecheck.sh --sync` to shrink it). New modules are strict (pyproject.toml).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mp_ensure_venv
cd "$MILEPOST_ROOT"
export DJANGO_ENV="${DJANGO_ENV:-test}"
action=filter
if [[ "${1:-}" == "--sync" ]]; then action=sync; fi
set +o pipefail
"$MILEPOST_VENV/bin/mypy" 2>&1 | "$MILEPOST_VENV/bin/mypy-baseline" "$action" --baseline-path mypy-baseline.txt --no-colors
rc=${PIPESTATUS[1]}
exit "$rc"

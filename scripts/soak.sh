#!/usr/bin/env bash
# `make soak`: the long-running suites: `pytest -m soak` (the 100,000-event crash test), the
# full-size parser fuzz tests (`pytest tests/integrations -k fuzz`), the timeline engine's
# property tests and the schemathesis pass over the API, with large example counts. Extra arguments go to
# both pytest runs. The -m soak run may collect nothing only if the fuzz run collected tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'mp_stop_started_here' EXIT
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
# shellcheck source=scripts/chromium.sh
source scripts/chromium.sh

export DJANGO_ENV=test FUZZ_EXAMPLES=10000 PROPERTY_EXAMPLES=2000 SCHEMA_EXAMPLES=60 SOAK=1

mp_log "pytest -q -m soak $*"
soak_rc=0
.venv/bin/pytest -q -p no:cacheprovider -m soak "$@" || soak_rc=$?

mp_log "pytest -q tests/integrations -k fuzz $*"
fuzz_rc=0
.venv/bin/pytest -q -p no:cacheprovider tests/integrations -k fuzz "$@" || fuzz_rc=$?

mp_log "pytest -q tests/milestones/test_engine_properties.py $*"
property_rc=0
.venv/bin/pytest -q -p no:cacheprovider tests/milestones/test_engine_properties.py "$@" \
    || property_rc=$?

mp_log "pytest -q tests/test_api_schema.py (schemathesis, ${SCHEMA_EXAMPLES} examples) $*"
schema_rc=0
.venv/bin/pytest -q -p no:cacheprovider tests/test_api_schema.py "$@" || schema_rc=$?

fail=0
if [[ "$schema_rc" -ne 0 ]]; then
    printf 'ERROR: the API schema pass failed (pytest exit %s)\n' "$schema_rc" >&2
    fail=1
fi
if [[ "$property_rc" -ne 0 ]]; then
    printf 'ERROR: property tests failed (pytest exit %s)\n' "$property_rc" >&2
    fail=1
fi
if [[ "$soak_rc" -ne 0 && "$soak_rc" -ne 5 ]]; then
    printf 'ERROR: soak tests failed (pytest exit %s)\n' "$soak_rc" >&2
    fail=1
fi
if [[ "$fuzz_rc" -eq 5 ]]; then
    printf 'ERROR: no fuzz tests collected in tests/integrations (-k fuzz): treating as failure\n' >&2
    fail=1
elif [[ "$fuzz_rc" -ne 0 ]]; then
    printf 'ERROR: fuzz tests failed (pytest exit %s)\n' "$fuzz_rc" >&2
    fail=1
fi
if [[ "$fail" -ne 0 ]]; then
    exit 1
fi
if [[ "$soak_rc" -eq 5 ]]; then
    mp_log "no tests marked 'soak' were collected (fuzz tests ran and passed)"
fi
mp_log "soak passed"

#!/usr/bin/env bash
# `make services`: bootstrap only (venv + PostgreSQL + Redis), print the environment.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

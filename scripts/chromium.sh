#!/usr/bin/env bash
# Ensure /usr/bin/chromium exists (Playwright is used with executable_path=/usr/bin/chromium;
# never `playwright install`). Can be sourced or run.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ! -x /usr/bin/chromium ]]; then
    if mp_is_root; then
        mp_apt_install chromium fonts-liberation
    fi
    [[ -x /usr/bin/chromium ]] || mp_die "/usr/bin/chromium not found: install it
  (Debian/Ubuntu: sudo apt-get install chromium fonts-liberation) — browser tests need it."
fi

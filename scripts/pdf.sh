#!/usr/bin/env bash
# Ensure the system libraries WeasyPrint needs (pango, harfbuzz; invoice PDFs, billing/documents.py)
# exist. Installed with apt when missing and root, like scripts/ocr.sh; without them invoice
# PDFs fail (the rest of billing works). Can be sourced or run.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0"; then
    if mp_is_root; then
        mp_apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation
    fi
    ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || mp_warn "pango not found: invoice
  PDFs cannot be rendered (Debian/Ubuntu: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0)."
fi

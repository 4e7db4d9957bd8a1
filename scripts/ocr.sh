#!/usr/bin/env bash
# Ensure the tesseract OCR engine exists (documents that are images, or PDFs without a text
# layer, are read with it through pytesseract). Installed with apt when missing and root, like
# scripts/chromium.sh; without it such documents are dead-lettered ("no OCR engine available").
# Can be sourced or run.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v tesseract >/dev/null 2>&1; then
    if mp_is_root; then
        mp_apt_install tesseract-ocr tesseract-ocr-eng
    fi
    command -v tesseract >/dev/null 2>&1 || mp_warn "tesseract not found: image documents
  cannot be read (Debian/Ubuntu: sudo apt-get install tesseract-ocr tesseract-ocr-eng)."
fi

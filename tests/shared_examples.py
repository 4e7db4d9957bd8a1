"""The public example files of the standards, in ../shared beside the repository.

A plain clone has no ../shared: tests that read the examples skip with a reason there, except
under CI=true, where a missing folder is a failure (CI must run them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT.parent / "shared" / "standards" / "examples"
MISSING_REASON = f"the shared example files are not beside the repository ({EXAMPLES})"


def available() -> bool:
    return EXAMPLES.is_dir()


def require() -> Path:
    """The examples folder; skips the test (fails it under CI=true) when it is absent."""
    if available():
        return EXAMPLES
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {MISSING_REASON}")
    pytest.skip(MISSING_REASON)


def example_files(pattern: str = "**/*") -> list[Path]:
    """Example files for parametrizing (empty without ../shared: see ``needs_examples``)."""
    if not available():
        return []
    return sorted(p for p in EXAMPLES.glob(pattern) if p.is_file() and p.name != "SOURCES.md")


def example_bytes(relative: str) -> bytes:
    return (require() / relative).read_bytes()

"""The public example files of the standards, in ../shared beside the repository.

A plain clone has no ../shared: tests that read the examples skip with a reason there, except
under CI=true, where a missing folder is a failure (CI must run them). Every test that reads
them goes through this module (``require``, ``example_bytes``, ``example_path``,
``example_params``); tests that only need some data use the project's own fixtures.
``MILEPOST_SHARED_EXAMPLES=/nonexistent`` runs the suite as a clone without ../shared would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(
    os.environ.get("MILEPOST_SHARED_EXAMPLES")
    or REPO_ROOT.parent / "shared" / "standards" / "examples"
)
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
    return example_path(relative).read_bytes()


def example_path(relative: str) -> Path:
    return require() / relative


MISSING = "<shared examples missing>"


def example_params(pattern: str = "**/*") -> list:
    """Example files (relative paths) for ``parametrize`` or ``sampled_from``; without
    ../shared one placeholder, whose ``example_path``/``example_bytes`` skips the test (fails
    it under CI=true) instead of the test silently running on nothing."""
    return [str(p.relative_to(EXAMPLES)) for p in example_files(pattern)] or [MISSING]

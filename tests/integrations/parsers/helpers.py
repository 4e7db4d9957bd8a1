"""Shared paths and helpers for the parser tests."""

from pathlib import Path

from tests.shared_examples import (
    MISSING,
    REPO_ROOT,
    example_bytes,
    example_params,
    example_path,
    require,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

__all__ = [
    "FIXTURES",
    "MISSING",
    "REPO_ROOT",
    "contracts",
    "example_bytes",
    "example_params",
    "example_path",
    "fixture_bytes",
    "require",
]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def contracts(result) -> list[dict]:
    return [event.to_contract() for event in result.events]

"""Shared paths and helpers for the parser tests."""

from pathlib import Path

from tests.shared_examples import EXAMPLES, REPO_ROOT, example_bytes

FIXTURES = Path(__file__).resolve().parent / "fixtures"

__all__ = ["EXAMPLES", "FIXTURES", "REPO_ROOT", "contracts", "example_bytes", "fixture_bytes"]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def contracts(result) -> list[dict]:
    return [event.to_contract() for event in result.events]

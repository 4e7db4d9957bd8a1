"""Shared paths and helpers for the parser tests."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = REPO_ROOT / ".." / "shared" / "standards" / "examples"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def example_bytes(relative: str) -> bytes:
    return (EXAMPLES / relative).read_bytes()


def contracts(result) -> list[dict]:
    return [event.to_contract() for event in result.events]

"""parse_message FILE [--format ...]: print normalized events as JSON; no database access."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from integrations.formats import STANDALONE, parse
from integrations.parsers.base import ParseError


def format_error(error: ParseError) -> str:
    return f"error: {error.reason} | position: {error.position or '-'} | unit: {error.unit or '-'}"


def run(path: str, fmt: str = "auto") -> tuple[str, str, int]:
    """(stdout_text, stderr_text, exit_code) for parsing the file at path."""
    file_path = Path(path)
    if not file_path.is_file():
        return "", f"error: file not found: {path}\n", 1
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        return "", f"error: cannot read {path}: {exc.strerror}\n", 1
    try:
        result = parse(data, fmt)
    except ParseError as error:
        return "", format_error(error) + "\n", 1
    # A local time whose place only a tenant place could give a zone: no database here.
    unplaced = [ParseError(u.reason, u.position, u.unit) for u in result.unplaced]
    if result.errors or unplaced:
        lines = [format_error(error) for error in [*result.errors, *unplaced]]
        return "", "\n".join(lines) + "\n", 1
    events = [event.to_contract() for event in result.events]
    return json.dumps(events, indent=2, ensure_ascii=False) + "\n", "", 0


class Command(BaseCommand):
    help = "Parse an X12 214 / EDIFACT IFTSTA / DCSA / EPCIS file and print normalized events."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="message file to parse")
        parser.add_argument("--format", default="auto", choices=["auto", *STANDALONE])

    def handle(self, *args, **options) -> None:
        stdout_text, stderr_text, exit_code = run(options["file"], options["format"])
        if stdout_text:
            self.stdout.write(stdout_text, ending="")
        if stderr_text:
            self.stderr.write(stderr_text, ending="")
        if exit_code:
            self.stderr.flush()
            sys.exit(exit_code)

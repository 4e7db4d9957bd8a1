import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.formats import FORMATS, map_code, parse
from integrations.management.commands.parse_message import run
from integrations.parsers import ParseError, ParseResult
from integrations.parsers.base import CONTRACT_KEYS

from .helpers import (
    FIXTURES,
    MISSING,
    REPO_ROOT,
    example_bytes,
    example_params,
    example_path,
    fixture_bytes,
)

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EDI_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.edi"))
# Without ../shared a single placeholder: example_bytes() then skips (fails under CI=true).
JSON_EXAMPLES = example_params("*/*.json*")
SEPARATOR_BYTES = [b"*", b"~", b"|", b"^", b"+", b":", b"'", b"?", b"\n", b"\r\n", b"", b"\xff"]


def _parse_or_parse_error(data: bytes, fmt: str = "auto") -> None:
    try:
        result = parse(data, fmt)
    except ParseError as error:
        assert isinstance(error.reason, str) and error.reason
        return
    assert isinstance(result, ParseResult)
    for event in result.events:
        contract = event.to_contract()
        assert tuple(contract) == CONTRACT_KEYS
        json.dumps(contract)
    for error in result.errors:
        assert isinstance(error, ParseError)


# --- mappings ---------------------------------------------------------------------------


def test_default_mappings_and_overrides():
    with_tables = {name for name, fmt in FORMATS.items() if fmt.default_mapping}
    assert with_tables == {"x12", "edifact", "dcsa", "epcis"}
    assert map_code("x12", "D1") == "delivered"
    assert map_code("x12", "QQ") == "other"
    assert map_code("x12", "QQ", overrides={"QQ": "exception"}) == "exception"
    assert map_code("edifact", "24", overrides={"24": "picked_up"}) == "picked_up"
    assert map_code("dcsa", "GTIN", context={"empty_indicator": "EMPTY"}) == "other"
    assert map_code("dcsa", "GATED_IN", context={"empty_indicator": "LADEN"}) == "picked_up"
    assert map_code("dcsa", "DEPA", context={"classifier": "EST"}) == "estimated"
    assert map_code("dcsa", "CONF", context={"document_type": "TRD"}) == "other"
    assert map_code("epcis", "shipping", context={"disposition": "stolen"}) == "exception"
    assert map_code("epcis", "void_shipping") == "exception"


# --- CLI --------------------------------------------------------------------------------


def test_run_function_outputs_contract_json():
    stdout, stderr, code = run(str(FIXTURES / "edifact_iftsta_no_una.edi"), "auto")
    assert (stderr, code) == ("", 0)
    events = json.loads(stdout)
    assert [tuple(e) for e in events] == [CONTRACT_KEYS] * 2


def test_run_function_errors(tmp_path):
    assert run(str(tmp_path / "missing.edi"), "auto")[2] == 1
    bad = tmp_path / "bad.edi"
    # Two DST errors, and an MS1 with only a ZIP code that no data places.
    bad.write_bytes(fixture_bytes("x12_214_multi.edi"))
    stdout, stderr, code = run(str(bad), "auto")
    assert (stdout, code) == ("", 1)
    assert stderr.count("\n") == 3
    assert "error: time zone of 98101, US unknown | position: segment 42 (AT7)" in stderr
    assert "position: segment 37 (AT7), element 6" in stderr
    assert "unit: ISA 000000101 / GS 2 / ST 0001" in stderr


def _manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", "parse_message", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def manage_ready():
    if not (REPO_ROOT / "manage.py").exists():
        pytest.skip("manage.py not available yet")


def test_cli_success(manage_ready):
    completed = _manage(str(FIXTURES / "x12_214_caret_oneline.edi"))
    assert completed.returncode == 0, completed.stderr
    events = json.loads(completed.stdout)
    assert len(events) == 1
    assert set(events[0]) == set(CONTRACT_KEYS)
    assert events[0]["occurred_at"] == "2026-07-04T10:15:00+03:00"


def test_cli_format_option_and_retraction_only(manage_ready):
    path = example_path("dcsa/tnt-v3.0.0-beta1-retracted-event.json")
    completed = _manage(str(path), "--format", "dcsa")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_cli_rejected_units_exit_1(manage_ready):
    path = example_path("dcsa/tnt-v2.2-invalid-date-times.json")
    completed = _manage(str(path))
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "$[4].eventDateTime" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 6


def test_cli_malformed_and_missing_file(manage_ready, tmp_path):
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"hello world")
    completed = _manage(str(garbage))
    assert (completed.returncode, completed.stdout) == (1, "")
    assert "unknown format" in completed.stderr
    completed = _manage(str(tmp_path / "nope.json"))
    assert (completed.returncode, completed.stdout) == (1, "")
    assert "file not found" in completed.stderr


# --- fuzzing ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["auto", "x12", "edifact", "dcsa", "epcis"]))
def test_fuzz_random_bytes(data, fmt):
    _parse_or_parse_error(data, fmt)


def _mutate(data: bytes, rng: random.Random, operations: int) -> bytes:
    buffer = bytearray(data)
    for _ in range(operations):
        if not buffer:
            break
        choice = rng.randrange(5)
        index = rng.randrange(len(buffer))
        if choice == 0:
            del buffer[index:]
        elif choice == 1:
            buffer[index] = rng.randrange(256)
        elif choice == 2:
            buffer[index:index] = rng.choice(SEPARATOR_BYTES)
        elif choice == 3:
            del buffer[index : index + rng.randrange(1, 20)]
        else:
            end = min(len(buffer), index + rng.randrange(1, 40))
            buffer[index:index] = buffer[index:end]
    return bytes(buffer)


@FUZZ
@given(st.sampled_from(EDI_FIXTURES), st.randoms(use_true_random=False), st.integers(1, 6))
def test_fuzz_edi_mutations(name, rng, operations):
    _parse_or_parse_error(_mutate(fixture_bytes(name), rng, operations))


@FUZZ
@given(st.sampled_from(JSON_EXAMPLES), st.randoms(use_true_random=False), st.integers(1, 6))
def test_fuzz_json_byte_mutations(name, rng, operations):
    _parse_or_parse_error(_mutate(example_bytes(name), rng, operations))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _replace(node, path, value):
    if not path:
        return value
    head, *rest = path
    node[head] = _replace(node[head], rest, value)
    return node


@FUZZ
@given(st.sampled_from(JSON_EXAMPLES), st.data())
def test_fuzz_json_structure_mutations(name, data):
    document = json.loads(example_bytes(name))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(document))
        path = data.draw(st.sampled_from(paths))
        document = _replace(document, list(path), data.draw(JSON_VALUES))
    _parse_or_parse_error(json.dumps(document).encode())


def test_every_shared_example_is_parsed_or_rejected_with_reason():
    for relative in JSON_EXAMPLES:
        result = parse(example_bytes(relative))
        assert result.events or result.retracted_ids, relative
        for error in result.errors:
            assert error.reason and error.position.startswith("$"), relative


def test_example_directory_is_resolvable():
    example_path(".")
    assert MISSING not in JSON_EXAMPLES
    assert len(JSON_EXAMPLES) == 16

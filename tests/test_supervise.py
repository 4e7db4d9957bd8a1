"""scripts/supervise.sh keeps a process up (as `make run` does for the worker and beat) and
stops it, and itself, on TERM. The outage drill (tests/integrations/test_outages.py) relies
on it to restart a real Celery worker."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUPERVISE = ROOT / "scripts" / "supervise.sh"


def _start(tmp_path: Path, program: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["bash", str(SUPERVISE), "probe", sys.executable, "-c", program, str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_command_that_exits_is_started_again_with_a_growing_pause(tmp_path):
    # Each run records its start and fails at once.
    program = (
        "import sys, time, pathlib\n"
        "p = pathlib.Path(sys.argv[1]) / 'starts'\n"
        "p.open('a').write(f'{time.monotonic()}\\n')\n"
        "sys.exit(3)\n"
    )
    supervisor = _start(tmp_path, program)
    starts = tmp_path / "starts"
    try:
        assert _wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 3)
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=10)
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.9 < gaps[0] < 1.8, gaps  # 1 s, then 2 s
    assert 1.9 < gaps[1] < 2.8, gaps
    assert "[supervise] probe exited with status 3; restarting in 1 s" in stderr
    assert "restarting in 2 s" in stderr
    assert supervisor.returncode == 0


def test_term_reaches_the_command_and_ends_the_supervisor_without_a_restart(tmp_path):
    program = (
        "import signal, sys, time, pathlib\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "(d / 'started').open('a').write('x')\n"
        "def bye(*_):\n"
        "    (d / 'terminated').write_text('yes')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n"
    )
    supervisor = _start(tmp_path, program)
    assert _wait_for(lambda: (tmp_path / "started").exists())
    time.sleep(0.2)  # the child has installed its handler
    supervisor.send_signal(signal.SIGTERM)  # the supervisor alone: it passes TERM on
    assert supervisor.wait(timeout=10) == 0
    assert (tmp_path / "terminated").read_text() == "yes"
    assert (tmp_path / "started").read_text() == "x"  # never restarted


def test_make_run_supervises_the_worker_and_beat():
    run = (ROOT / "scripts" / "run.sh").read_text()
    for name in ("worker", "beat"):
        pattern = (
            rf"^start {name} bash scripts/supervise\.sh {name} (bash scripts/lowprio\.sh \d+ )?"
            rf"\S*celery -A config {name}\b"
        )
        assert re.search(pattern, run, re.MULTILINE), f"make run does not supervise {name}"
    # The bulk worker yields the CPU: niced, and its session's autogroup too.
    assert re.search(r"^start worker \S+ \S+ worker bash scripts/lowprio\.sh 10 ", run, re.M)
    assert re.search(r"^start web \S*uvicorn ", run, re.MULTILINE)
    # The interactive queue's own worker (integrations.tasks), supervised the same way.
    interactive = (
        r"^start worker-interactive bash scripts/supervise\.sh worker-interactive "
        r"\S*celery -A config worker -Q \S*interactive"
    )
    assert re.search(interactive, run, re.MULTILINE), "make run has no interactive worker"


def test_lowprio_nices_the_command_and_its_sessions_group(tmp_path):
    """Run in a session of its own (as make run starts services): the command's niceness and,
    where the kernel schedules by autogroup, its session's group are lowered."""
    out = tmp_path / "out"
    script = (
        f"cat /proc/self/autogroup > {out}.group 2>/dev/null; ps -o ni= -p $$ > {out};"
        f" echo $MILEPOST_DB_NICE > {out}.db"
    )
    done = subprocess.run(
        ["setsid", "bash", str(ROOT / "scripts" / "lowprio.sh"), "7", "bash", "-c", script],
        timeout=20,
        check=False,
    )
    assert done.returncode == 0
    assert out.read_text().strip() == "7"
    # ... and asks for its database backends to be niced alike (tenancy/dbpriority.py).
    assert (tmp_path / "out.db").read_text().strip() == "7"
    group = tmp_path / "out.group"
    if group.exists() and group.read_text():
        assert group.read_text().strip().endswith("nice 7")

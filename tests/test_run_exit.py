"""A sim ``repro run`` ends its process without freeing the run object by object: its output is complete and
flushed, the exit handlers run, the exit code is the command's; called in-process, nothing of that happens."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from repro_lib import cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_process_ends_with_its_output_written_and_its_exit_handlers_run(tmp_path: Path) -> None:
    out, mark, fast = tmp_path / "run.json", tmp_path / "atexit-ran", tmp_path / "os-exit"
    code = ("import atexit, os, posix, sys; from pathlib import Path\n"
            f"atexit.register(lambda: Path({str(mark)!r}).write_text('ran'))\n"
            f"os._exit = lambda rc: (Path({str(fast)!r}).write_text(str(rc)), posix._exit(rc))\n"
            "sys.argv = ['repro', 'run', 'scenarios/core-395.yaml', '--json', " + repr(str(out)) + "]\n"
            "from repro_lib.cli import main\n"
            "sys.exit(main())\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip().endswith("matches expect")  # the summary, flushed into the pipe
    assert json.loads(out.read_text())["verdict"] == "reproduced"
    assert mark.read_text() == "ran"
    assert fast.read_text() == "0"  # it ended through os._exit, after the exit handlers


def test_a_run_that_does_not_match_keeps_its_exit_code(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "repro_lib.cli", "run", "scenarios/core-395.yaml", "--set",
                        "fix=pending-timeout", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert p.stdout.strip() == "VERDICT: inconclusive"


def test_in_process_the_collector_is_back_and_nothing_is_kept(tmp_path: Path, root: Path) -> None:
    assert gc.isenabled()
    assert cli.main(["run", "scenarios/core-395.yaml", "--json", str(tmp_path / "a.json"), "--quiet"]) == 0
    assert gc.isenabled() and not cli._LEFT_FOR_EXIT and not cli._COLLECTOR_PAUSED
    assert json.loads((tmp_path / "a.json").read_text())["verdict"] == "reproduced"

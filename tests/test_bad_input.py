"""Bad input to `repro inspect` / `repro run`: one line on stderr, exit 2, no traceback, nothing lost
(issue 9 §6). Each case runs the real console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data" / "reference-run"
ORCH = REF / "logs" / "orchestrator.log"


def repro(*args: str, cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repro_lib.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, stdin=stdin, timeout=timeout, check=False)


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("repro: "), p.stderr[-2000:]
    assert "Traceback" not in p.stderr + p.stdout
    for w in words:
        assert w in lines[0], lines[0]


def test_a_directory_among_log_files(tmp_path: Path) -> None:
    one_line_error(repro("inspect", str(ORCH), str(tmp_path)), "is a directory")


def test_a_garbage_date() -> None:
    one_line_error(repro("inspect", str(ORCH), "--date", "garbage"), "--date", "garbage")


def test_events_into_a_directory(tmp_path: Path) -> None:
    one_line_error(repro("inspect", str(ORCH), "--events", str(tmp_path)), "--events", "directory")


def test_events_into_a_missing_folder_creates_it(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "events.csv"
    p = repro("inspect", str(ORCH), "--events", str(out))
    assert p.returncode == 0 and out.is_file() and out.stat().st_size > 1000


def test_png_with_a_text_suffix(tmp_path: Path) -> None:
    one_line_error(repro("inspect", str(ORCH), "--png", str(tmp_path / "x.txt")), "--png", ".txt")
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere: an unwritable folder needs a normal user")
def test_png_into_an_unwritable_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    one_line_error(repro("inspect", str(ORCH), "--png", str(ro / "t.png")), "--png")


def test_png_where_no_file_can_be_created() -> None:
    one_line_error(repro("inspect", str(ORCH), "--png", "/proc/repro-test.png"), "/proc/repro-test.png")


def test_run_checks_its_outputs_before_it_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    one_line_error(repro("run", "scenarios/core-395.yaml", "--out", str(out), "--png", str(tmp_path / "t.txt")),
                   "--png")
    assert not out.exists()  # nothing half-written


def test_a_fifo_is_refused_not_read_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "edge1.log"
    os.mkfifo(fifo)
    one_line_error(repro("inspect", str(fifo), timeout=30), "FIFO")


def test_a_fifo_inside_a_log_folder_is_refused(tmp_path: Path) -> None:
    shutil.copy(ORCH, tmp_path / "orchestrator.log")
    os.mkfifo(tmp_path / "edge1.log")
    one_line_error(repro("inspect", str(tmp_path), timeout=30), "FIFO")


def test_a_subdirectory_named_like_a_log_inside_a_folder_is_skipped(tmp_path: Path) -> None:
    shutil.copy(ORCH, tmp_path / "orchestrator.log")
    (tmp_path / "old.log").mkdir()
    p = repro("inspect", str(tmp_path))
    assert p.returncode == 0 and "Traceback" not in p.stderr and "orchestrator" in p.stdout


def test_a_subdirectory_inside_a_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(REF, run)
    (run / "logs" / "extra.log").mkdir()
    (run / "cli" ).mkdir(exist_ok=True)
    p = repro("inspect", str(run))
    assert p.returncode == 0 and "VERDICT: reproduced" in p.stdout and "Traceback" not in p.stderr


def test_a_proc_file_reads_as_text_without_a_traceback() -> None:
    p = repro("inspect", "/proc/self/status")
    assert p.returncode == 0 and "Traceback" not in p.stderr and "read:" in p.stdout


def test_a_closed_stdout_ends_quietly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", "inspect", str(REF)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_an_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file: an unreadable file needs a normal user")
    f = tmp_path / "orchestrator.log"
    f.write_text("x\n")
    f.chmod(0)
    one_line_error(repro("inspect", str(f)), "cannot read")

"""Exit codes and one-line errors at the edges (issue 29 item 7): Ctrl-C while ``repro`` still imports,
``search --set`` honoured or refused, and a write that fails for lack of room naming its path."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = str(ROOT / "scenarios" / "core-395.yaml")


def _errors(err: str) -> list[str]:
    """stderr without ``-X importtime``'s lines."""
    return [x for x in err.splitlines() if x.strip() and not x.startswith("import time:")]


def test_ctrl_c_while_importing_is_one_line(tmp_path: Path) -> None:
    """SIGINT once numpy is imported and before the command runs (``-X importtime`` says where the imports
    are): one line, exit 2, no traceback."""
    err_path = tmp_path / "err.txt"
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "repro_lib.cli", "run", CORE, "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err_path.open("w"), stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            if re.search(r"\|\s+numpy$", err_path.read_text(), re.M):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "repro ended before numpy was imported"
        assert not re.search(r"\|\s+repro_lib\.cli$", err_path.read_text(), re.M), "the imports were over"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = _errors(err_path.read_text())
    assert rc == 2, (rc, lines[-20:])
    assert len(lines) == 1 and lines[0].startswith("repro: interrupted (Ctrl-C)"), lines[-20:]


def test_a_library_user_keeps_pythons_keyboardinterrupt() -> None:
    """The one-line hook is the CLI's only: a script importing repro_lib still sees a KeyboardInterrupt."""
    r = subprocess.run([sys.executable, "-c", "import repro_lib, sys; raise KeyboardInterrupt"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" in r.stderr and "KeyboardInterrupt" in r.stderr and "repro: interrupted" not in r.stderr


def _repro(*args: str, cwd: Path = ROOT, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def shrink() -> None:  # a file-size limit: writes past it fail like writes on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # type: ignore[arg-type]

    return subprocess.run([sys.executable, "-m", "repro_lib.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False, stdin=subprocess.DEVNULL, preexec_fn=shrink if limit else None)


@pytest.mark.parametrize(("setting", "says"), [
    ("fix=block", "a search takes fix from --fix"),
    ("edges=5", "a search takes edges from --edges"),
    ("params.settle=60s", "a search reaches only timings"),
])
def test_search_set_is_refused_unless_it_is_a_timing(setting: str, says: str, tmp_path: Path) -> None:
    r = _repro("search", CORE, "--runs", "5", "--set", setting, "--out", str(tmp_path / "found"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
    assert not (tmp_path / "found").exists()


def test_search_set_timings_is_honoured(tmp_path: Path) -> None:
    """``--set timings.X`` reaches the counterexample files (the search ran with it)."""
    out = tmp_path / "found"
    r = _repro("search", CORE, "--fix", "redispatch-on-join", "--runs", "200", "--seed", "1", "--quiet",
               "--set", "timings.reeval_batch_delay=7s", "--out", str(out))
    assert r.returncode == 1, r.stderr
    files = sorted(out.glob("*.yaml"))
    assert files and all("reeval_batch_delay: 7s" in f.read_text() for f in files)


def test_a_full_disk_names_the_path(tmp_path: Path) -> None:
    """A write that fails part-way (here past a file-size limit: EFBIG; ENOSPC takes the same path) is one
    line naming the destination and the file in it; no temporary sibling is left."""
    out = tmp_path / "out" / "run"
    r = _repro("run", CORE, "--set", "edges=50", "--out", str(out), "--quiet", limit=64 << 10)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert f"cannot write run folder {out}" in lines[0] and "File too large" in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists() and [p.name for p in out.parent.iterdir()] == []


def test_a_full_disk_on_json_names_the_path(tmp_path: Path) -> None:
    big = tmp_path / "r.json"
    r = _repro("run", CORE, "--set", "edges=200", "--json", str(big), "--quiet", limit=4 << 10)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert f"cannot write --json {big}" in r.stderr
    assert sorted(os.listdir(tmp_path)) == []

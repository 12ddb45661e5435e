"""``repro inspect`` stopped while its blocks are parsed on threads: one line, exit 2, nothing written, prompt back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_LOG = ROOT / "data" / "reference-run" / "logs" / "orchestrator.log"


def _threads(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"^Threads:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~80 MB of the seed's format (over the 64 MiB at which inspect reads condensed, by blocks on threads)."""
    path = tmp_path_factory.mktemp("big") / "orchestrator.log"
    text = SEED_LOG.read_text()
    with path.open("w") as fh:
        while fh.tell() < 80 << 20:
            fh.write(text)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to watch the process's threads")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: signal.Signals(s).name)
def test_inspect_interrupted_while_reading_blocks(big_log: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "events.csv"
    proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", "inspect", str(big_log), "--events", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # under way: past its imports and into the reading (threads of the block pool and Arrow's beside it)
        while not (_threads(proc.pid) >= 3 and _cpu(proc.pid) > 1.5):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "inspect never got under way"
            time.sleep(0.05)
        proc.send_signal(sig)
        t0 = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if "VERDICT" in stdout:
        pytest.skip("the reading finished before the signal landed (a fast machine): nothing to interrupt")
    assert proc.returncode == 2, (proc.returncode, stderr[-2000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("repro:") and "interrupt" in lines[0], lines
    assert took < 15, f"{took:.1f} s from the signal to the prompt"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [], list(tmp_path.iterdir())

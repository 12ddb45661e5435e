"""The CLI's promises, fuzzed: ``repro run | inspect | search | report`` with drawn arguments and drawn
*kinds* of input and destination files, each call a real subprocess.

For every invocation (README "The CLI"; repro_lib/cli.py):

1. no Python traceback on stdout or stderr, ever;
2. bad input -> exit 2, stderr exactly one line starting with ``repro: ``, and the process ends within
   its timeout (no hang on a FIFO, a device, a huge ``--runs``);
3. valid input -> exit 0 or 1 (run: 1 = differs from the scenario's expect; search: 1 = found one);
4. nothing outside the named destinations is created, changed or deleted — a snapshot of the sandbox
   (relative path -> kind, size, sha256, mode) before and after each call; after exit 2, nothing at all;
5. nothing half-written: no temporary leftovers (hidden ``.NAME.*`` siblings, ``*.tmp``, ``kernel-*.json``
   in the Jupyter runtime dir, files left in TMPDIR, processes left running), and each destination is
   absent/unchanged or complete (JSON parses, the events CSV parses with pandas, a run folder holds a
   ``manifest.json`` that parses, …).

The output policy the oracle follows: a destination *file* that exists is overwritten only if the kit
wrote it (its own ``--json``, events CSV, figure); a destination *folder* may be missing, empty, or a
folder the kit wrote that holds nothing else. Everything else is bad input. What the kit deliberately
reads (an empty or CR-only *log*, ``/proc/self/status`` — see tests/test_bad_input.py) is valid input to
``inspect``; a binary *log* (a photo, a gzip file: repro_lib.inspect.check_text) and an empty or binary
*scenario* or *notebook* are bad input; a CR-only scenario is valid YAML (CR is a YAML line break). A
scenario with a wrong type at any path of the schema, or a ``--set`` of the wrong kind, is bad input too
(tests/schemafuzz.py draws them from the schema itself).

Every call is ``python -m repro_lib.cli`` in a subprocess: stdin closed, its own process group, a
timeout, a private TMPDIR and JUPYTER_RUNTIME_DIR, the sandbox as its working folder. Hypothesis draws
the plans (derandomized, no shrinking: a call is ~1.5 s, so the first falsifying plan is reported with
the exact command); the parametrized regression cases at the end name the known bugs one by one (they
run two at a time to keep the file within its time budget).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schemafuzz import PATHS, SET_KEYS, SET_VALUES, WRONG, put  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "core-395.yaml"
REF = ROOT / "data" / "reference-run"
REF_LOGS = tuple(p.name for p in sorted((REF / "logs").glob("*.log")))
REAL = tuple(p.name for p in sorted((ROOT / "tests" / "fixtures" / "real").iterdir()) if p.suffix in (".log", ".txt"))

CALL_TIMEOUT = 60.0      # a valid run/inspect/search here takes a few seconds
REPORT_TIMEOUT = 180.0   # papermill starts a kernel
HANG_TIMEOUT = 25.0      # a FIFO or a device must be refused, not waited on
QUICK = 20.0             # "answers at once": refused before any work (startup alone is ~1.5 s)
PARALLEL = max(2, min(4, os.cpu_count() or 2))

TRACEBACK = "Traceback (most recent call last)"
LEFTOVER = re.compile(r"(\.tmp$|repro-tmp|repro-old|\.capture-|\.partial$)")

SMALL_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "params", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["N = 2"]},
        {"cell_type": "code", "execution_count": None, "id": "work", "metadata": {}, "outputs": [],
         "source": ["print(N * 21)"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}

# a 1x1 PNG someone else made (no kit mark in it)
USER_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
FOREIGN = {
    ".json": b'{"my": "settings", "not": "the kit\'s"}\n',
    ".csv": b"t,value\n1,2\n",
    ".png": USER_PNG,
    ".svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
    ".pdf": b"%PDF-1.4\n% the user's own\n%%EOF\n",
}
BINARY = bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100


# ---------------------------------------------------------------------------------------------
# running the CLI
# ---------------------------------------------------------------------------------------------

@dataclass
class Call:
    argv: list[str]
    cwd: Path
    rc: int | None          # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float
    timeout: float
    left_running: list[str] = field(default_factory=list)

    def command(self) -> str:
        return f"repro {shlex.join(self.argv)}"

    def summary(self) -> str:
        rc = f"killed after {self.timeout:.0f}s (no exit)" if self.rc is None else f"exit {self.rc}"
        lines = self.stderr.strip().splitlines()
        first = lines[0] if lines else "(stderr empty)"
        out = f"{self.command()}\n    {rc} in {self.seconds:.1f}s; stderr[0]: {first[:300]}"
        tb = traceback_last_line(self.stdout + "\n" + self.stderr)
        if tb:
            out += f"\n    traceback ends: {tb[:300]}"
        return out


def traceback_last_line(text: str) -> str | None:
    """The exception line that ends the first traceback in ``text``."""
    if TRACEBACK not in text:
        return None
    rest = text.split(TRACEBACK, 1)[1].splitlines()
    for line in rest[1:]:
        if line and not line.startswith((" ", "\t")):
            return line.strip()
    return rest[-1].strip() if rest else TRACEBACK


#: compiled bytecode of every call goes here, not into the source tree: a call then starts in ~1.1 s of
#: CPU instead of ~1.6 s (with PYTHONDONTWRITEBYTECODE each call would compile repro_lib again)
PYCACHE = Path(tempfile.mkdtemp(prefix="repro-fuzz-pycache-"))
atexit.register(shutil.rmtree, PYCACHE, True)


def base_env(runtime: Path | None = None, tmp: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if runtime is not None:
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_members(pgid: int) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{d.name} {cmd[:120]}")
            except (OSError, IndexError, ValueError):
                continue
    return found


def repro(argv: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = CALL_TIMEOUT,
          stdout_path: str | None = None) -> Call:
    """``python -m repro_lib.cli ARGV`` in its own process group; on a timeout the whole group is killed
    (it is ours: the CLI and whatever it started). Processes of the group still alive after the CLI
    exited (a pool worker, a kernel) are recorded, then killed."""
    t0 = time.monotonic()
    out_f = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115
    try:
        proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", *argv], cwd=cwd, env=env or base_env(),
                                stdin=subprocess.DEVNULL, stdout=out_f or subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            rc = None
    finally:
        if out_f is not None:
            out_f.close()
    seconds = time.monotonic() - t0
    left: list[str] = []
    deadline = time.monotonic() + 3
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(proc.pid):
        left = _group_members(proc.pid) or ["(a process of its group)"]
        os.killpg(proc.pid, signal.SIGKILL)
    return Call(argv, cwd, rc, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"),
                seconds, timeout, left)


# ---------------------------------------------------------------------------------------------
# the sandbox: a snapshot before and after
# ---------------------------------------------------------------------------------------------

Entry = tuple[str, object, str, int]


def snapshot(root: Path) -> dict[str, Entry]:
    """relative path -> (kind, size or link target, sha256, mode) for everything under ``root``; FIFOs
    and links are never opened."""
    found: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            try:
                s = os.lstat(p)
            except FileNotFoundError:
                continue
            mode = stat.S_IMODE(s.st_mode)
            if stat.S_ISLNK(s.st_mode):
                found[rel] = ("symlink", os.readlink(p), "", 0)
            elif stat.S_ISDIR(s.st_mode):
                found[rel] = ("dir", 0, "", mode)
            elif stat.S_ISREG(s.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                found[rel] = ("file", s.st_size, h.hexdigest(), mode)
            elif stat.S_ISFIFO(s.st_mode):
                found[rel] = ("fifo", 0, "", mode)
            else:
                found[rel] = ("other", 0, "", mode)
    return found


def _show(e: Entry | None) -> str:
    if e is None:
        return "absent"
    kind, size, digest, mode = e
    if kind == "file":
        return f"file {size} B sha {digest[:10]} mode {mode:o}"
    if kind == "symlink":
        return f"symlink -> {size}"
    return f"{kind} mode {mode:o}"


# completeness of what the kit wrote -----------------------------------------------------------

def complete_json(p: Path) -> str | None:
    doc = json.loads(p.read_text())
    return None if isinstance(doc, dict) else f"{p.name} holds JSON that is not an object"


def complete_run_json(p: Path) -> str | None:
    doc = json.loads(p.read_text())
    return None if isinstance(doc, dict) and "verdict" in doc else f"{p.name} has no verdict"


def complete_csv(p: Path) -> str | None:
    import pandas as pd

    df = pd.read_csv(p)
    return None if {"t", "source", "kind"} <= set(df.columns) else f"{p.name} columns {list(df.columns)[:6]}"


def complete_figure(p: Path) -> str | None:
    data = p.read_bytes()
    suffix = p.suffix.lower()
    if suffix == ".png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
    elif suffix == ".svg":
        import xml.etree.ElementTree as ET

        ok = ET.fromstring(data).tag.endswith("svg")
    elif suffix == ".pdf":
        ok = data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    else:
        ok = len(data) > 0
    return None if ok else f"{p.name} is not a complete {suffix} ({len(data)} B)"


def complete_run_folder(p: Path) -> str | None:
    if not p.is_dir():
        return f"{p.name} is not a folder"
    manifest = json.loads((p / "manifest.json").read_text())
    snaps = json.loads((p / "snapshots.json").read_text())
    if not isinstance(manifest, dict) or not isinstance(snaps, list) or not snaps:
        return f"{p.name}: manifest.json/snapshots.json incomplete"
    return None if (p / "events.jsonl").is_file() else f"{p.name} has no events.jsonl"


def complete_search_folder(p: Path) -> str | None:
    import yaml

    if not p.is_dir():
        return f"{p.name} is not a folder"
    for f in sorted(p.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        if not (isinstance(doc, dict) and isinstance(doc.get("steps"), list)):
            return f"{f.name} is not a complete scenario"
    return None


def complete_report_folder(stem: str) -> Callable[[Path], str | None]:
    def check(p: Path) -> str | None:
        nb = json.loads((p / f"{stem}.ipynb").read_text())
        if not isinstance(nb.get("cells"), list):
            return f"{stem}.ipynb has no cells list"
        html = (p / f"{stem}.html").read_text(errors="replace").rstrip()
        return None if html.endswith("</html>") else f"{stem}.html is cut short ({len(html)} chars)"
    return check


@dataclass
class Dest:
    option: str
    arg: str
    kind: str
    path: Path | None                      # inside the sandbox, else None (/dev/…, /proc/…)
    valid: bool
    folder: bool
    check: Callable[[Path], str | None] | None
    required: bool = True                  # a valid call must leave it there


@dataclass(frozen=True)
class Kit:
    """Files and folders the kit itself wrote (with today's code), copied into sandboxes as "the kit's own"."""

    json: Path
    csv: Path
    figures: dict[str, Path]
    run_folder: Path
    search_folder: Path
    report_folder: Path

    def file_for(self, suffix: str) -> Path:
        return {".json": self.json, ".csv": self.csv, **self.figures}[suffix]

    def folder_for(self, command: str) -> Path:
        return {"run": self.run_folder, "search": self.search_folder, "report": self.report_folder}[command]


FILE_OK = ("missing", "missing-deeper", "kit")
FILE_BAD = ("foreign", "empty", "dir-empty", "dir-full", "link-missing", "link-kit", "link-foreign", "fifo",
            "dev-null", "dev-full", "proc", "proc-existing", "read-only", "under-file")
DIR_OK = ("missing", "missing-deeper", "empty", "kit")
DIR_BAD = ("kit-plus-foreign", "foreign", "dot", "file-foreign", "file-kit", "link-empty", "link-kit", "fifo",
           "dev-null", "proc", "read-only", "under-file")
SCENARIO_OK = ("valid", "valid-link", "valid-crlf", "valid-cr")
SCENARIO_BAD = ("missing", "dir", "empty", "binary", "garbage-yaml", "yaml-list", "unknown-step", "fifo",
                "dev-null", "dev-full", "proc-status", "link-missing", "wrong-type", "alias-bomb", "self-alias", "deep",
                "many-edges")
LOG_FILE_OK = tuple(f"ref:{n}" for n in REF_LOGS) + tuple(f"real:{n}" for n in REAL) + (
    "empty-log", "cr-log", "proc-status", "link-log")
# a run folder whose snapshots.json is [] is read (the final state is what its events show, and the
# inspection says so): the evidence is its events, not its snapshots
LOG_DIR_OK = ("kit-run", "ref-run", "log-folder", "snapshots-empty")
LOG_BAD = ("missing", "empty-dir", "fifo", "fifo-in-folder", "dev-null", "dev-full", "binary-log", "gzip-log",
           "damaged-run", "link-missing", "link-fifo")
LOG_DIRS = LOG_DIR_OK + ("empty-dir", "fifo-in-folder", "snapshots-empty", "damaged-run")
NOTEBOOK_OK = ("valid", "valid-link")
NOTEBOOK_BAD = ("cells-dict", "cells-str", "json-list", "garbage", "empty", "binary", "missing", "dir", "fifo",
                "dev-null")


class Sandbox:
    """One call's world: ``tree/work`` is its working folder, holding the inputs, the user's precious
    files and the destinations; ``tree`` is what is snapshotted. The Jupyter runtime folder and TMPDIR
    sit beside ``tree`` and are checked apart. ``bad`` collects why the call is bad input."""

    def __init__(self, base: Path, kit: Kit) -> None:
        self.top = Path(tempfile.mkdtemp(prefix="sandbox-", dir=base))
        self.root = self.top / "tree"
        self.cwd = self.root / "work"
        self.runtime = self.top / "jupyter-runtime"
        self.tmp = self.top / "tmp"
        self.kit = kit
        self.bad: list[str] = []
        self.dests: list[Dest] = []
        self._frozen: list[Path] = []
        self._n = 0
        for d in (self.cwd / "scenarios", self.cwd / "in", self.runtime, self.tmp):
            d.mkdir(parents=True)
        shutil.copy(SCENARIO, self.cwd / "scenarios")
        shutil.copytree(ROOT / "pipelines", self.cwd / "pipelines")
        # the user's own files, which no call may touch
        (self.cwd / "notes.txt").write_text("the user's notes, not the kit's\n")
        (self.cwd / "precious" / "photos").mkdir(parents=True)
        (self.cwd / "precious" / "diary.txt").write_text("dear diary\n")
        (self.cwd / "precious" / "diary.txt").chmod(0o600)
        (self.cwd / "precious" / "photos" / "cat.bin").write_bytes(BINARY)
        (self.cwd / "precious" / "notes-link").symlink_to("../notes.txt")
        (self.root / "elsewhere").mkdir()
        (self.root / "elsewhere" / "budget.csv").write_text("month,amount\n1,2\n")

    # -- context ------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        for d in self._frozen:
            subprocess.run(["chattr", "-i", str(d)], capture_output=True, check=False)
        for dirpath, dirnames, _files in os.walk(self.top):
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        if kind is None:
            shutil.rmtree(self.top, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------
    def _unique(self, stem: str) -> str:
        self._n += 1
        return f"{stem}-{self._n}"

    def arg(self, path: Path, absolute: bool) -> str:
        return str(path) if absolute else os.path.relpath(path, self.cwd)

    def read_only_dir(self) -> Path:
        """A folder no file can be created in: mode 0555 and, where chattr works, immutable (which
        stops root too)."""
        d = self.cwd / self._unique("read-only")
        d.mkdir()
        (d / "kept.txt").write_text("kept\n")
        d.chmod(0o555)
        if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(d)], capture_output=True,
                                                     check=False).returncode == 0:
            self._frozen.append(d)
        return d

    @staticmethod
    def writable(d: Path) -> bool:
        """Can this process (the CLI runs as the same user) create a file in ``d``?"""
        try:
            fd, name = tempfile.mkstemp(dir=d)
        except OSError:
            return False
        os.close(fd)
        os.unlink(name)
        return True

    def fifo(self, path: Path) -> Path:
        os.mkfifo(path)
        return path

    # -- inputs -------------------------------------------------------------------------------
    def scenario(self, kind: str, absolute: bool = False) -> str:
        d = self.cwd / "in"
        p = d / self._unique("scenario")
        p = p.with_suffix(".yaml")
        text = SCENARIO.read_text()
        if kind == "valid":
            p = self.cwd / "scenarios" / SCENARIO.name
        elif kind == "valid-link":
            p.symlink_to(os.path.relpath(self.cwd / "scenarios" / SCENARIO.name, d))
        elif kind == "valid-crlf":
            p.write_bytes(text.replace("\n", "\r\n").encode())
        elif kind == "valid-cr":
            p.write_bytes(text.replace("\n", "\r").encode())
        elif kind == "missing":
            pass
        elif kind == "dir":
            p.mkdir()
        elif kind == "empty":
            p.touch()
        elif kind == "binary":
            p.write_bytes(BINARY)
        elif kind == "garbage-yaml":
            p.write_text("name: [core\n  steps: {{{\n::\n")
        elif kind == "yaml-list":
            p.write_text("- up: {}\n- snapshot: {}\n")
        elif kind == "unknown-step":
            p.write_text("name: x\nsteps:\n  - frobnicate: {}\n")
        elif kind == "wrong-type":
            p.write_text("name: x\nsteps:\n  - up: 5\n")
        elif kind == "alias-bomb":  # 10^10 values once expanded, in 424 bytes
            lines, prev = ["name: x", "labels:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"], "a"
            for name in "bcdefghij":
                lines.append(f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
                prev = name
            p.write_text("\n".join(lines) + "\nsteps:\n  - up: {}\n")
        elif kind == "self-alias":
            p.write_text("name: x\nlabels: &x [*x]\nsteps:\n  - up: {}\n")
        elif kind == "deep":
            p.write_text("name: x\nlabels: " + "[" * 900 + "]" * 900 + "\nsteps:\n  - up: {}\n")
        elif kind == "many-edges":
            p.write_text("name: x\nedges:\n" + "".join(f"  - edge{i}\n" for i in range(10_001))
                         + "steps:\n  - up: {}\n")
        elif kind == "fifo":
            self.fifo(p)
        elif kind == "link-missing":
            p.symlink_to("nowhere.yaml")
        elif kind in ("dev-null", "dev-full", "proc-status"):
            path = {"dev-null": "/dev/null", "dev-full": "/dev/full", "proc-status": "/proc/self/status"}[kind]
            self.bad.append(f"the scenario {path} is not a scenario file")
            return path
        else:  # pragma: no cover
            raise AssertionError(kind)
        if kind not in SCENARIO_OK:
            self.bad.append(f"the scenario is {kind}")
        return self.arg(p, absolute)

    def log(self, kind: str, absolute: bool = False) -> str:
        d = self.cwd / "in" / self._unique("logs")
        d.mkdir()
        if kind.startswith("ref:"):
            p = d / kind[4:]
            shutil.copy(REF / "logs" / kind[4:], p)
        elif kind.startswith("real:"):
            p = d / kind[5:]
            shutil.copy(ROOT / "tests" / "fixtures" / "real" / kind[5:], p)
        elif kind == "empty-log":
            p = d / "edge9.log"
            p.touch()
        elif kind == "binary-log":
            p = d / "dump.log"
            p.write_bytes(BINARY)
        elif kind == "gzip-log":
            import gzip

            p = d / "orchestrator.log.gz"
            p.write_bytes(gzip.compress((REF / "logs" / "orchestrator.log").read_bytes()))
        elif kind == "cr-log":
            p = d / "orchestrator.log"
            p.write_bytes((REF / "logs" / "orchestrator.log").read_bytes().replace(b"\n", b"\r"))
        elif kind == "proc-status":
            return "/proc/self/status"
        elif kind == "link-log":
            target = d / "saved.txt"
            shutil.copy(REF / "logs" / "orchestrator.log", target)
            p = d / "orchestrator.log"
            p.symlink_to(target.name)
        elif kind == "kit-run":
            p = d / "run"
            shutil.copytree(self.kit.run_folder, p, symlinks=True)
        elif kind == "ref-run":
            p = d / "run"
            shutil.copytree(REF, p, symlinks=True)
        elif kind == "log-folder":
            p = d / "logs"
            p.mkdir()
            for n in ("orchestrator.log", "edge1.log"):
                shutil.copy(REF / "logs" / n, p / n)
        elif kind == "missing":
            p = d / "gone.log"
        elif kind == "empty-dir":
            p = d / "nothing"
            p.mkdir()
        elif kind == "fifo":
            p = self.fifo(d / "edge1.log")
        elif kind == "fifo-in-folder":
            p = d / "logs"
            p.mkdir()
            shutil.copy(REF / "logs" / "orchestrator.log", p / "orchestrator.log")
            self.fifo(p / "edge1.log")
        elif kind in ("dev-null", "dev-full"):
            self.bad.append(f"the log /dev/{kind[4:]} is a device")
            return f"/dev/{kind[4:]}"
        elif kind in ("snapshots-empty", "damaged-run"):
            p = d / "run"
            shutil.copytree(REF, p, symlinks=True)
            if kind == "snapshots-empty":
                (p / "snapshots.json").write_text("[]\n")
            else:
                (p / "manifest.json").write_text('{"timings": {"preset": ')
        elif kind == "link-missing":
            p = d / "edge2.log"
            p.symlink_to("gone.log")
        elif kind == "link-fifo":
            self.fifo(d / "pipe")
            p = d / "edge2.log"
            p.symlink_to("pipe")
        else:  # pragma: no cover
            raise AssertionError(kind)
        if kind in LOG_BAD:
            self.bad.append(f"the log input is {kind}")
        return self.arg(p, absolute)

    def notebook(self, kind: str, absolute: bool = False) -> tuple[str, str]:
        """(argument, stem)"""
        d = self.cwd / "in"
        p = d / f"{self._unique('nb')}.ipynb"
        small = json.dumps(SMALL_NOTEBOOK, indent=1)
        if kind == "valid":
            p = d / "small.ipynb"
            p.write_text(small)
        elif kind == "valid-link":
            (d / "small-target.ipynb").write_text(small)
            p = d / "linked.ipynb"
            p.symlink_to("small-target.ipynb")
        elif kind == "cells-dict":
            p.write_text(json.dumps({**SMALL_NOTEBOOK, "cells": {}}))
        elif kind == "cells-str":
            p.write_text(json.dumps({**SMALL_NOTEBOOK, "cells": "print(1)"}))
        elif kind == "json-list":
            p.write_text("[]\n")
        elif kind == "garbage":
            p.write_text('{"cells": [ {"cell_type": ')
        elif kind == "empty":
            p.touch()
        elif kind == "binary":
            p.write_bytes(BINARY)
        elif kind == "missing":
            pass
        elif kind == "dir":
            p.mkdir()
        elif kind == "fifo":
            self.fifo(p)
        elif kind == "dev-null":
            self.bad.append("the notebook /dev/null is a device")
            return "/dev/null", "null"
        else:  # pragma: no cover
            raise AssertionError(kind)
        if kind in NOTEBOOK_BAD:
            self.bad.append(f"the notebook is {kind}")
        return self.arg(p, absolute), p.stem

    # -- destinations -------------------------------------------------------------------------
    def file_dest(self, option: str, kind: str, suffix: str, check: Callable[[Path], str | None],
                  absolute: bool = False) -> str:
        slug = option.strip("-")
        name = f"{slug}-dest{suffix}"
        path: Path | None = self.cwd / name
        assert path is not None
        valid = kind in FILE_OK
        arg = None
        if kind == "missing":
            pass
        elif kind == "missing-deeper":
            path = self.cwd / f"new-{slug}" / "deeper" / name
        elif kind == "kit":
            shutil.copy2(self.kit.file_for(suffix), path)
            # the kit's record beside it, as if it had written it here (content alone never makes a file the kit's)
            from repro_lib import output
            rec = output._record_for_update(self.cwd, "test")
            rec["files"][name] = output._digest(path)  # type: ignore[index]
            output._write_record(self.cwd, rec)
        elif kind == "foreign":
            path.write_bytes(FOREIGN.get(suffix, b"the user's file\n"))
        elif kind == "empty":
            path.touch()
        elif kind == "dir-empty":
            path.mkdir()
        elif kind == "dir-full":
            path.mkdir()
            (path / "mine.txt").write_text("mine\n")
        elif kind == "link-missing":
            path.symlink_to(f"nowhere{suffix}")
        elif kind in ("link-kit", "link-foreign"):
            target = self.cwd / f"{slug}-target{suffix}"
            if kind == "link-kit":
                shutil.copy2(self.kit.file_for(suffix), target)
            else:
                target.write_bytes(FOREIGN.get(suffix, b"the user's file\n"))
            path.symlink_to(target.name)
        elif kind == "fifo":
            self.fifo(path)
        elif kind in ("dev-null", "dev-full", "proc", "proc-existing"):
            arg = {"dev-null": "/dev/null", "dev-full": "/dev/full", "proc": f"/proc/repro-fuzz{suffix}",
                   "proc-existing": "/proc/version"}[kind]
            path = None
        elif kind == "read-only":
            ro = self.read_only_dir()
            path = ro / name
            valid = self.writable(ro)
        elif kind == "under-file":
            path = self.cwd / "notes.txt" / name
        elif kind == "wrong-suffix":
            path = self.cwd / f"{slug}-dest.txt"
            valid = False
        else:  # pragma: no cover
            raise AssertionError(kind)
        arg = arg or self.arg(path, absolute)  # type: ignore[arg-type]
        if not valid:
            self.bad.append(f"{option} {arg} is {kind}")
        self.dests.append(Dest(option, arg, kind, path, valid, False, check))
        return arg

    def dir_dest(self, option: str, kind: str, command: str, check: Callable[[Path], str | None],
                 absolute: bool = False, required: bool = True) -> str:
        name = f"{command}-out"
        path: Path | None = self.cwd / name
        assert path is not None
        valid = kind in DIR_OK
        arg = None
        if kind == "missing":
            pass
        elif kind == "missing-deeper":
            path = self.cwd / "new-out" / "deeper" / name
        elif kind == "empty":
            path.mkdir()
        elif kind in ("kit", "kit-plus-foreign"):
            shutil.copytree(self.kit.folder_for(command), path, symlinks=True)
            if kind == "kit-plus-foreign":
                (path / "my-notes.txt").write_text("the user's notes, put in the kit's folder\n")
        elif kind == "foreign":
            (path / "data").mkdir(parents=True)
            (path / "thesis.tex").write_text("\\documentclass{article}\n")
            (path / "data" / "raw.csv").write_text("a,b\n1,2\n")
        elif kind == "dot":
            path = self.cwd
            arg = str(self.cwd) if absolute else "."
        elif kind == "file-foreign":
            path.write_text("the user's file\n")
        elif kind == "file-kit":
            shutil.copy2(self.kit.json, path)
        elif kind in ("link-empty", "link-kit"):
            target = self.cwd / f"{name}-target"
            if kind == "link-kit":
                shutil.copytree(self.kit.folder_for(command), target, symlinks=True)
            else:
                target.mkdir()
            path.symlink_to(target.name)
        elif kind == "fifo":
            self.fifo(path)
        elif kind in ("dev-null", "proc"):
            arg = "/dev/null" if kind == "dev-null" else "/proc/repro-fuzz-out"
            path = None
        elif kind == "read-only":
            ro = self.read_only_dir()
            path = ro / name
            valid = self.writable(ro)
        elif kind == "under-file":
            path = self.cwd / "notes.txt" / name
        else:  # pragma: no cover
            raise AssertionError(kind)
        arg = arg or self.arg(path, absolute)  # type: ignore[arg-type]
        if not valid:
            self.bad.append(f"{option} {arg} is {kind}")
        self.dests.append(Dest(option, arg, kind, path, valid, True, check, required))
        return arg

    # -- the call and its judgement -----------------------------------------------------------
    def call(self, argv: list[str], *, timeout: float = CALL_TIMEOUT, words: tuple[str, ...] = (),
             quick: float | None = None, stdout_path: str | None = None, expect: str | None = None) -> list[str]:
        """Run ``repro ARGV`` here and return every broken promise (empty: all kept)."""
        expect = expect or ("error" if self.bad else "ok")
        before = snapshot(self.root)
        runtime_before = set(os.listdir(self.runtime))
        c = repro(argv, self.cwd, env=base_env(self.runtime, self.tmp), timeout=timeout, stdout_path=stdout_path)
        after = snapshot(self.root)
        problems = judge(c, expect, before, after, self, words=words, quick=quick)
        new_kernels = sorted(n for n in set(os.listdir(self.runtime)) - runtime_before if n.startswith("kernel-"))
        if new_kernels:
            problems.append(f"kernel connection files left in the runtime dir: {new_kernels}")
        left_tmp = sorted(os.listdir(self.tmp))
        if left_tmp:
            problems.append(f"left in TMPDIR: {left_tmp[:5]}")
        self.last = c
        if problems:
            why = f" (bad input: {'; '.join(self.bad)})" if self.bad else ""
            self.report = (f"{c.summary()}\n  expected: "
                           f"{'exit 2 with one repro: line' if expect == 'error' else 'exit 0 or 1'}{why}\n"
                           f"  cwd: {self.cwd}\n  broken promises:\n" + "\n".join(f"    - {p}" for p in problems)
                           + f"\n  stderr (end):\n{_indent(c.stderr[-1500:])}")
        return problems


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.rstrip().splitlines()) or "      (empty)"


def judge(c: Call, expect: str, before: dict[str, Entry], after: dict[str, Entry], sb: Sandbox, *,
          words: tuple[str, ...] = (), quick: float | None = None) -> list[str]:
    problems: list[str] = []
    # 1. no traceback
    tb = traceback_last_line(c.stdout + "\n" + c.stderr)
    if tb:
        problems.append(f"a Python traceback: {tb}")
    # 2./3. exit code, the one line, no hang
    lines = c.stderr.strip().splitlines()
    if c.rc is None:
        problems.append(f"no exit within {c.timeout:.0f}s: killed (a hang)")
    elif expect == "error" and c.rc != 2:
        problems.append(f"exit {c.rc} on bad input, expected 2")
    elif expect == "ok" and c.rc not in (0, 1):
        problems.append(f"exit {c.rc} on valid input, expected 0 or 1")
    if c.rc == 2 or (expect == "error" and c.rc is not None):
        if not (len(lines) == 1 and lines[0].startswith("repro: ")):
            problems.append(f"stderr is not exactly one 'repro: ' line ({len(lines)} lines; first: "
                            f"{(lines[0] if lines else '')[:200]!r})")
        elif words and c.rc == 2:
            missing = [w for w in words if w not in lines[0]]
            if missing:
                problems.append(f"the error line does not name {missing}: {lines[0][:200]!r}")
    if quick is not None and c.seconds > quick:
        problems.append(f"took {c.seconds:.1f}s: should be refused at once (< {quick:.0f}s)")
    if c.left_running:
        problems.append(f"left processes running after it exited: {c.left_running[:3]}")
    # 4. only the destinations may differ, and only after a successful call
    success = expect == "ok" and c.rc in (0, 1)
    dests = [d for d in sb.dests if d.valid and d.path is not None] if success else []
    rel_dests = [os.path.relpath(d.path, sb.root) for d in dests if d.path is not None]

    def allowed(p: str) -> bool:
        if any(p == d or p.startswith(d + os.sep) for d in rel_dests):
            return True
        # the kit's record of a file it wrote (`--json F`, `--events F`, …) lives beside that file: .repro-written
        if os.path.basename(p) == ".repro-written" and any(os.path.dirname(d) == os.path.dirname(p)
                                                           for d in rel_dests):
            return True
        return p not in before and after.get(p, ("",))[0] == "dir" and any(d.startswith(p + os.sep)
                                                                           for d in rel_dests)

    dest_names = [Path(d.path).name for d in sb.dests if d.path is not None]
    reported: dict[str, int] = {}  # a folder created or removed as a whole: its entries are counted, not listed
    for p in sorted(set(before) | set(after)):
        b, a = before.get(p), after.get(p)
        if (b is None) != (a is None) and (top := next((r for r in reported if p.startswith(r + os.sep)), None)):
            reported[top] += 1
            continue
        name = os.path.basename(p)
        new = b is None and a is not None
        is_leftover = new and (LEFTOVER.search(name) is not None
                               or any(name.startswith(f".{n}.") for n in dest_names))
        if is_leftover:
            problems.append(f"temporary leftover: {p} ({_show(a)})")
        elif b != a and not allowed(p):
            what = "created" if b is None else "removed" if a is None else "changed"
            problems.append(f"{what} outside the destinations: {p} ({_show(b)} -> {_show(a)})")
        else:
            continue
        if (a or b or ("",))[0] == "dir" and (b is None or a is None):
            reported[p] = 0
    for i, msg in enumerate(problems):
        for top, n in reported.items():
            if n and msg.endswith(f": {top} ({_show(before.get(top))} -> {_show(after.get(top))})"):
                problems[i] = f"{msg} with {n} entries inside"
    # 5. every destination complete
    for d in dests:
        assert d.path is not None
        if not os.path.lexists(d.path):
            if d.required:
                problems.append(f"{d.option} {d.arg}: not written, yet exit {c.rc}")
            continue
        if d.check is not None:
            try:
                msg = d.check(d.path)
            except Exception as e:  # noqa: BLE001 - any parse error means half-written
                msg = f"{type(e).__name__}: {str(e)[:160]}"
            if msg:
                problems.append(f"{d.option} {d.arg} is incomplete: {msg}")
    return problems


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    """The kit's own outputs, written by the kit (today's code): what "a file the kit wrote" is."""
    d = tmp_path_factory.mktemp("kit-made")
    (d / "scenarios").mkdir()
    shutil.copy(SCENARIO, d / "scenarios")
    shutil.copytree(ROOT / "pipelines", d / "pipelines")
    (d / "small.ipynb").write_text(json.dumps(SMALL_NOTEBOOK, indent=1))
    orch = str(REF / "logs" / "orchestrator.log")
    # compile once into PYCACHE what every command imports, before the parallel calls below
    modules = ["repro_lib.cli", "repro_lib.scenario", "repro_lib.inspect", "repro_lib.search", "repro_lib.report",
               "repro_lib.analysis.plots", "papermill", "nbconvert", "nbclient", "ipykernel.kernelapp"]
    warm = f"import importlib, contextlib\nfor m in {modules!r}:\n    with contextlib.suppress(Exception):\n" \
           "        importlib.import_module(m)\n"
    subprocess.run([sys.executable, "-c", warm], cwd=d, env=base_env(), stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=600, check=False)
    calls = [
        ["report", "small.ipynb", "--out", "report-folder"],
        ["run", "scenarios/core-395.yaml", "--quiet", "--json", "result.json", "--out", "run-folder",
         "--png", "figure.png"],
        ["inspect", orch, "--events", "events.csv", "--png", "figure.svg"],
        ["inspect", str(REF / "logs" / "edge1.log"), "--png", "figure.pdf"],
        ["search", "--runs", "6", "--seed", "1", "--quiet", "--out", "search-folder"],
    ]
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = list(pool.map(lambda a: repro(a, d, timeout=REPORT_TIMEOUT), calls))
    for c in done:
        if c.rc not in (0, 1):
            raise RuntimeError(f"the kit could not write its own outputs:\n{c.summary()}\n{c.stderr[-2000:]}")
    k = Kit(json=d / "result.json", csv=d / "events.csv",
            figures={".png": d / "figure.png", ".svg": d / "figure.svg", ".pdf": d / "figure.pdf"},
            run_folder=d / "run-folder", search_folder=d / "search-folder", report_folder=d / "report-folder")
    for p in (k.json, k.csv, *k.figures.values(), k.run_folder, k.search_folder, k.report_folder):
        assert p.exists(), f"the kit did not write {p}"
    return k


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandboxes")


@dataclass
class Outcome:
    problems: list[str]
    report: str
    skipped: str | None = None


def _execute(spec_builder: Callable[[Sandbox], dict[str, Any]], base: Path, kit: Kit) -> Outcome:
    sb = Sandbox(base, kit)
    failed = True
    try:
        spec = spec_builder(sb)
        if spec.get("skip"):
            failed = False
            return Outcome([], "", spec["skip"])
        argv = spec.pop("argv")
        problems = sb.call(argv, **spec)
        failed = bool(problems)
        return Outcome(problems, getattr(sb, "report", ""))
    finally:
        sb.__exit__(RuntimeError if failed else None)


# ---------------------------------------------------------------------------------------------
# Hypothesis: plans
# ---------------------------------------------------------------------------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate),
                suppress_health_check=list(HealthCheck), print_blob=False)


def _modes(draw: Callable[[Any], Any], dims: list[str],
           modes: tuple[str, ...] = ("valid", "valid", "one-bad", "any")) -> dict[str, str]:
    """By default half the plans valid throughout, a quarter with exactly one bad dimension (the usual
    mistake, and a clear culprit), a quarter anything."""
    mode = draw(st.sampled_from(modes))
    culprit = draw(st.sampled_from(dims)) if mode == "one-bad" else None
    return {d: "any" if mode == "any" else "bad" if d == culprit else "valid" for d in dims}


def _kind(draw: Callable[[Any], Any], want: str, ok: tuple[Any, ...], bad: tuple[Any, ...],
          optional: bool = False) -> Any:
    pool = ok if want == "valid" else bad if want == "bad" else ok + bad
    if optional and want != "bad":
        return draw(st.one_of(st.none(), st.sampled_from(pool)))
    return draw(st.sampled_from(pool))


RUN_SETS_OK = ("params.settle=5s", "params.downtime=10s", "fix=block", "fix=redispatch-on-join",
               "fix=edge-reconcile", "fix=pending-timeout", "timings.preset=fast", "edges=3")
RUN_SETS_BAD = ("bogus=1", "params.settle=banana", "fix=nonsense", "timings.heartbeat_interval=-5s", "params.settle",
                "=5s", "edges=0", "edges=1000000", "timings.preset=nonsense", "params.nope=3s",
                "timings.disconnect_timeout=0s", "params.settle=99999999999999h")


def _sets(draw: Callable[[Any], Any], want: str, ok: tuple[str, ...], bad: tuple[str, ...]) -> tuple[str, ...]:
    good = draw(st.lists(st.sampled_from(ok), max_size=2))
    if want == "valid":
        return tuple(good)
    if want == "bad":
        return (*good, draw(st.sampled_from(bad)))
    return tuple(draw(st.lists(st.sampled_from(ok + bad), max_size=2)))


@dataclass(frozen=True)
class RunPlan:
    scenario: str
    sets: tuple[str, ...]
    seed: int
    quiet: bool
    log_format: str
    json: str | None
    png: str | None
    png_suffix: str
    out: str | None
    absolute: bool


@st.composite
def run_plans(draw: Callable[[Any], Any]) -> RunPlan:
    m = _modes(draw, ["scenario", "sets", "json", "png", "out"])
    return RunPlan(
        scenario=_kind(draw, m["scenario"], SCENARIO_OK, SCENARIO_BAD),
        sets=_sets(draw, m["sets"], RUN_SETS_OK, RUN_SETS_BAD),
        seed=draw(st.integers(0, 3)),
        quiet=draw(st.booleans()),
        log_format=draw(st.sampled_from(["text", "json", "console"])),
        json=_kind(draw, m["json"], FILE_OK, FILE_BAD, optional=True),
        png=_kind(draw, m["png"], FILE_OK, (*FILE_BAD, "wrong-suffix"), optional=True),
        png_suffix=draw(st.sampled_from([".png", ".svg", ".pdf"])),
        out=_kind(draw, m["out"], DIR_OK, DIR_BAD, optional=True),
        absolute=draw(st.booleans()),
    )


@dataclass(frozen=True)
class InspectPlan:
    paths: tuple[str, ...]
    date: str | None
    all: bool
    events: str | None
    png: str | None
    png_suffix: str
    absolute: bool


@st.composite
def inspect_plans(draw: Callable[[Any], Any]) -> InspectPlan:
    m = _modes(draw, ["paths", "date", "events", "png"])
    if m["paths"] == "valid":
        paths = ((draw(st.sampled_from(LOG_DIR_OK)),) if draw(st.booleans())
                 else tuple(draw(st.lists(st.sampled_from(LOG_FILE_OK), min_size=1, max_size=3))))
    elif m["paths"] == "bad":
        one = draw(st.sampled_from(LOG_BAD + ("dir-among-files",)))
        if one == "dir-among-files":
            paths = (draw(st.sampled_from(LOG_FILE_OK)), draw(st.sampled_from(LOG_DIR_OK)))
        else:
            paths = (*draw(st.lists(st.sampled_from(LOG_FILE_OK), max_size=1)), one)
    else:
        paths = tuple(draw(st.lists(st.sampled_from(LOG_FILE_OK + LOG_DIR_OK + LOG_BAD), min_size=1, max_size=3)))
    return InspectPlan(
        paths=paths,
        date=_kind(draw, m["date"], ("2025-01-01",), ("garbage", "2025-02-30", "yesterday"), optional=True),
        all=draw(st.booleans()),
        events=_kind(draw, m["events"], FILE_OK, (*FILE_BAD, "wrong-suffix"), optional=True),
        png=_kind(draw, m["png"], FILE_OK, (*FILE_BAD, "wrong-suffix"), optional=True),
        png_suffix=draw(st.sampled_from([".png", ".svg", ".pdf"])),
        absolute=draw(st.booleans()),
    )


@dataclass(frozen=True)
class SearchPlan:
    scenario: str | None
    fix: str
    runs: int
    seed: int
    workers: int | None
    edges: int | None
    faults: str | None
    sets: tuple[str, ...]
    quiet: bool
    out: str | None
    absolute: bool


@st.composite
def search_plans(draw: Callable[[Any], Any]) -> SearchPlan:
    m = _modes(draw, ["scenario", "fix", "runs", "workers", "edges", "faults", "sets", "out"])
    return SearchPlan(
        scenario=_kind(draw, m["scenario"], SCENARIO_OK, SCENARIO_BAD, optional=True),
        fix=_kind(draw, m["fix"], ("none", "block", "all", "none,block", "pending-timeout"),
                  ("nonsense", "none,bogus")),
        runs=_kind(draw, m["runs"], (1, 2, 3), (0, -1, 1_000_000_000_000)),
        seed=draw(st.integers(0, 3)),
        workers=_kind(draw, m["workers"], (1, 2), (0, -3), optional=True),
        edges=_kind(draw, m["edges"], (1, 2, 3), (0, -2, 1_000_000), optional=True),
        faults=_kind(draw, m["faults"], ("all", "none", "kill,start", "partition"), ("nonsense", "kill,bogus"),
                     optional=True),
        sets=_sets(draw, m["sets"], ("timings.heartbeat_interval=2s", "timings.reeval_batch_delay=5s"),
                   ("timings.bogus=1s", "timings.heartbeat_interval=banana", "timings.lost_timeout=-1s")),
        quiet=draw(st.booleans()),
        out=_kind(draw, m["out"], DIR_OK, DIR_BAD, optional=True),
        absolute=draw(st.booleans()),
    )


@dataclass(frozen=True)
class ReportPlan:
    notebook: str
    out: str | None
    params: tuple[tuple[str, str], ...]
    no_input: bool
    absolute: bool


@st.composite
def report_plans(draw: Callable[[Any], Any]) -> ReportPlan:
    m = _modes(draw, ["notebook", "out", "params"], ("one-bad", "valid", "one-bad", "any"))  # a valid one is slow
    ok_params: tuple[tuple[tuple[str, str], ...], ...] = ((), (("N", "3"),), (("N", "[unclosed"),))
    return ReportPlan(
        notebook=_kind(draw, m["notebook"], NOTEBOOK_OK, NOTEBOOK_BAD),
        out=_kind(draw, m["out"], DIR_OK, DIR_BAD, optional=True),
        params=_kind(draw, m["params"], ok_params, ((("NOPE", "1"),),)),
        no_input=draw(st.booleans()),
        absolute=draw(st.booleans()),
    )


# ---------------------------------------------------------------------------------------------
# the fuzz tests
# ---------------------------------------------------------------------------------------------

def _check(sb: Sandbox, argv: list[str], **kw: Any) -> None:
    problems = sb.call(argv, **kw)
    event(f"{argv[0]}: {'bad' if sb.bad else 'valid'} input, exit {sb.last.rc}")  # --hypothesis-show-statistics
    assert not problems, sb.report


@settings(FUZZ, max_examples=10)
@given(plan=run_plans())
def test_fuzz_run(plan: RunPlan, kit: Kit, sandboxes: Path) -> None:
    with Sandbox(sandboxes, kit) as sb:
        argv = ["run", sb.scenario(plan.scenario, plan.absolute), "--seed", str(plan.seed),
                "--log-format", plan.log_format]
        for s in plan.sets:
            argv += ["--set", s]
        if any(s in RUN_SETS_BAD for s in plan.sets):
            sb.bad.append(f"--set {[s for s in plan.sets if s in RUN_SETS_BAD]}")
        if plan.quiet:
            argv.append("--quiet")
        if plan.json:
            argv += ["--json", sb.file_dest("--json", plan.json, ".json", complete_run_json, plan.absolute)]
        if plan.png:
            argv += ["--png", sb.file_dest("--png", plan.png, plan.png_suffix, complete_figure, plan.absolute)]
        if plan.out:
            argv += ["--out", sb.dir_dest("--out", plan.out, "run", complete_run_folder, plan.absolute)]
        _check(sb, argv)


@dataclass(frozen=True)
class SchemaPlan:
    """A wrong value at one path of the scenario schema, or a ``--set`` of any kind at one key."""

    path: tuple[Any, ...] | None
    value: Any
    set_key: str | None
    set_value: str


@st.composite
def schema_plans(draw: Callable[[Any], Any]) -> SchemaPlan:
    in_file = draw(st.booleans())
    return SchemaPlan(path=draw(st.sampled_from(PATHS)) if in_file else None, value=draw(st.sampled_from(WRONG)),
                      set_key=None if in_file else draw(st.sampled_from(SET_KEYS)),
                      set_value=draw(st.sampled_from(SET_VALUES)))


@settings(FUZZ, max_examples=12)
@given(plan=schema_plans())
def test_fuzz_schema(plan: SchemaPlan, kit: Kit, sandboxes: Path) -> None:
    """Wrong types at every path of the schema and in every --set: exit 2 with one line naming the file's
    line and column (or the --set), before anything runs; or, where the value happens to be valid, a run."""
    import yaml

    from repro_lib.errors import ReproError
    from repro_lib.scenario import load_scenario

    with Sandbox(sandboxes, kit) as sb:
        doc = yaml.safe_load(SCENARIO.read_text())
        if plan.path is not None:
            put(doc, plan.path, plan.value)
        p = sb.cwd / "in" / "fuzzed.yaml"
        p.write_text(yaml.safe_dump(doc, sort_keys=False))
        arg = sb.arg(p, False)
        argv = ["run", arg, "--quiet"]
        sets = [f"{plan.set_key}={plan.set_value}"] if plan.set_key else []
        for item in sets:
            argv += ["--set", item]
        words: tuple[str, ...] = ()
        try:  # which of the two it is: the kit's own loader in this process decides, the CLI must agree
            load_scenario(p, sets)
        except ReproError as e:
            sb.bad.append(f"{plan.path or sets}: {e}")
            words = ("--set",) if sets and "--set" in str(e) else (f"{arg}:",)
        _check(sb, argv, words=words)


@settings(FUZZ, max_examples=10)
@given(plan=inspect_plans())
def test_fuzz_inspect(plan: InspectPlan, kit: Kit, sandboxes: Path) -> None:
    with Sandbox(sandboxes, kit) as sb:
        argv = ["inspect", *(sb.log(k, plan.absolute) for k in plan.paths)]
        if len(plan.paths) > 1 and any(k in LOG_DIRS for k in plan.paths):
            sb.bad.append("a folder among several paths")
        if plan.date is not None:
            argv += ["--date", plan.date]
            if plan.date != "2025-01-01":
                sb.bad.append(f"--date {plan.date}")
        if plan.all:
            argv.append("--all")
        if plan.events:
            argv += ["--events", sb.file_dest("--events", plan.events, ".csv", complete_csv, plan.absolute)]
        if plan.png:
            argv += ["--png", sb.file_dest("--png", plan.png, plan.png_suffix, complete_figure, plan.absolute)]
        _check(sb, argv)


@settings(FUZZ, max_examples=8)
@given(plan=search_plans())
def test_fuzz_search(plan: SearchPlan, kit: Kit, sandboxes: Path) -> None:
    with Sandbox(sandboxes, kit) as sb:
        argv = ["search"]
        if plan.scenario is not None:
            argv.append(sb.scenario(plan.scenario, plan.absolute))
        argv += ["--fix", plan.fix, "--runs", str(plan.runs), "--seed", str(plan.seed)]
        if plan.fix in ("nonsense", "none,bogus"):
            sb.bad.append(f"--fix {plan.fix}")
        if not 1 <= plan.runs <= 3:
            sb.bad.append(f"--runs {plan.runs}")
        if plan.workers is not None:
            argv += ["--workers", str(plan.workers)]
            if plan.workers < 1:
                sb.bad.append(f"--workers {plan.workers}")
        if plan.edges is not None:
            argv += ["--edges", str(plan.edges)]
            if not 1 <= plan.edges <= 3:
                sb.bad.append(f"--edges {plan.edges}")
        if plan.faults is not None:
            argv += ["--faults", plan.faults]
            if plan.faults in ("nonsense", "kill,bogus"):
                sb.bad.append(f"--faults {plan.faults}")
        for s in plan.sets:
            argv += ["--set", s]
            if s in ("timings.bogus=1s", "timings.heartbeat_interval=banana", "timings.lost_timeout=-1s"):
                sb.bad.append(f"--set {s}")
        if plan.quiet:
            argv.append("--quiet")
        if plan.out:
            argv += ["--out", sb.dir_dest("--out", plan.out, "search", complete_search_folder, plan.absolute,
                                          required=False)]
        _check(sb, argv)


@settings(FUZZ, max_examples=3)
@given(plan=report_plans())
def test_fuzz_report(plan: ReportPlan, kit: Kit, sandboxes: Path) -> None:
    with Sandbox(sandboxes, kit) as sb:
        nb, stem = sb.notebook(plan.notebook, plan.absolute)
        argv = ["report", nb]
        for k, v in plan.params:
            argv += ["-p", k, v]
            if k != "N":
                sb.bad.append(f"-p {k}: the notebook has no such parameter")
        if plan.no_input:
            argv.append("--no-input")
        if plan.out:
            argv += ["--out", sb.dir_dest("--out", plan.out, "report", complete_report_folder(stem), plan.absolute)]
        else:  # the default destination, reports/<stem> under the working folder
            sb.dests.append(Dest("--out (default)", f"reports/{stem}", "missing", sb.cwd / "reports" / stem,
                                 True, True, complete_report_folder(stem)))
        _check(sb, argv, timeout=REPORT_TIMEOUT)


# ---------------------------------------------------------------------------------------------
# regression cases: the known bugs, one by one
# ---------------------------------------------------------------------------------------------

SC = "scenarios/core-395.yaml"
ORCH = str(REF / "logs" / "orchestrator.log")


def _run_out(kind: str, command: str = "run") -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        if command == "run":
            argv = ["run", SC, "--quiet", "--out", sb.dir_dest("--out", kind, "run", complete_run_folder)]
        elif command == "search":
            argv = ["search", "--runs", "2", "--quiet",
                    "--out", sb.dir_dest("--out", kind, "search", complete_search_folder, required=False)]
        else:
            nb, stem = sb.notebook("valid")
            argv = ["report", nb, "--out", sb.dir_dest("--out", kind, "report", complete_report_folder(stem))]
        spec: dict[str, Any] = {"argv": argv, "timeout": REPORT_TIMEOUT if command == "report" else CALL_TIMEOUT}
        if sb.bad:  # the line names the destination it refuses
            spec["words"] = (sb.dests[-1].arg,)
        if kind in ("fifo", "dev-null"):
            spec["timeout"] = HANG_TIMEOUT if command != "report" else REPORT_TIMEOUT
        return spec
    return build


def _file_out(command: str, option: str, kind: str, suffix: str) -> Callable[[Sandbox], dict[str, Any]]:
    check = {".json": complete_run_json, ".csv": complete_csv}.get(suffix, complete_figure)

    def build(sb: Sandbox) -> dict[str, Any]:
        head = ["run", SC, "--quiet"] if command == "run" else ["inspect", ORCH]
        if kind == "read-only":
            probe = sb.read_only_dir()
            if sb.writable(probe):
                return {"skip": "cannot make a folder this user cannot write (chattr +i unavailable as root)"}
        argv = [*head, option, sb.file_dest(option, kind, suffix, check)]
        spec: dict[str, Any] = {"argv": argv}
        if sb.bad:  # the line names the destination it refuses
            spec["words"] = (sb.dests[-1].arg,)
        if kind in ("fifo", "dev-null", "dev-full"):
            spec["timeout"] = HANG_TIMEOUT
        return spec
    return build


def _simple(argv: list[str], *, expect: str = "error", words: tuple[str, ...] = (), quick: float | None = None,
            timeout: float = CALL_TIMEOUT, stdout_path: str | None = None) -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        return {"argv": list(argv), "expect": expect, "words": words, "quick": quick, "timeout": timeout,
                "stdout_path": stdout_path}
    return build


def _scenario_input(kind: str, command: str = "run") -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        arg = sb.scenario(kind)
        argv = ["run", arg, "--quiet"] if command == "run" else ["search", arg, "--runs", "1", "--quiet"]
        return {"argv": argv, "timeout": HANG_TIMEOUT if kind in ("fifo", "dev-full") else CALL_TIMEOUT}
    return build


def _log_input(*kinds: str) -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        args = [sb.log(k) for k in kinds]
        if len(kinds) > 1 and any(k in LOG_DIRS for k in kinds):
            sb.bad.append("a folder among several paths")
        return {"argv": ["inspect", *args], "timeout": HANG_TIMEOUT}
    return build


def _notebook_input(kind: str, out: str | None = None) -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        nb, stem = sb.notebook(kind)
        argv = ["report", nb]
        if out:
            argv += ["--out", sb.dir_dest("--out", out, "report", complete_report_folder(stem))]
        else:  # nothing may appear at the default destination either
            sb.dests.append(Dest("--out (default)", f"reports/{stem}", "missing", sb.cwd / "reports" / stem,
                                 True, True, complete_report_folder(stem)))
        return {"argv": argv, "timeout": HANG_TIMEOUT * 3 if kind == "fifo" else REPORT_TIMEOUT}
    return build


def _stdout_full(argv: list[str]) -> Callable[[Sandbox], dict[str, Any]]:
    def build(sb: Sandbox) -> dict[str, Any]:
        return {"argv": argv, "expect": "error", "stdout_path": "/dev/full"}
    return build


REGRESSIONS: dict[str, Callable[[Sandbox], dict[str, Any]]] = {
    # an output folder that holds someone else's files: refused, every file in it untouched
    "run --out <non-empty foreign folder>": _run_out("foreign"),
    "search --out <non-empty foreign folder>": _run_out("foreign", "search"),
    "report --out <non-empty foreign folder>": _run_out("foreign", "report"),
    "run --out <kit folder + a user file>": _run_out("kit-plus-foreign"),
    "search --out <kit folder + a user file>": _run_out("kit-plus-foreign", "search"),
    # --out . must not empty the current folder
    "run --out .": _run_out("dot"),
    "search --out .": _run_out("dot", "search"),
    "report --out .": _run_out("dot", "report"),
    "run --out <a user file>": _run_out("file-foreign"),
    "run --out <symlink to an empty folder>": _run_out("link-empty"),
    "search --out <symlink to a kit folder>": _run_out("link-kit", "search"),
    "run --out /dev/null": _run_out("dev-null"),
    "search --out <FIFO>": _run_out("fifo", "search"),
    "run --out <under a read-only folder>": _run_out("read-only"),
    # a search without --out writes nothing at all (its Hypothesis engine must not leave .hypothesis/ here)
    "search --runs 3 (no --out) touches nothing": _simple(["search", "--runs", "3", "--quiet"], expect="ok"),
    # the kit's own folders are replaced
    "run --out <kit run folder> (replaced)": _run_out("kit"),
    "search --out <kit search folder> (replaced)": _run_out("kit", "search"),
    # file destinations at a FIFO, a device, /proc, a symlink, a user's file
    "run --json <FIFO>": _file_out("run", "--json", "fifo", ".json"),
    "inspect --events <FIFO>": _file_out("inspect", "--events", "fifo", ".csv"),
    "inspect --png <FIFO>": _file_out("inspect", "--png", "fifo", ".png"),
    "run --json /dev/full": _file_out("run", "--json", "dev-full", ".json"),
    "run --json /dev/null": _file_out("run", "--json", "dev-null", ".json"),
    "run --json /proc/x.json": _file_out("run", "--json", "proc", ".json"),
    "run --json <a user's JSON>": _file_out("run", "--json", "foreign", ".json"),
    "run --json <symlink to a user's file>": _file_out("run", "--json", "link-foreign", ".json"),
    "inspect --events <a user's CSV>": _file_out("inspect", "--events", "foreign", ".csv"),
    "inspect --events <an empty file>": _file_out("inspect", "--events", "empty", ".csv"),
    "inspect --png <a user's PNG>": _file_out("inspect", "--png", "foreign", ".png"),
    "inspect --png <under a read-only folder>": _file_out("inspect", "--png", "read-only", ".png"),
    "run --json <kit JSON> (overwritten)": _file_out("run", "--json", "kit", ".json"),
    "inspect --events <kit CSV> (overwritten)": _file_out("inspect", "--events", "kit", ".csv"),
    "inspect --png <kit PNG> (overwritten)": _file_out("inspect", "--png", "kit", ".png"),
    # stdout on a full disk
    "run, stdout on /dev/full": _stdout_full(["run", SC, "--quiet"]),
    "inspect, stdout on /dev/full": _stdout_full(["inspect", ORCH]),
    "search, stdout on /dev/full": _stdout_full(["search", "--runs", "1", "--quiet"]),
    # damaged inputs
    "inspect <run folder with snapshots.json = []>": _log_input("snapshots-empty"),
    "inspect <FIFO>": _log_input("fifo"),
    "inspect <folder holding a FIFO>": _log_input("fifo-in-folder"),
    "inspect /dev/full": _log_input("dev-full"),
    "inspect <log> <folder>": _log_input("ref:orchestrator.log", "log-folder"),
    "report <notebook with cells = {}>": _notebook_input("cells-dict"),
    "report <FIFO notebook>": _notebook_input("fifo"),
    "run <garbage YAML>": _scenario_input("garbage-yaml"),
    "run <binary scenario>": _scenario_input("binary"),
    "run <empty scenario>": _scenario_input("empty"),
    "run <scenario is a folder>": _scenario_input("dir"),
    "run <FIFO scenario>": _scenario_input("fifo"),
    "run /dev/full": _scenario_input("dev-full"),
    "run <CR-only scenario> (valid YAML)": _scenario_input("valid-cr"),
    # the scenario language: wrong types and bounded YAML, refused at once (issue 29 item 1)
    "run <up: 5>": _scenario_input("wrong-type"),
    "run <alias bomb>": _scenario_input("alias-bomb"),
    "search <alias bomb>": _scenario_input("alias-bomb", "search"),
    "run <self-referencing alias>": _scenario_input("self-alias"),
    "run <900 levels deep>": _scenario_input("deep"),
    "run <10,001 edges in the file>": _scenario_input("many-edges"),
    "inspect <binary log>": _log_input("binary-log"),
    "inspect <gzip log>": _log_input("gzip-log"),
    # numbers out of range: refused at once, nothing allocated
    "search --edges 1000000": _simple(["search", "--edges", "1000000", "--runs", "1", "--quiet"],
                                      words=("--edges",), quick=QUICK),
    "search --runs 1000000000000": _simple(["search", "--runs", "1000000000000", "--quiet"], words=("--runs",),
                                           quick=QUICK),
    "search --workers 0": _simple(["search", "--workers", "0", "--runs", "1", "--quiet"], words=("--workers",),
                                  quick=QUICK),
    "search --workers -3": _simple(["search", "--workers", "-3", "--runs", "1", "--quiet"], words=("--workers",),
                                   quick=QUICK),
    "search --runs 0": _simple(["search", "--runs", "0", "--quiet"], words=("--runs",), quick=QUICK),
    "run --set edges=1000000": _simple(["run", SC, "--set", "edges=1000000"], words=("edges",), quick=QUICK),
    "run --set bogus=1": _simple(["run", SC, "--set", "bogus=1"], words=("bogus",)),
    "run --set params.settle=banana": _simple(["run", SC, "--set", "params.settle=banana"], words=("banana",)),
    "inspect --date garbage": _simple(["inspect", ORCH, "--date", "garbage"], words=("--date",)),
}


@pytest.fixture(scope="module")
def regression_outcomes(request: pytest.FixtureRequest, kit: Kit, sandboxes: Path) -> dict[str, Outcome]:
    """The selected regression cases, run PARALLEL at a time (each in its own sandbox)."""
    wanted = [item.callspec.params["case"] for item in request.session.items
              if getattr(item, "module", None) is sys.modules[__name__] and hasattr(item, "callspec")
              and "case" in item.callspec.params]
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = pool.map(lambda name: _execute(REGRESSIONS[name], sandboxes, kit), wanted)
        return dict(zip(wanted, outcomes, strict=True))


@pytest.mark.parametrize("case", list(REGRESSIONS))
def test_regression(case: str, regression_outcomes: dict[str, Outcome], kit: Kit, sandboxes: Path) -> None:
    outcome = regression_outcomes.get(case) or _execute(REGRESSIONS[case], sandboxes, kit)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert not outcome.problems, outcome.report


# ---------------------------------------------------------------------------------------------
# the harness itself
# ---------------------------------------------------------------------------------------------

def test_the_snapshot_sees_every_kind_of_change(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "p")
    (tmp_path / "l").symlink_to("a")
    before = snapshot(tmp_path)
    assert {k: v[0] for k, v in before.items()} == {"a": "file", "d": "dir", "d/p": "fifo", "l": "symlink"}
    (tmp_path / "a").write_text("y")
    (tmp_path / "d").chmod(0o700)
    (tmp_path / "l").unlink()
    (tmp_path / "l").symlink_to("d")
    after = snapshot(tmp_path)
    assert [k for k in sorted(before) if before[k] != after[k]] == ["a", "d", "l"]


def test_the_oracle_catches_a_traceback_and_a_second_line() -> None:
    c = Call(["run", "x"], ROOT, 1, "", "Traceback (most recent call last):\n  File 'x'\nValueError: boom\n", 1.0,
             10.0)
    assert traceback_last_line(c.stderr) == "ValueError: boom"
    sb = Sandbox.__new__(Sandbox)
    sb.dests, sb.root = [], ROOT
    problems = judge(c, "error", {}, {}, sb)
    assert any("traceback" in p for p in problems) and any("exit 1" in p for p in problems)
    assert any("one 'repro: ' line" in p for p in problems)

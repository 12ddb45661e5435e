"""Every command the README shows, run on a clean copy of the repository (issue 29 item 5).

The commands are read from README.md when the tests are collected — never listed here — so a command
added to the README is tested the next time: the ``bash``/``sh``/``console`` blocks, and every inline
``repro …`` (the CLI table, "Start here"). A docs page joins in with a block marked runnable (```` ```bash
runnable ````). Placeholders (``FILE``, ``DIR``, ``LOGS…``, ``fix=…``) are filled with examples; a
placeholder this file does not know fails the collection's test, so that the README and this test move
together. Notebook 05's report as the issue ran it (``repro report notebooks/05-…ipynb -p RUNS 20 -p FIXES
none``, no ``--out``) is always among them.

Each command runs in the copy (the tracked files of the checkout: no ``out/``, no ``reports/``, no
``.venv``) with this interpreter, and must: exit 0 or 1 (the documented outcomes; the exit code its
comment states, where it states one), print no traceback, and write nothing outside the destinations it
names (``--out``, ``--json``, ``--png``, ``--events``, ``--scenario`` and the job stand-ins beside it,
``report``'s default ``reports/<notebook>``, ``demo``'s ``reports/walkthrough``; each destination file's
folder record ``.repro-written`` with it), and leave nothing in the temp folder. Commands whose inputs another
command writes (``repro run out/incident.yaml``) run after it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```", re.M | re.S)
INLINE = re.compile(r"`(repro [^`\n]+)`")
SHELLS = ("bash", "sh", "shell", "console")
#: commands that are no run of the kit, or run elsewhere — each with where it is tested
NOT_HERE = {
    ("source",): "a shell builtin: puts .venv/bin on PATH (nothing to run)",
    ("make", "test"): "the whole suite: this test is part of it",
    ("repro", "lab"): "a server that runs until stopped: tests/test_lab.py, tests/test_lab_signals.py",
}
NOTEBOOK_05 = "repro report notebooks/05-what-breaks-a-fix.ipynb -p RUNS 20 -p FIXES none"


@dataclass
class Command:
    """One command as the README shows it, and as it is run."""

    shown: str
    where: str
    argv: list[str] = field(default_factory=list)
    skip: str = ""
    rc: int | None = None  # the exit code its comment states
    dests: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


#: placeholder -> example, by the flag before it ("" = a positional argument)
FILL = {
    ("", "FILE"): "scenarios/core-395.yaml",
    ("", "DIR_OR_LOGS…"): "data/reference-run",
    ("", "LOGS…"): "data/reference-run/logs",
    ("", "NOTEBOOK"): "notebooks/01-walkthrough.ipynb",
    ("--fix", "F"): "redispatch-on-join",
    ("--runs", "N"): "200",
    ("--seed", "S"): "1",
    ("--json", "F"): "out/readme/r.json",
    ("--png", "F"): "out/readme/t.png",
    ("--backend", "B"): "local",
}
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*…?|[A-Z]{1,2})$")
DEST_FLAGS = ("--out", "--json", "--png", "--events", "--scenario")


def _fill(words: list[str], k: int) -> list[str]:
    out: list[str] = []
    for i, w in enumerate(words):
        flag = words[i - 1] if i and words[i - 1].startswith("-") else ""
        if w.endswith("=…"):
            w = w[:-1] + ("sequence-replay" if w.startswith("fix=") else "")
        if PLACEHOLDER.match(w) and not (flag == "-p" or (i >= 2 and words[i - 2] == "-p")):
            if flag == "--out" and w == "DIR":
                w = f"out/readme/{words[1]}-{k}"
            elif (flag, w) in FILL:
                w = FILL[(flag, w)]
            elif ("", w) in FILL and not flag:
                w = FILL[("", w)]
            else:
                raise AssertionError(f"the README shows {' '.join(words)!r} with a placeholder {w!r} this test "
                                     "cannot fill: add it to FILL")
        out.append(w)
    return out


def _parse(text: str, where: str, *, runnable_only: bool) -> list[Command]:
    found: list[Command] = []
    for m in FENCE.finditer(text):
        info = m.group("info").split()
        if not info or info[0] not in SHELLS or (runnable_only and "runnable" not in info):
            continue
        for line in m.group("body").splitlines():
            line = line.strip().removeprefix("$ ").strip()
            if line and not line.startswith("#"):
                found.append(Command(line, where))
    if not runnable_only:
        found += [Command(c.strip(), where) for c in INLINE.findall(text)]
    return found


def _commands() -> list[Command]:
    cmds = _parse((ROOT / "README.md").read_text(), "README.md", runnable_only=False)
    for page in sorted((ROOT / "docs").glob("*.md")):
        cmds += _parse(page.read_text(), f"docs/{page.name}", runnable_only=True)
    cmds.append(Command(NOTEBOOK_05, "issue 29 (notebook 05's report, no --out)"))
    seen: set[str] = set()
    unique = [c for c in cmds if not (c.shown in seen or seen.add(c.shown))]  # type: ignore[func-returns-value]
    for k, c in enumerate(unique):
        words = shlex.split(c.shown, comments=True)
        said = re.search(r"exit (\d)", c.shown.partition(" #")[2])
        c.rc = int(said.group(1)) if said else None
        for key, why in NOT_HERE.items():
            if tuple(words[:len(key)]) == key:
                c.skip = why
        if c.skip:
            continue
        if words[:2] == ["make", "demo"]:  # the install is the venv these tests run in; then it runs `repro demo`
            words = ["repro", "demo"]
        if words[:1] != ["repro"]:
            c.skip = f"not a repro command: {words[0]}"
            continue
        if len(words) == 2 and words[1] in ("run", "inspect", "search", "report"):
            c.skip = f"a mention of `repro {words[1]}` in a sentence, not a command"
            continue
        words = _fill(words, k)
        if "--backend" in words:
            c.skip = "a live backend: tests/test_signals.py::test_local_run, tests/test_compose.py"
            continue
        c.argv = words[1:]
        c.dests = [words[i + 1] for i, w in enumerate(words[:-1]) if w in DEST_FLAGS]
        if words[1] == "demo":
            c.dests.append("reports/walkthrough")
        if words[1] == "report" and "--out" not in words:
            c.dests.append(f"reports/{Path(words[2]).stem}")
        if "--scenario" in words:  # the job stand-ins are written beside the scenario
            c.dests.append(str(Path(words[words.index("--scenario") + 1]).parent))
        c.inputs = [w for w in words[2:] if w.startswith(("out/", "reports/")) and w not in c.dests]
    # a command reading what another writes runs after it
    ordered: list[Command] = []
    todo = list(unique)
    while todo:
        ready = next((c for c in todo if not any(i.startswith(d) for i in c.inputs for o in todo if o is not c
                                                  for d in o.dests)), todo[0])
        ordered.append(ready)
        todo.remove(ready)
    return ordered


COMMANDS = _commands()


def test_the_readme_shows_commands() -> None:
    shown = [c for c in COMMANDS if c.where == "README.md"]
    assert len([c for c in shown if not c.skip]) >= 5, [c.shown for c in shown]


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of this checkout, as a fresh clone has them."""
    dst = tmp_path_factory.mktemp("clean") / "repo"
    git = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if git.returncode == 0:
        tracked = git.stdout.decode().split("\0")
    else:  # an exported tree (no .git): everything but what a run or an install leaves
        skip = {".venv", "out", "reports", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                   if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    for rel in tracked:
        src = ROOT / rel
        if rel and src.is_file() and not src.is_symlink():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + dirs:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns) if name in files else (-1, 0)
    return out


def _allowed(rel: str, is_dir: bool, dests: list[str]) -> bool:
    """``rel`` is a destination, inside one, the record beside a destination file, or a folder made to hold one."""
    for d in map(os.path.normpath, dests):
        if rel == d or rel.startswith(d + os.sep) or rel == os.path.join(os.path.dirname(d), ".repro-written"):
            return True
        if is_dir and d.startswith(rel + os.sep):
            return True
    return False


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.shown[:60] for c in COMMANDS])
def test_a_readme_command_on_a_clean_checkout(cmd: Command, clean_copy: Path) -> None:
    if cmd.skip:
        pytest.skip(cmd.skip)
    tmp = Path(tempfile.gettempdir())
    before, tmp_before = _tree(clean_copy), set(os.listdir(tmp))
    env = {**os.environ, "PYTHONPATH": str(clean_copy), "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-m", "repro_lib.cli", *cmd.argv], cwd=clean_copy, env=env,
                       capture_output=True, text=True, timeout=900, check=False, stdin=subprocess.DEVNULL)
    what = f"{cmd.shown} ({cmd.where}) ran as repro {shlex.join(cmd.argv)}: exit {r.returncode}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, what
    assert r.returncode == cmd.rc if cmd.rc is not None else r.returncode in (0, 1), what
    after = _tree(clean_copy)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    outside = [k for k in changed if not _allowed(k, after.get(k, before.get(k, (0, 0)))[0] == -1, cmd.dests)]
    assert outside == [], f"{cmd.shown}: wrote outside {cmd.dests}: {outside[:20]}"
    for d in cmd.dests:
        assert (clean_copy / d).exists(), f"{cmd.shown}: {d} was not written"
    left = sorted(set(os.listdir(tmp)) - tmp_before)
    assert left == [], f"{cmd.shown}: left in the temp folder: {left}"

"""Bad input to `repro inspect` / `repro run`: one line on stderr, exit 2, no traceback, nothing lost
(issue 9 §6). Each case runs the real console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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


class Unprivileged:
    """Runs the CLI without root's power over files. As root: as user ``nobody`` (through setpriv or
    runuser) when nobody can run the kit's interpreter; otherwise, with setpriv, as root stripped of the
    capabilities that bypass file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) — the same permission
    checks a normal user meets, with the real interpreter. Not root: as ourselves. ``folder`` is a fresh
    folder that user can reach (pytest's tmp_path under /tmp/pytest-of-root is 0700)."""

    def __init__(self, prefix: list[str], folder: Path, home: Path) -> None:
        self.prefix, self.folder, self.home = prefix, folder, home

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = [shutil.which("env") or "/usr/bin/env", f"HOME={self.home}", f"TMPDIR={self.home}",
               f"MPLCONFIGDIR={self.home / 'matplotlib'}", f"XDG_CACHE_HOME={self.home / 'cache'}"]
        return subprocess.run([*self.prefix, *env, *argv], capture_output=True, text=True, cwd=ROOT,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def repro(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "repro_lib.cli", *args)

    def can(self, what: str, path: Path) -> bool:
        """Whether that user can ``read`` or ``write`` ``path`` (a capability may let it, whatever the mode)."""
        mode = "os.R_OK" if what == "read" else "os.W_OK"
        return self.run(sys.executable, "-c", f"import os, sys; sys.exit(0 if os.access(sys.argv[1], {mode}) else 1)",
                        str(path)).returncode == 0

    def runs_the_kit(self) -> str | None:
        """None when this user can run the kit (interpreter, venv and repository readable), else why not."""
        probe = self.run(sys.executable, "-c", "import sys, repro_lib.cli, pandas, matplotlib; "
                         "print(*sys.version_info[:2])", timeout=300)
        if probe.returncode != 0:
            return (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]
        if probe.stdout.split() != [str(v) for v in sys.version_info[:2]]:
            return f"it runs Python {probe.stdout.strip()}, not {sys.version_info[0]}.{sys.version_info[1]}"
        return None


def _closed_to_others(path: str) -> str:
    """The first folder on the way to ``path`` (symbolic links resolved) that others cannot enter."""
    real = Path(os.path.realpath(path))
    for d in reversed(real.parents):
        if not os.stat(d).st_mode & 0o001:
            return f"{path} resolves to {real}, under {d} (mode {os.stat(d).st_mode & 0o777:o})"
    return f"{path} resolves to {real}"


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    folder = Path(tempfile.mkdtemp(prefix="repro-unprivileged-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        folder.chmod(0o755)
        home = folder / "home"  # HOME, TMPDIR and caches of that user: matplotlib must not warn on stderr
        home.mkdir()
        if os.geteuid() != 0:
            yield Unprivileged([], folder, home)
            return
        import pwd

        setpriv, runuser = shutil.which("setpriv"), shutil.which("runuser")
        if not setpriv and not runuser:
            pytest.skip("running as root, and neither setpriv nor runuser is installed to drop privileges")
        why_not = "there is no user nobody"
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            nobody = None
        if nobody is not None:
            os.chown(home, nobody.pw_uid, -1)
            user = Unprivileged(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
                                if setpriv else ["runuser", "-u", "nobody", "--"], folder, home)
            why_not = user.runs_the_kit() or ""
            if not why_not:
                yield user
                return
            why_not = f"user nobody cannot run the kit ({why_not}): {_closed_to_others(sys.executable)}"
            os.chown(home, 0, -1)
        if not setpriv:
            pytest.skip(f"running as root; {why_not}; and without setpriv root cannot drop its file capabilities")
        user = Unprivileged(["setpriv", "--bounding-set=-dac_override,-dac_read_search"], folder, home)
        if (fails := user.runs_the_kit()) is not None:
            pytest.skip(f"running as root; {why_not}; and root without CAP_DAC_* cannot run it either: {fails}")
        yield user
    finally:
        for dirpath, dirnames, _ in os.walk(folder):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_png_into_an_unwritable_folder(unprivileged: Unprivileged) -> None:
    ro = unprivileged.folder / "ro"
    ro.mkdir()
    ro.chmod(0o555)  # read-only for its owner and for everyone else
    if unprivileged.can("write", ro):
        pytest.skip("this user can write a 0555 folder (a capability such as CAP_DAC_OVERRIDE)")
    one_line_error(unprivileged.repro("inspect", str(ORCH), "--png", str(ro / "t.png")), "--png")
    assert not list(ro.iterdir())  # nothing written, no temporary sibling either


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


def test_an_unreadable_file(unprivileged: Unprivileged) -> None:
    f = unprivileged.folder / "orchestrator.log"
    f.write_text("x\n")
    f.chmod(0)
    if unprivileged.can("read", f):
        pytest.skip("this user can read a mode-0 file (a capability such as CAP_DAC_READ_SEARCH)")
    one_line_error(unprivileged.repro("inspect", str(f)), "cannot read")

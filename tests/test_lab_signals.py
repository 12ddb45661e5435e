"""`repro lab` ends clean (issue 29 item 7): on SIGHUP, SIGTERM and a double Ctrl-C, JupyterLab and its
kernels end, its runtime files (``jpserver-*.json``, the ``-open.html`` page holding the token, each
``kernel-*.json`` holding a kernel's key) are gone, and it exits 2 with ``repro: interrupted (…)``.
While it runs, those files sit in a private folder (mode 0700), not in Jupyter's shared runtime folder."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(cond: Callable[[], object], timeout: float, what: str) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["SIGHUP", "double-ctrl-c", "SIGTERM"])
def test_lab_removes_its_runtime_files_and_exits_2(tmp_path: Path, how: str) -> None:
    port = _free_port()
    shared_runtime = tmp_path / "jupyter-runtime"  # where Jupyter would put them without the kit
    shared_runtime.mkdir()
    tmp = Path(tempfile.gettempdir())
    before = {p.name for p in tmp.glob("repro-lab-*")}
    err_path = tmp_path / "stderr.txt"
    out_path = tmp_path / "stdout.txt"
    proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", "lab", "--port", str(port)], cwd=ROOT,
                            stdout=out_path.open("w"), stderr=err_path.open("w"), start_new_session=True,
                            stdin=subprocess.DEVNULL, env={**os.environ, "JUPYTER_RUNTIME_DIR": str(shared_runtime)})
    seen: set[int] = set()
    try:
        def url_token() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"repro lab ended early: {err_path.read_text()[-2000:]}")
            m = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", out_path.read_text() + err_path.read_text())
            return m.group(1) if m else None

        token = _wait(url_token, 90, "the URL with its token")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def start_kernel() -> dict[str, str] | None:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels?token={token}", data=b"{}",
                                         method="POST", headers={"Content-Type": "application/json"})
            try:
                with opener.open(req, timeout=10) as r:
                    return json.loads(r.read())  # type: ignore[no-any-return]
            except OSError:
                return None

        kernel = _wait(start_kernel, 60, "a kernel to start")
        assert isinstance(kernel, dict)

        # the kernel has started: its app logs once its imports are done (a kernel stopped while it still
        # imports prints a traceback of its own, which is Jupyter's, not the kit's)
        _wait(lambda: "[IPKernelApp]" in err_path.read_text(), 60, "the kernel to have started")
        private = _wait(lambda: [tmp / n for n in {p.name for p in tmp.glob("repro-lab-*")} - before], 10,
                        "the private runtime folder")
        assert len(private) == 1
        runtime = private[0]  # type: ignore[index]
        assert stat.S_IMODE(runtime.stat().st_mode) & 0o777 == 0o700  # Jupyter adds the sticky bit
        _wait(lambda: list(runtime.glob("kernel-*.json")) and list(runtime.glob("jpserver-*.json")), 30,
              "the kernel's connection file and the server's files in the private folder")
        assert list(shared_runtime.iterdir()) == []
        seen = _descendants(proc.pid)
        assert any("ipykernel" in Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in seen
                   if _alive(p)), "no kernel process"
        if how == "double-ctrl-c":
            proc.send_signal(signal.SIGINT)
            _wait(lambda: "press Ctrl-C again" in err_path.read_text(), 10, "the first Ctrl-C to be answered")
            assert proc.poll() is None  # one Ctrl-C does not stop it
            proc.send_signal(signal.SIGINT)
        else:
            proc.send_signal(getattr(signal, how))
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    err = err_path.read_text()
    assert rc == 2, (rc, err[-2000:])
    want = "Ctrl-C" if how == "double-ctrl-c" else how
    last = err.strip().splitlines()[-1]
    assert last.startswith("repro: interrupted") and want in last, err[-2000:]
    assert "Traceback" not in err, err[max(0, err.find("Traceback") - 300):][:3000]
    assert {p.name for p in tmp.glob("repro-lab-*")} == before  # the private folder is gone
    assert list(shared_runtime.iterdir()) == []
    _wait(lambda: not [p for p in seen if _alive(p)], 20, "JupyterLab and its kernel to end")

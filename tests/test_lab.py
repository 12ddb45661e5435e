"""`repro lab`: JupyterLab on loopback in the repository, as root too (issue 21)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_repro_lab_serves_the_notebooks_on_loopback_and_stops_on_sigterm() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "repro_lib.cli", "lab", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        seen, url = [], None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            m = re.search(r"http://127\.0\.0\.1:(\d+)/lab\?token=(\w+)", line)
            if m:
                url = m
        assert url is not None, "".join(seen)[-2000:]
        assert int(url.group(1)) == port
        assert any("starting JupyterLab on 127.0.0.1" in x for x in seen)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        body, until = "", time.monotonic() + 30  # it prints its URL a moment before it accepts connections
        while not body:
            try:
                with opener.open(f"http://127.0.0.1:{port}/api/contents/notebooks?token={url.group(2)}",
                                 timeout=10) as r:
                    body = r.read().decode()
            except OSError:
                if time.monotonic() > until:
                    raise
                time.sleep(0.2)
        assert "01-walkthrough.ipynb" in body and "06-your-incident.ipynb" in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode is not None


def test_repro_lab_outside_the_repository_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "repro_lib.cli", "lab"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "repository root" in r.stderr

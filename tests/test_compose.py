"""The Docker stack: ComposeStack on the emulated images, log/event capture, the seed's commands,
build-debug.sh, redaction and the clear errors.

Tests marked ``docker`` need a Docker daemon, the compose CLI and the images from
``scripts/docker-setup.sh``; they skip with the reason when any is missing. Every test that
starts containers uses a fixture that removes whatever the test created (containers, volumes,
networks) even when it fails, and checks nothing is left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from repro_lib.redact import MASK, Redactor, read_env_file, secrets_from
from repro_lib.scenario import load_scenario, parse_scenario, run_live, run_scenario
from repro_lib.stacks import images
from repro_lib.stacks.base import QUICK_SETS
from repro_lib.stacks.compose import (
    CliCommandError,
    ComposeMissing,
    ComposeStack,
    DockerUnavailable,
    ImagesMissing,
    StackConflict,
    compose_command,
    docker_client,
)
from repro_lib.stacks.dockerlogs import docker_ts_ns

pytestmark = pytest.mark.timeout(300)  # a hung daemon fails the test (and its fixtures clean up)
ROOT = Path(__file__).resolve().parent.parent
FIXED_NAMES = ("nats-debug", "orchestrator-debug", "edge1-debug", "edge2-debug", "edge3-debug")
TEST_PROJECT = "repro-test"


def final_states(run) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    snap = run.final
    names = {n["id"]: n.get("name") for n in snap.nodes}
    return ({j["name"]: j["state"] for j in snap.jobs},
            sorted((e["job"], names.get(e["node"]) or e.get("node_name"), e["state"], e["desired"])
                   for e in snap.executions))


# -- no daemon needed ------------------------------------------------------------------------------
def test_redactor_masks_secrets(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# cloud\nEXPANSO_ENDPOINT=https://x.cloud.expanso.io\nEXPANSO_EDGE_BOOTSTRAP_TOKEN='tok-123456'\n"
                   "export EXPANSO_CLI_AUTH_API_KEY=\"key-abcdef\"\nMY_SERVICE_TOKEN=zzz-999\nSHORT_TOKEN=ab\n")
    values = read_env_file(env)
    assert values["EXPANSO_EDGE_BOOTSTRAP_TOKEN"] == "tok-123456" and values["EXPANSO_CLI_AUTH_API_KEY"] == "key-abcdef"
    r = Redactor(secrets_from(values))
    line = "bootstrap --token tok-123456 key=key-abcdef other=zzz-999 endpoint=https://x.cloud.expanso.io ab"
    assert r(line) == f"bootstrap --token {MASK} key={MASK} other={MASK} endpoint=https://x.cloud.expanso.io ab"
    assert r.redact_bytes(b"tok-123456\n") == f"{MASK}\n".encode()
    assert not Redactor() and Redactor().redact_bytes(b"x") == b"x"


def test_docker_ts_parsing() -> None:
    assert docker_ts_ns("2026-11-28T02:12:52.905123456Z") == 1795831972905123456
    assert docker_ts_ns(b"2026-11-28T02:12:52.9Z") == 1795831972900000000  # trailing zeros trimmed
    assert docker_ts_ns("2026-11-28T02:12:52Z") == 1795831972000000000
    assert docker_ts_ns("time=2026") is None


def test_unreachable_daemon_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable) as e:
        docker_client()
    msg = str(e.value)
    assert "Docker daemon not reachable at unix:///nonexistent/docker.sock" in msg and "\n" not in msg
    assert "--backend sim" in msg


def test_missing_compose_cli_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import repro_lib.stacks.compose as st

    monkeypatch.setattr(st.shutil, "which", lambda name: None)
    with pytest.raises(ComposeMissing, match="apt-get install docker-compose"):
        compose_command()


@pytest.mark.parametrize("content, needle", [
    (None, "is missing"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "Git LFS pointer"),
    (b"\xcf\xfa\xed\xfe" + b"\0" * 60, "macOS (Mach-O)"),
    (b"MZ" + b"\0" * 60, "Windows (PE)"),
    (b"#!/bin/sh\necho hi\n", "not an executable"),
    (b"\x7fELF\x02\x01\x01\x09" + b"\0" * 56, "another OS"),
])
def test_build_debug_checks_binaries(tmp_path: Path, content: bytes | None, needle: str) -> None:
    for b in ("expanso-orchestrator", "expanso-edge", "expanso-cli"):
        shutil.copy("/bin/true", tmp_path / b)
    target = tmp_path / "expanso-edge"
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    r = subprocess.run([str(ROOT / "build-debug.sh")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "BIN_DIR": str(tmp_path), "EXPANSO_IMAGE_TAG": "never-built"})
    assert r.returncode == 1
    assert needle in r.stderr and r.stderr.startswith("build-debug.sh: ") and r.stderr.count("\n") == 1


# -- Docker ------------------------------------------------------------------------------------------
def _leftovers(client) -> list[str]:
    found = [f"container {c.name}" for c in client.containers.list(all=True)
             if c.name in FIXED_NAMES or c.labels.get("com.docker.compose.project") == TEST_PROJECT]
    found += [f"volume {v.name}" for v in client.volumes.list() if v.name.startswith(f"{TEST_PROJECT}_")]
    found += [f"network {n.name}" for n in client.networks.list() if n.name.startswith(f"{TEST_PROJECT}_")]
    return found


def _remove_ours(client) -> None:
    import docker

    for c in client.containers.list(all=True):
        if c.labels.get("com.docker.compose.project") == TEST_PROJECT or c.name.startswith("repro-test-"):
            c.remove(force=True, v=True)
    for v in client.volumes.list():
        if v.name.startswith(f"{TEST_PROJECT}_"):
            try:
                v.remove(force=True)
            except docker.errors.APIError:
                pass
    for n in client.networks.list():
        if n.name.startswith(f"{TEST_PROJECT}_"):
            n.remove()


@pytest.fixture(scope="module")
def docker_env():
    """A daemon, a compose CLI and the emulated images — or a skip that says which is missing."""
    try:
        client = docker_client()
    except DockerUnavailable as e:
        pytest.skip(f"no Docker: {e}")
    try:
        compose_command()
    except ComposeMissing as e:
        pytest.skip(str(e))
    try:
        images.build(say=False)  # no-op when the images match the sources
    except ImagesMissing as e:
        pytest.skip(f"{e} (run scripts/docker-setup.sh)")
    return client


@pytest.fixture
def clean(docker_env):
    """Refuse to touch a debug stack that is not ours; remove everything ours afterwards."""
    client = docker_env
    foreign = [c.name for c in client.containers.list(all=True)
               if c.name in FIXED_NAMES and c.labels.get("com.docker.compose.project") != TEST_PROJECT]
    if foreign:
        pytest.skip(f"a debug stack is already running here ({', '.join(foreign)}); not touching it")
    _remove_ours(client)
    yield client
    _remove_ours(client)
    assert not _leftovers(client)


def _stack(tmp_path: Path, sc, **kw) -> ComposeStack:
    return ComposeStack(sc, work_dir=tmp_path / "work", project=TEST_PROJECT, progress=False, **kw)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("fix, verdict", [("none", "reproduced"), ("redispatch-on-join", "not_reproduced"),
                                         ("sequence-replay", "not_reproduced")])
def test_compose_backend_matches_sim(fix: str, verdict: str, clean, tmp_path: Path, root: Path) -> None:
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", [*QUICK_SETS, f"fix={fix}"])
    sim = run_scenario(sc)
    t0 = time.monotonic()
    live = run_live(sc, "compose", work_dir=tmp_path / "work", project=TEST_PROJECT, progress=False)
    took = time.monotonic() - t0
    assert live.error is None
    assert sim.verdict.verdict == live.verdict.verdict == verdict
    assert final_states(live) == final_states(sim)
    assert took < 90, f"compose run took {took:.0f}s"
    ev = live.events
    # ground truth from Docker: the two kills and two starts of the edges, with node ids
    faults = ev[(ev["kind"] == "fault") & (ev["source"] == "docker")]
    assert sorted(faults["state"]) == ["kill", "kill", "start", "start", "start", "start"]
    assert set(faults["node"]) == {n["id"] for n in live.final.nodes}  # same ids after the restart
    assert faults["detail"].str.contains("target=edge").all()
    # the timings reached the containers
    orch_log = (live.raw_logs / "orchestrator.log").read_text()
    assert "heartbeat_interval=3s" in orch_log and f"fix={fix}" in orch_log
    if fix == "none":
        assert "RECONCILER: STUCK EXECUTIONS DETECTED" in orch_log
        published = ev[(ev["kind"] == "publish") & (ev["state"] == "published")]
        assert len(published) == 4  # 2 delivered, 2 published into the void
    if fix == "sequence-replay":  # the container's NATS answered the dead edges' requests with a 503
        assert "nats: no responders available for request" in orch_log
        assert live.event_counts()["redispatches"] == 0
    from repro_lib.inspect import inspect_paths
    from repro_lib.run import load_run

    out = live.write(tmp_path / "run")
    back = load_run(out)
    assert back.verdict.verdict == verdict and final_states(back) == final_states(live)
    text = inspect_paths([str(out)]).text()
    assert f"VERDICT: {verdict}" in text
    if fix == "none":
        assert "lost dispatch" in text and "actually down but believed connected" in text


@pytest.mark.docker
def test_killed_edge_log_is_complete(clean, tmp_path: Path, root: Path) -> None:
    """`docker rm -f` takes the container's log with it; the capture must already have it all,
    up to the very last line written before the kill."""
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", list(QUICK_SETS))
    stack = _stack(tmp_path, sc)
    marker = f"LAST-LINE-BEFORE-KILL-{uuid.uuid4().hex}"
    try:
        stack.up()
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 2, 30)
        c = clean.containers.get("edge1-debug")
        before = c.logs(timestamps=True).decode().splitlines()
        assert before, "the edge has logged nothing yet"
        code, _ = c.exec_run(["sh", "-c", f"echo {marker} > /proc/1/fd/1"])
        assert code == 0
        stack.kill(["edge1"])  # at once: no waiting for the follower to catch up
        with pytest.raises(Exception, match="404|No such container|Not Found"):
            c.logs()
    finally:
        stack.down()
    lines = (stack.logs / "edge1.log").read_text().splitlines()
    assert lines[-1].endswith(marker), lines[-3:]
    assert set(before) <= set(lines)
    events = [json.loads(x) for x in (stack.logs / "docker-events.jsonl").read_text().splitlines()]
    kill = next(e for e in events if e["service"] == "edge1" and e["action"] == "kill")
    assert docker_ts_ns(lines[-1].split(" ", 1)[0]) < kill["timeNano"]
    assert "FAULT: kill" in (stack.logs / "docker.log").read_text()


@pytest.mark.docker
def test_seed_commands_by_hand(clean, tmp_path: Path) -> None:
    """The seed's command sequence, as typed, against the emulated images (compose v1 here),
    with the repro timings scaled down through the environment and polls instead of sleeps."""
    env = {**os.environ, "EXPANSO_IMAGE_TAG": "emulated", "NATS_IMAGE": images.EMULATED["nats"],
           "COMPOSE_PROJECT_NAME": TEST_PROJECT,
           "EXPANSO_EMULATOR_TIMINGS": json.dumps({"heartbeat_interval": "2s", "disconnect_timeout": "5m",
                                                  "reeval_batch_delay": "2s", "edge_reconnect_interval": "1s"})}
    from repro_lib.stacks.compose import _free_port

    for k in ("NATS_HOST_PORT", "NATS_MONITOR_HOST_PORT", "ORCHESTRATOR_API_HOST_PORT"):
        env[k] = str(_free_port())
    compose = [*compose_command(), "-f", "docker-compose.debug.yml"]

    def sh(*argv: str, ok: bool = True) -> str:
        r = subprocess.run(list(argv), capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        if ok:
            assert r.returncode == 0, f"{' '.join(argv)}: {r.stderr}"
        return r.stdout + r.stderr

    def until(what, timeout: float = 30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = what()
            if got:
                return got
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what.__doc__}")

    cli = ["docker", "exec", "orchestrator-debug", "expanso-cli"]
    try:
        sh(*compose, "up", "-d")
        # emulated edges: no Docker socket, not privileged; named volumes
        for e in ("edge1-debug", "edge2-debug"):
            attrs = clean.containers.get(e).attrs
            assert attrs["HostConfig"]["Privileged"] is False
            assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
            assert any(m["Type"] == "volume" for m in attrs["Mounts"])

        def connected() -> str:
            """both nodes connected"""
            out = sh(*cli, "node", "list")
            return out if out.count(" connected ") == 2 else ""

        nodes_before = connected() or until(connected)
        ids = sorted(line.split("|")[1].strip() for line in nodes_before.splitlines() if " connected " in line)
        sh("docker", "cp", "pipelines/test-job.yaml", "orchestrator-debug:/tmp/")
        assert "created" in sh(*cli, "job", "deploy", "/tmp/test-job.yaml")

        def running() -> bool:
            """test-heartbeat executions running"""
            return sh(*cli, "execution", "list").count("| running | running |") == 2

        until(running)
        sh("docker", "rm", "-f", "edge1-debug", "edge2-debug")
        sh("docker", "cp", "pipelines/new-job.yaml", "orchestrator-debug:/tmp/")
        assert "created" in sh(*cli, "job", "deploy", "/tmp/new-job.yaml")
        sh(*compose, "up", "-d", "edge1", "edge2")

        def stuck() -> bool:
            """the node-join re-evaluation after the restart (it finds the stuck executions)"""
            return "STUCK EXECUTIONS DETECTED" in sh("docker", "logs", "orchestrator-debug")

        until(stuck)
        jobs = sh(*cli, "job", "list")
        assert any(" new-test-job " in line and " deploying " in line for line in jobs.splitlines()), jobs
        execs = sh(*cli, "execution", "list")
        new = [line for line in execs.splitlines() if " new-test-job " in line]
        assert len(new) == 2 and all("| pending | running |" in line for line in new), execs
        nodes_after = sh(*cli, "node", "list")
        assert sorted(line.split("|")[1].strip() for line in nodes_after.splitlines()
                      if " connected " in line) == ids  # same identities: the named volumes
        grep = [line for line in sh("docker", "logs", "orchestrator-debug").splitlines()
                if "DISPATCH" in line or "PUBLISH" in line]
        assert sum("connection_exists=true connection_alive=true" in line for line in grep) == 4
        js = json.loads(sh(*cli, "job", "list", "--format", "json"))
        assert {j["name"]: j["status"]["state"]["state_type"] for j in js} == \
            {"test-heartbeat": "running", "new-test-job": "deploying"}
    finally:
        subprocess.run([*compose, "down", "-v"], capture_output=True, env=env, cwd=ROOT, timeout=120)


@pytest.mark.docker
def test_bad_inputs_give_one_line_and_leave_nothing(clean, tmp_path: Path, root: Path) -> None:
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", list(QUICK_SETS))
    # images not built
    with pytest.raises(ImagesMissing) as e:
        _stack(tmp_path, sc, image_tag="not-built").up()
    assert "expanso-orchestrator:not-built" in str(e.value) and "build-debug.sh" in str(e.value)
    assert not _leftovers(clean)
    # a stack already running under the same names
    squatter = clean.containers.run(images.EMULATED["nats"], name="nats-debug", detach=True,
                                    labels={"com.docker.compose.project": "someone-else"})
    try:
        with pytest.raises(StackConflict) as e:
            _stack(tmp_path, sc).up()
        assert "nats-debug" in str(e.value) and "down -v" in str(e.value) and "\n" not in str(e.value)
        squatter.reload()
        assert squatter.status == "running"  # someone else's container: left alone
    finally:
        squatter.remove(force=True)


@pytest.mark.docker
def test_cli_failure_and_wait_timeout_tear_down(clean, tmp_path: Path, root: Path) -> None:
    doc = {"name": "timeout", "timings": {"preset": "fast"},
           "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 3, "timeout": "2s"}}]}
    sc = parse_scenario(doc, path=ROOT / "scenarios" / "inline.yaml")
    stack = _stack(tmp_path, sc)
    stack.up()
    try:
        with pytest.raises(CliCommandError) as e:
            stack.cli("job", "deploy", "/tmp/nope.yaml")
        assert "failed in orchestrator-debug (exit 1)" in str(e.value)
        assert "failed to read job specification file" in str(e.value) and "\n" not in str(e.value)
    finally:
        stack.down()
    assert not _leftovers(clean)
    # a wait that times out: the run ends with the error, the logs captured so far, nothing left running
    stack = _stack(tmp_path / "2", sc)
    run = run_scenario(sc, stack=stack)
    assert run.error and "timed out after 2s" in run.error and "\n" not in run.error
    assert (stack.logs / "orchestrator.log").read_text().count("NATS: connected") == 1
    assert not _leftovers(clean)


@pytest.mark.docker
def test_build_debug_builds_real_images_from_bin(docker_env, tmp_path: Path) -> None:
    """The real-binary path: Linux ELF files in BIN_DIR become expanso-*:<tag> images (offline,
    FROM the local base image); /bin/true stands in for the binaries."""
    for b in ("expanso-orchestrator", "expanso-edge", "expanso-cli"):
        shutil.copy("/bin/true", tmp_path / b)
    tag = f"repro-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BIN_DIR": str(tmp_path), "EXPANSO_IMAGE_TAG": tag, "BASE_IMAGE": images.BASE_TAG}
    try:
        r = subprocess.run([str(ROOT / "build-debug.sh")], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        for role in ("orchestrator", "edge"):
            img = docker_env.images.get(f"expanso-{role}:{tag}")
            assert img.attrs["Config"]["Entrypoint"] == [f"expanso-{role}"]
            out = docker_env.containers.run(f"expanso-{role}:{tag}", remove=True)  # /bin/true: exit 0
            assert out == b""
    finally:
        for role in ("orchestrator", "edge"):
            try:
                docker_env.images.remove(f"expanso-{role}:{tag}", force=True)
            except Exception:  # noqa: BLE001, S110 - never built
                pass


@pytest.mark.docker
def test_emulated_images_carry_no_pandas(docker_env) -> None:
    for tag in (images.EMULATED["orchestrator"], images.EMULATED["edge"]):
        out = docker_env.containers.run(tag, entrypoint=["python3", "-c",
                                        "import importlib.util as u; print([m for m in ('pandas', 'matplotlib', "
                                        "'jupyter', 'nats', 'yaml') if u.find_spec(m)])"], remove=True)
        assert out.decode().strip() == "['nats', 'yaml']"
    labels = docker_env.images.get(images.EMULATED["edge"]).labels
    assert labels.get(images.LABEL)


@pytest.mark.docker
def test_cloud_stack_against_an_emulated_cloud_never_leaks_secrets(clean, tmp_path: Path, root: Path) -> None:
    """CloudStack end to end, with the emulated orchestrator + nats-server on this host standing in
    for Expanso Cloud: edges bootstrap with the token from .env, snapshots go through the CLI with
    --endpoint, and neither the token nor the API key appears in anything the kit wrote or said."""
    import sys

    from repro_lib.stacks.cloud import CloudStack
    from repro_lib.stacks.compose import _free_port
    from repro_lib.stacks.local import find_nats_server

    nats_bin = find_nats_server()
    if nats_bin is None:
        pytest.skip("no nats-server binary for the emulated cloud")
    import ipaddress

    ipam = clean.networks.get("bridge").attrs["IPAM"]["Config"][0]  # docker0: host-gateway's address
    gateway = ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
    nats_port, api_port = _free_port(), _free_port()
    standalone = str(ROOT / "repro_lib" / "emulator" / "standalone.py")
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", list(QUICK_SETS))
    token, key = f"tok-{uuid.uuid4().hex}", f"key-{uuid.uuid4().hex}"
    cloud_env = {**os.environ, "EXPANSO_NATS_URL": f"nats://{gateway}:{nats_port}", "EXPANSO_API_HOST": "127.0.0.1",
                 "EXPANSO_API_PORT": str(api_port), "EXPANSO_DATA_DIR": str(tmp_path / "cloud"),
                 "EXPANSO_EMULATOR_TIMINGS": json.dumps(sc.timings.as_dict())}
    (tmp_path / ".env").write_text(
        f"EXPANSO_ENDPOINT=http://127.0.0.1:{api_port}\nEXPANSO_EDGE_BOOTSTRAP_TOKEN={token}\n"
        f"EXPANSO_CLI_AUTH_API_KEY={key}\nEXPANSO_IMAGE_TAG=emulated\n"
        f"EXPANSO_NATS_URL=nats://host.docker.internal:{nats_port}\n")
    said: list[str] = []
    with open(tmp_path / "cloud-nats.log", "wb") as nlog, open(tmp_path / "cloud-orch.log", "wb") as olog:
        nats = subprocess.Popen([nats_bin, "-a", gateway, "-p", str(nats_port)], stdout=nlog, stderr=nlog)
        orch = subprocess.Popen([sys.executable, standalone, "orchestrator", "run"], stdout=olog, stderr=olog,
                                env=cloud_env)
    stack = CloudStack(sc, env_file=tmp_path / ".env", project=TEST_PROJECT, cli=[sys.executable, standalone, "cli"],
                       work_dir=tmp_path / "work", progress=said.append)
    try:
        stack.up()
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 2, 40)
        assert (stack.logs / "edge1.log").read_text().count("EDGE: bootstrapped") == 1
        from repro_lib.jobs import load_job

        assert stack.deploy(load_job(ROOT / "pipelines" / "test-job.yaml")) == "created"
        assert stack.wait_for(lambda: stack.count_executions("test-heartbeat", "running") == 2, 30)
        code, _ = clean.containers.get("edge1").exec_run(
            ["sh", "-c", "echo token is $EXPANSO_EDGE_BOOTSTRAP_TOKEN > /proc/1/fd/1"])
        assert code == 0
        stack.kill(["edge1", "edge2"])
        stack.start(["edge1", "edge2"])
        # no volumes in the cloud flow: the edges come back as new nodes, the old ones linger
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 4, 40)
        snap = stack.snapshot("after restart")
        assert sum(1 for n in snap.nodes if n.get("alive")) == 2
    finally:
        stack.down()
        for p in (orch, nats):
            p.terminate()
            p.wait(10)
    assert "token is ***" in (stack.logs / "edge1.log").read_text()
    for f in stack.work.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert token.encode() not in data and key.encode() not in data, f
    assert not any(token in s or key in s for s in said)


def test_env_file_inline_comments_and_quotes_do_not_leak(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("EXPANSO_EDGE_BOOTSTRAP_TOKEN=tok-abcdef123 # my token\n"
                   'EXPANSO_CLI_AUTH_API_KEY="key-xyz789" # comment\n'
                   "export EXPANSO_ENDPOINT='https://example.invalid' # endpoint\n"
                   'OTHER="a \\"quoted\\" # not a comment"\n')
    values = read_env_file(env)
    assert values["EXPANSO_EDGE_BOOTSTRAP_TOKEN"] == "tok-abcdef123"
    assert values["EXPANSO_CLI_AUTH_API_KEY"] == "key-xyz789"
    assert values["EXPANSO_ENDPOINT"] == "https://example.invalid"
    assert values["OTHER"] == 'a "quoted" # not a comment'
    r = Redactor(secrets_from(values))
    assert r("token is tok-abcdef123, key key-xyz789") == f"token is {MASK}, key {MASK}"
    assert r.redact_bytes(b"\xff tok-abcdef123 \xfe") == b"\xff " + MASK.encode() + b" \xfe"

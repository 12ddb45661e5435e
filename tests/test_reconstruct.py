"""Incident → scenario (issue 19 part 2): logs → a scenario whose header names the line behind each step;
replayed on the sim it gives the verdict the logs show. The kit's own runs are read WITHOUT the
`sim`/`stack` FAULT and ACTION lines, so every fault must come from what the orchestrator, the edges and
NATS log."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lib.analysis.reconstruct import HEADER_MARK, locate, reconstruct, write_scenario
from repro_lib.cli import main
from repro_lib.errors import ReproError
from repro_lib.inspect import events_from_logs, inspect_paths
from repro_lib.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "fixtures" / "real"
OWN = ("sim", "stack")  # the kit's own record of what it did: left out


def own_logs(name_or_path: str | Path, tmp: Path, sets: list[str] | None = None,
             banner: bool = False) -> tuple[object, list[Path]]:
    """Run a scenario on the sim, write its run folder, return (run, its logs without sim/stack and, unless
    ``banner``, without the orchestrator's start banner)."""
    path = ROOT / "scenarios" / name_or_path if isinstance(name_or_path, str) else name_or_path
    run = run_scenario(load_scenario(path, sets))
    out = run.write(tmp / "run")
    if not banner:  # the orchestrator's start banner names its timings and fix: without it they are inferred
        orch = out / "logs" / "orchestrator.log"
        orch.write_text("".join(ln for ln in orch.read_text().splitlines(keepends=True)
                                if "ORCHESTRATOR: started" not in ln or "restart=true" in ln))
    return run, sorted(p for p in (out / "logs").glob("*.log") if p.stem not in OWN)


def roundtrip(logs: list[Path], tmp: Path) -> tuple[object, object, Path]:
    ev = events_from_logs(logs)
    assert not ev["source"].isin(OWN).any()
    rec = locate(reconstruct(ev), logs)
    written = write_scenario(rec, tmp / "out" / "incident.yaml", sources=[p.name for p in logs])
    return ev, rec, written[0]


def ops(rec: object) -> list[tuple[str, object]]:
    return [(s.op, s.args) for s in rec.steps]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name, verdict", [("core-395.yaml", "reproduced"), ("brief-blip.yaml", "not_reproduced"),
                                           ("new-identities.yaml", "inconclusive")])
def test_own_runs_without_fault_lines_replay_to_the_same_verdict(name: str, verdict: str, tmp_path: Path,
                                                                 root: Path) -> None:
    run, logs = own_logs(name, tmp_path)
    assert run.verdict.verdict == verdict
    ev, rec, path = roundtrip(logs, tmp_path)
    assert rec.verdict == verdict
    replay = run_scenario(load_scenario(path))
    assert replay.error is None and replay.verdict.verdict == verdict
    assert replay.matches_expect()[0]
    # the faults the sim did, recovered from the orchestrator/edge/NATS lines only
    steps = {s.op: s for s in rec.steps}
    assert "kill" in steps and "start" in steps
    real_start = {r["t_start_s"] for r in run.steps if r["op"] == "start"}
    assert any(abs(steps["start"].t - t) < 0.01 for t in real_start)  # logged: the edge's "EDGE: starting"
    assert steps["start"].basis == "logged" and steps["kill"].basis == "inferred"
    if name == "new-identities.yaml":
        assert steps["start"].args == {"edges": ["edge1", "edge2"], "new_identity": True}
    elif name == "brief-blip.yaml":
        assert steps["kill"].args == ["edge1"]
    # the interval the evidence allows holds the sim's kill, and the kill is placed before the first message NATS
    # dropped for the edge (a restart's kill goes as late as the evidence allows: just before it shows it gone)
    real_kill = min(r["t_start_s"] for r in run.steps if r["op"] == "kill")
    lo, hi = steps["kill"].window
    assert lo - 0.01 <= real_kill <= hi + 0.01 and lo <= steps["kill"].t <= hi
    drops = ev[(ev["kind"] == "deliver") & ev["state"].isin(["lost", "dropped"])]["t_s"]
    if len(drops):
        assert steps["kill"].t < float(drops.min())
    text = path.read_text()
    assert text.startswith(HEADER_MARK)
    assert "edge1.log:" in text and "orchestrator.log:" in text and "[logged]" in text and "[inferred:" in text


def test_header_names_line_basis_and_timings(tmp_path: Path, root: Path) -> None:
    _, logs = own_logs("core-395.yaml", tmp_path)
    _, rec, path = roundtrip(logs, tmp_path)
    head = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
    steps = [ln for ln in head if ln.startswith("# step ")]
    assert len(steps) == len(rec.steps)
    assert all("←" in ln and ln.rstrip().endswith("]") for ln in steps)
    deploy = next(ln for ln in steps if "deploy new-test-job" in ln)
    assert 'orchestrator.log:' in deploy and 'msg="JOB: state changed" job_id=new-test-job' in deploy
    assert any("reeval_batch_delay = 15s [inferred" in ln for ln in head)
    assert any("disconnect_timeout = 5m [default" in ln for ln in head)
    # job stand-ins beside it, loadable, marked as the kit's
    for job in ("test-heartbeat", "new-test-job"):
        f = path.parent / f"incident.{job}.yaml"
        assert f.read_text().startswith(HEADER_MARK)
    # the what-if runs
    assert run_scenario(load_scenario(path, ["fix=block"])).verdict.verdict == "reproduced"


def test_every_step_kind_from_logs(tmp_path: Path, root: Path) -> None:
    """partition/heal, an orchestrator restart, a join, an update (version 2), a stop and a kill — placed
    from the orchestrator's and edges' lines alone."""
    (tmp_path / "sc").mkdir()
    job = (ROOT / "pipelines" / "test-job.yaml").read_text()
    (tmp_path / "sc" / "j1.yaml").write_text(job)
    (tmp_path / "sc" / "j2.yaml").write_text(job.replace("30s", "20s"))
    sc = tmp_path / "sc" / "mix.yaml"
    sc.write_text("""name: mix
timings: {preset: fast}
edges: [edge1, edge2]
steps:
  - up: {}
  - wait_for: {nodes: connected, count: 2, timeout: 2m}
  - deploy: j1.yaml
  - sleep: 5s
  - partition: [edge2]
  - sleep: 6s
  - heal: [edge2]
  - sleep: 3s
  - restart_orchestrator: {downtime: 2s}
  - sleep: 5s
  - join: edge3
  - sleep: 4s
  - deploy: j2.yaml
  - sleep: 3s
  - stop_job: test-heartbeat
  - sleep: 3s
  - kill: [edge1]
  - sleep: 10s
  - snapshot: {}
""")
    run, logs = own_logs(sc, tmp_path)
    _, rec, path = roundtrip(logs, tmp_path)
    got = ops(rec)
    assert [o for o, _ in got] == ["up", "wait_for", "deploy", "partition", "heal", "restart_orchestrator", "join",
                                   "deploy", "stop_job", "kill"]
    assert ("partition", ["edge2"]) in got and ("kill", ["edge1"]) in got and ("join", "edge3") in got
    assert ("deploy", ("test-heartbeat", 2)) in got
    assert rec.preset.value == "fast" and rec.preset.basis == "inferred"
    assert rec.edges == ["edge1", "edge2"]  # edge3 joins
    replay = run_scenario(load_scenario(path))
    assert replay.verdict.verdict == run.verdict.verdict == "not_reproduced"
    # every placed time is within a heartbeat + health check of what the sim did
    did = {(r["op"]): r["t_start_s"] for r in run.steps if r["op"] in ("partition", "heal", "join", "kill", "stop_job")}
    for s in rec.steps:
        if s.op in did:
            assert abs(s.t - did[s.op]) <= 2.0, (s.op, s.t, did[s.op])


def test_reference_compose_run(tmp_path: Path) -> None:
    """The real compose capture: with its docker events the faults are logged; without them (orchestrator,
    edges, NATS only) inferred — the replay gives the logs' verdict either way."""
    folder = ROOT / "data" / "reference-run" / "logs"
    for leave_out in (("stack",), ("stack", "docker")):
        logs = sorted(p for p in folder.glob("*.log") if p.stem not in leave_out)
        rec = reconstruct(events_from_logs(logs))
        kill = next(s for s in rec.steps if s.op == "kill")
        assert kill.basis == ("logged" if "docker" not in leave_out else "inferred")
        assert rec.verdict == "reproduced"
        path = write_scenario(rec, tmp_path / f"ref-{len(leave_out)}.yaml")[0]
        assert run_scenario(load_scenario(path)).verdict.verdict == "reproduced"


# -- real public Bacalhau text ------------------------------------------------------------------------------
def test_real_node_list_disconnected_places_no_fault() -> None:
    ins = inspect_paths([str(REAL / "bacalhau-issue-4460-node-list-disconnected-prompt.txt")])
    rec = reconstruct(ins.events)
    assert [s.op for s in rec.steps] == ["up"] and rec.edges == [] and rec.jobs == {}
    assert sorted(u.split()[1] for u in rec.unplaced) == ["n-0020de07", "n-346f5e00"]
    assert all("no line says when" in u for u in rec.unplaced)


def test_real_compute_connect_log_names_the_edge_and_nothing_else() -> None:
    rec = reconstruct(events_from_logs([REAL / "bacalhau-issue-4860-compute-ncl-connect-1.6.log"]))
    assert rec.edges == ["QmTeDSDo6QCUuZw17qEU9LHMMtNFTWs1vLP46nwe7V5txw"]
    assert [s.op for s in rec.steps] == ["up"]
    assert any("names no edge" in n for n in rec.notes)
    assert rec.preset.basis == "default" and rec.fix.basis == "default"


def test_real_compute_execution_log_infers_the_deploy() -> None:
    rec = reconstruct(events_from_logs([REAL / "bacalhau-docs-compute-execution-kv-1.3.log"]))
    deploy = [s for s in rec.steps if s.op == "deploy"]
    assert len(deploy) == 1 and deploy[0].basis == "inferred" and "first line naming it" in deploy[0].rule
    job = next(iter(rec.jobs.values()))
    assert job.type == "pipeline" and job.type_basis == "inferred"
    assert not any(s.op in ("kill", "start", "partition") for s in rec.steps)


def test_real_progress_table_says_what_it_cannot_place() -> None:
    ins = inspect_paths([str(REAL / "bacalhau-pr-4550-job-run-progress-s3-prompt.txt")])
    rec = reconstruct(ins.events)
    assert [s.op for s in rec.steps] == ["up"]
    assert any("2 execution(s) in CLI progress tables" in u for u in rec.unplaced)


def test_real_text_with_nothing_to_reconstruct() -> None:
    ins = inspect_paths([str(REAL / "bacalhau-pr-4823-boltdb-panic.log")])
    with pytest.raises(ReproError, match="nothing could be reconstructed"):
        reconstruct(ins.events)


# -- bad input --------------------------------------------------------------------------------------------
def test_cli_scenario_refuses_a_user_file(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "incident.yaml"
    mine.write_text("my notes\n")
    rc = main(["inspect", "data/reference-run/logs/orchestrator.log", "--scenario", str(mine)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not written by repro" in err
    assert mine.read_text() == "my notes\n"


def test_cli_empty_logs_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    out = tmp_path / "incident.yaml"
    rc = main(["inspect", str(empty), "--scenario", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "nothing could be reconstructed" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty.log"]


def test_cli_scenario_writes_runs_and_rewrites_its_own(tmp_path: Path, root: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, logs = own_logs("core-395.yaml", tmp_path)
    secret = "tok_" + "s3cr3tvalue9876"
    orch = next(p for p in logs if p.stem == "orchestrator")
    lines = orch.read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if "JOB: state changed" in ln and "new-test-job" in ln)
    lines[i] += f" token={secret}"
    orch.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "incident.yaml"
    args = ["inspect", *map(str, logs), "--scenario", str(out)]
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "reconstructed schedule" in shown and "conformance:" in shown and "0 disagree" in shown
    text = out.read_text()
    assert secret not in text and secret not in shown and "new-test-job" in text
    assert main(["run", str(out), "--quiet"]) == 0  # matches its expect
    assert "VERDICT: reproduced" in capsys.readouterr().out
    assert main(args) == 0  # the kit's own file: replaced


def test_one_file_over_a_year_is_refused_as_more_than_one_incident(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario's sleep is at most 365 days: one file whose lines span more is refused in one line that says
    so (not a duration error about a sleep the user never wrote), and no scenario is written."""
    lines = []
    for year, hour in ((2024, 5), (2025, 9)):
        lines.append(f'time={year}-03-01T0{hour}:00:00.000Z level=INFO msg="ORCHESTRATOR: started" restart=false')
        lines.append(f'time={year}-03-01T0{hour}:00:01.000Z level=INFO msg="NODE: state changed" node_id=n-1 '
                     "state=connected")
    log = tmp_path / "orchestrator.log"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.yaml"
    assert main(["inspect", "--scenario", str(out), str(log)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not one incident" in err[0] and "365d" in err[0], err
    assert not out.exists()

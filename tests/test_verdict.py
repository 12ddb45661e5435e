"""The verdict and diagnosis a sceptical maintainer can check (issue 8): every example from the issue
as a named test, counts pinned against the log lines, evidence honesty in `repro inspect`, and
property tests over the timings."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_lib import load_scenario, run_scenario
from repro_lib.analysis import CAUSE_LOST, CAUSE_PROBABLE_LOST, CLASSES, delivery_table, diagnose
from repro_lib.analysis.diagnosis import SHOW_PER_CLASS
from repro_lib.cli import main
from repro_lib.inspect import inspect_paths
from repro_lib.run import Run
from repro_lib.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


def run(name: str, *sets: str, seed: int = 0) -> Run:
    return run_scenario(load_scenario(ROOT / "scenarios" / f"{name}.yaml", list(sets)), seed=seed)


def run_doc(doc: dict[str, Any]) -> Run:
    return run_scenario(parse_scenario(doc, path=ROOT / "scenarios" / "inline.yaml"))


def classes_of(r: Run) -> dict[str, str]:
    t = r.verdict.table
    return dict(zip(t["execution"], t["class"], strict=True)) if t is not None else {}


def grep_count(r: Run, pattern: str) -> int:
    return len(r.log_lines(pattern))


# -- the issue's examples: false `reproduced` ------------------------------------------------------------
def test_healthy_deploy_snapshotted_half_a_second_later_is_not_reproduced() -> None:
    r = run_doc({"name": "healthy", "edges": ["edge1", "edge2"], "steps": [
        {"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "2m"}},
        {"deploy": "pipelines/test-job.yaml"}, {"sleep": "500ms"}, {"snapshot": {}}]})
    assert r.final.job("test-heartbeat")["state"] == "deploying"  # the snapshot really is that early
    assert r.verdict.verdict == "inconclusive" and not r.verdict.stuck
    assert set(classes_of(r).values()) <= {"delivered", "in_flight"}
    later = run_doc({"name": "healthy", "edges": ["edge1", "edge2"], "steps": [
        {"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "2m"}},
        {"deploy": "pipelines/test-job.yaml"}, {"sleep": "10m"}, {"snapshot": {}}]})
    assert later.verdict.verdict == "not_reproduced"


def test_block_still_retrying_is_inconclusive_and_cured_given_time() -> None:
    sets = ("fix=block", "timings.transport_register_delay=60s")
    r = run("transport-race", *sets, "params.settle=30s")
    assert "attempt=8 backoff=25.6s" in r.grep("DISPATCH")  # the log the issue quotes
    assert r.verdict.verdict == "inconclusive"
    assert sorted(classes_of(r).values()) == ["blocked", "retrying"]
    due = r.verdict.table.loc[r.verdict.table["class"] == "retrying", "due_s"].iloc[0]
    assert due > r.final.t_s and any(f"next attempt at t={due:.1f}s" in x for x in r.verdict.reasons)
    assert run("transport-race", *sets, "params.settle=3m").verdict.verdict == "not_reproduced"


def test_pending_timeout_due_later_is_inconclusive_with_the_due_time() -> None:
    r = run("core-395", "fix=pending-timeout")
    assert r.verdict.verdict == "inconclusive"
    t = r.verdict.table
    assert set(t["class"]) == {"scheduled"} and (t["remedy"] == "pending-timeout re-dispatch").all()
    due = float(t["due_s"].max())
    assert any("needs a longer settle" in x and f"t={due:.1f}s" in x for x in r.verdict.reasons)
    # the model's own timer is right: the re-dispatch happens at exactly that time and cures the job
    cured = run("core-395", "fix=pending-timeout", "params.settle=5m")
    redis = cured.events.query("kind == 'dispatch' and state == 'redispatch'")["t_s"]
    assert redis.min() == pytest.approx(due) and cured.verdict.verdict == "not_reproduced"


def test_head_of_line_blocked_job_is_its_own_finding_not_issue_395() -> None:
    r = run("head-of-line", "fix=block", "params.settle=5s")
    t = r.verdict.table
    zone_b = t[t["job"] == "zone-b-job"]
    assert len(zone_b) == 1 and set(zone_b["class"]) == {"blocked"}
    assert r.verdict.verdict == "inconclusive" and not r.verdict.stuck
    assert any("head-of-line" in x and "not issue 395" in x for x in r.verdict.reasons)
    d = r.diagnose()
    assert any(f.cls == "blocked" and f.job == "zone-b-job" and "head-of-line" in f.cause for f in d.findings)


# -- the issue's example: false `inconclusive` ---------------------------------------------------------
def _short_cut(semantics: str) -> Run:
    return run_doc({"name": "partition", "fix": "redispatch-on-join", "edges": ["edge1", "edge2"],
                    "timings": {"nats_semantics": semantics}, "steps": [
        {"up": {}}, {"wait_for": {"nodes": "connected", "count": 2, "timeout": "2m"}},
        {"partition": ["edge1", "edge2"]}, {"deploy": "pipelines/new-job.yaml"}, {"sleep": "30s"},
        {"heal": ["edge1", "edge2"]}, {"sleep": "10m"}, {"snapshot": {}}]})


def test_lost_redispatch_during_a_short_partition_is_reproduced_under_the_drop_reading() -> None:
    r = _short_cut("drop")  # [I]: the message to a cut-off edge dropped at once
    c = r.event_counts()
    assert c["dispatch_lost"] == 4 and c["redispatches"] == 2  # the start-up re-dispatch was lost too
    assert {n["state"] for n in r.final.nodes} == {"connected"}
    assert r.final.job("new-test-job")["state"] == "deploying"
    assert r.verdict.verdict == "reproduced" and len(r.verdict.stuck) == 2
    assert {s.cause for s in r.verdict.stuck} == {"lost"}


def test_as_nats_behaves_a_short_partition_delivers_late_and_nothing_is_stuck() -> None:
    r = _short_cut("nats")
    c = r.event_counts()
    assert c["dispatch_lost"] == 0 and r.verdict.verdict == "not_reproduced"
    assert r.final.job("new-test-job")["state"] == "running"


# -- counts ----------------------------------------------------------------------------------------------
def test_a_refusal_counts_once_although_it_logs_two_lines() -> None:
    r = run("transport-race")
    assert grep_count(r, "PUBLISH: Node not connected") == 2
    assert grep_count(r, r"PUBLISH: Checking node connection.*connection_exists=false") == 2
    assert r.event_counts()["dispatch_refused"] == 2


def test_dispatch_attempts_are_first_attempts_and_retries_stand_beside_them() -> None:
    r = run("transport-race", "fix=block", "timings.transport_register_delay=60s", "params.settle=30s")
    c = r.event_counts()
    assert c["dispatch_retries"] == grep_count(r, "DISPATCH: Failed to send execution assignment - retrying") - 1
    assert c["dispatch_attempts"] + c["dispatch_retries"] == grep_count(r, "DISPATCH: Attempting")
    first = r.events.query("kind == 'dispatch' and state == 'attempt'").drop_duplicates("execution")
    # two per job, whatever Block did after; but one new-test-job execution still waits behind the head
    assert c["dispatch_attempts"] == len(first) == 3 and sorted(classes_of(r).values()) == ["blocked", "retrying"]


# scenario -> dispatch_attempts, dispatch_retries, dispatch_lost, dispatch_refused, dispatch_skipped, redispatches
PINNED = {
    "brief-blip": (2, 0, 0, 0, 0, 0),
    "cascading": (6, 0, 2, 0, 0, 0),
    "core-395": (4, 0, 2, 0, 0, 0),
    "edges-never-return": (4, 0, 2, 0, 0, 0),
    "fix-c-ack-skips": (2, 0, 1, 0, 0, 0),
    "head-of-line": (7, 0, 0, 2, 2, 0),
    "new-identities": (8, 0, 2, 0, 0, 0),
    "new-node-joins": (3, 0, 0, 0, 0, 0),
    "query-job": (4, 0, 2, 2, 2, 0),
    "transport-race": (4, 0, 0, 2, 2, 0),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_counts_pinned_per_shipped_scenario_and_equal_to_the_log_lines(name: str) -> None:
    r = run(name)
    c = r.event_counts()
    keys = ("dispatch_attempts", "dispatch_retries", "dispatch_lost", "dispatch_refused", "dispatch_skipped",
            "redispatches")
    assert tuple(c[k] for k in keys) == PINNED[name]
    assert c["dispatch_attempts"] + c["dispatch_retries"] == grep_count(r, "DISPATCH: Attempting")
    assert c["dispatch_refused"] == grep_count(r, "PUBLISH: Node not connected")
    assert c["dispatch_skipped"] == grep_count(r, "EVENT WILL BE SKIPPED")
    assert c["dispatch_lost"] == grep_count(r, "NATS: (no subscriber|partitioned).*type=RunExecutionRequest")


# -- every shipped scenario keeps its verdict ------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenarios_keep_their_verdicts(name: str) -> None:
    r = run(name)
    ok, problems = r.matches_expect()
    assert ok, problems
    assert set(r.verdict.classes) <= set(CLASSES)


# -- evidence honesty in `repro inspect` -----------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_inspect_of_the_orchestrator_log_alone_never_claims_a_loss(name: str, tmp_path: Path) -> None:
    r = run(name)
    r.write(tmp_path / "run")
    ins = inspect_paths([str(tmp_path / "run" / "logs" / "orchestrator.log")])
    d = ins.diagnosis
    assert CAUSE_LOST not in {f.cause for f in d.findings}
    for f in d.findings:
        if f.dispatch in ("published", "lost") and f.cls != "awaiting_node":  # (the node's fate is its own)
            assert f.cause == CAUSE_PROBABLE_LOST and f.confidence == "not checked" and f.cls == "unknown"
    if any(f.cause == CAUSE_PROBABLE_LOST for f in d.findings):
        assert "delivery not checked" in ins.text() and "pass the edge logs" in ins.text()
    if d.verdict is not None and d.verdict.verdict == "reproduced":  # only what the orchestrator itself saw
        assert {s.cause for s in d.verdict.stuck} == {"refused"}


@pytest.mark.parametrize("name", SCENARIOS)
def test_inspect_with_edge_logs_names_lost_and_delivered_like_the_sim_knows(name: str, tmp_path: Path) -> None:
    r = run(name)
    r.write(tmp_path / "run")
    logs = tmp_path / "run" / "logs"
    # the truth, from the sim (NATS logs every drop); then judged from the orchestrator + edge logs only
    truth = delivery_table(r.events, snapshot=r.final, timings=r.timings)
    ins = inspect_paths([str(logs / "orchestrator.log"), *map(str, sorted(logs.glob("edge*.log")))])
    judged = ins.diagnosis.table.set_index("execution")
    assert set(judged.index) == set(truth["execution"])
    for ex, outcome in zip(truth["execution"], truth["outcome"], strict=True):
        said = judged.loc[ex]
        if outcome == "lost":
            assert said["outcome"] in ("published", "sent") and said["edge_log"], ex
            assert said["class"] in ("lost", "awaiting_node"), ex
        elif outcome == "delivered":
            assert said["class"] == "delivered", ex
        else:
            assert said["outcome"] == outcome, ex


def test_unreadable_edge_log_is_not_taken_as_evidence_of_loss(tmp_path: Path) -> None:
    """An edge log in a format the parser cannot read (colour codes, no time) proves nothing."""
    r = run("core-395")
    r.write(tmp_path / "run")
    logs = tmp_path / "run" / "logs"
    garbled = tmp_path / "edge1.log"
    garbled.write_text("".join(f"\x1b[90m??\x1b[0m \x1b[32mINF\x1b[0m {line}" for line in
                               (logs / "edge1.log").read_text().splitlines(keepends=True)))
    ins = inspect_paths([str(logs / "orchestrator.log"), str(garbled)])
    assert {f.cause for f in ins.diagnosis.findings} == {CAUSE_PROBABLE_LOST}
    assert "cannot show what an edge received" in ins.text() or "cannot show what that edge received" in ins.text()


def test_inspect_of_logs_alone_draws_liveness_as_unknown_not_up(tmp_path: Path) -> None:
    from repro_lib.analysis import timeline as tl

    r = run("core-395")
    r.write(tmp_path / "run")
    ins = inspect_paths([str(tmp_path / "run" / "logs" / "orchestrator.log")])
    actual = tl.actual_intervals(ins.events)
    assert len(actual) == 2 and set(actual["state"]) == {"unknown"}
    assert tl.belief_gaps(ins.events).empty  # no "believed connected while down" without evidence of down


def test_executions_of_unknown_jobs_are_named_as_such_and_large_logs_summarise(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]
                                                                                ) -> None:
    lines = []
    for i in range(60):
        ex, node = f"e-{i:08x}", f"n-{i % 3:08x}"
        lines.append(f'time=2025-12-25T20:00:{i % 60:02d}.000Z level=DEBUG msg="DISPATCH: Attempting to send message" '
                     f"execution_id={ex} target_node={node}")
        lines.append(f'time=2025-12-25T20:00:{i % 60:02d}.001Z level=DEBUG msg="PUBLISH: Checking node connection" '
                     f"node_id={node} connection_exists=true connection_alive=true")
    log = tmp_path / "orchestrator.log"
    log.write_text("\n".join(sorted(lines)) + "\n")
    assert main(["inspect", str(log)]) == 0
    out = capsys.readouterr().out
    assert "None execution" not in out and "(job unknown)" in out
    assert out.count("- [unknown]") == SHOW_PER_CLASS and "60 pending executions" in out
    assert main(["inspect", str(log), "--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("- [") == 60 and out.count("- [in_flight]") == 2  # the last two: moments before the end


def test_publish_lines_without_an_execution_id_are_tied_to_the_dispatch_before_them(tmp_path: Path) -> None:
    """The real build's PUBLISH line names only the node (mechanics.md §5)."""
    text = (
        'time=2025-12-25T20:00:01.000Z level=DEBUG msg="DISPATCH: Attempting to send message" '
        "execution_id=e-1 target_node=n-a\n"
        'time=2025-12-25T20:00:01.001Z level=DEBUG msg="PUBLISH: Checking node connection" node_id=n-a '
        "connection_exists=false connection_alive=false\n"
        'time=2025-12-25T20:00:01.002Z level=ERROR msg="DISPATCH: Failed to send execution assignment - '
        'EVENT WILL BE SKIPPED" execution_id=e-1 target_node=n-a err="node not connected"\n'
        'time=2025-12-25T20:00:02.000Z level=DEBUG msg="DISPATCH: Attempting to send message" '
        "execution_id=e-2 target_node=n-a\n"
        'time=2025-12-25T20:00:02.001Z level=DEBUG msg="PUBLISH: Checking node connection" node_id=n-a '
        "connection_exists=true connection_alive=true\n")
    (tmp_path / "orchestrator.log").write_text(text)
    t = inspect_paths([str(tmp_path / "orchestrator.log")]).diagnosis.table.set_index("execution")
    assert t.loc["e-1", "outcome"] == "refused" and t.loc["e-1", "class"] == "refused"
    assert t.loc["e-2", "outcome"] == "published" and t.loc["e-2", "class"] in ("unknown", "in_flight")


def test_walkthrough_diagnosis_frame_has_the_class_column() -> None:
    d = run("core-395").diagnose()
    f = d.frame()
    assert list(f.columns)[:4] == ["execution", "job", "node", "class"] and set(f["class"]) == {"lost"}
    assert "<th>class</th>" in d._repr_html_()
    # one clock per column: created before the node rejoined; nothing is due, so no empty "next try" column
    assert "next_try_s" not in f.columns and (f["created_s"] < f["rejoined_s"]).all(), f
    assert all(" and was connected again at " in x.sentence() for x in d.findings), d.text()


def test_diagnosis_frame_shows_when_the_next_try_is_due() -> None:
    r = run("core-395", "fix=pending-timeout")
    f = r.diagnose().frame().set_index("execution")
    # the model's own timer, from the final snapshot (not the column the frame copies)
    timer = {e["id"]: round(float(e["remedy_at"]), 1) for e in r.final.executions if e.get("remedy_at") is not None}
    assert set(f.index) == set(timer) and all(f.loc[x, "next_try_s"] == t for x, t in timer.items()), (f, timer)
    assert (f["next_try_s"] > r.final.t_s).all(), f


# -- properties ------------------------------------------------------------------------------------------
_FIXES = st.sampled_from(["none", "block", "redispatch-on-join", "edge-reconcile", "pending-timeout"])


def _core(kill_to_deploy: float, downtime: float, settle: float, fix: str, extra: float = 0.0) -> list[str]:
    return [f"params.kill_to_deploy={kill_to_deploy:.3f}s", f"params.downtime={downtime:.3f}s",
            f"params.settle={settle + extra:.3f}s", f"fix={fix}"]


def _race(delay: float, settle: float, fix: str, extra: float = 0.0) -> list[str]:
    return [f"timings.transport_register_delay={delay:.3f}s", f"params.settle={settle + extra:.3f}s",
            f"fix={fix}"]


_SCHEDULES = st.one_of(
    st.tuples(st.just("core-395"), st.builds(_core, st.floats(0, 400), st.floats(1, 120), st.floats(0.1, 90),
                                              _FIXES).map(tuple)),
    st.tuples(st.just("transport-race"), st.builds(_race, st.floats(0.5, 90), st.floats(0.1, 90),
                                                    _FIXES).map(tuple)),
    st.tuples(st.just("head-of-line"), st.builds(_race, st.floats(0.5, 90), st.floats(0.1, 90),
                                                  _FIXES).map(tuple)),
)


def _settle_longer(sets: tuple[str, ...], extra: float) -> list[str]:
    out = []
    for s in sets:
        if s.startswith("params.settle="):
            s = f"params.settle={float(s.split('=')[1][:-1]) + extra:.3f}s"
        out.append(s)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SCHEDULES, st.integers(0, 5))
def test_property_running_is_never_reproduced_and_quiet_keeps_or_decides(schedule: tuple[str, tuple[str, ...]],
                                                                        seed: int) -> None:
    name, sets = schedule
    r = run(name, *sets, seed=seed)
    v = r.verdict
    if all(j["state"] in ("running", "completed") for j in r.final.jobs):
        assert v.verdict != "reproduced"
    if v.verdict == "reproduced" or (v.verdict == "inconclusive" and v.classes and
                                     set(v.classes) <= {"retrying", "scheduled", "in_flight", "delivered"}):
        later = run(name, *_settle_longer(sets, 600), seed=seed)
        if v.verdict == "reproduced":
            assert later.verdict.verdict == "reproduced", (sets, later.verdict.reasons)
        else:
            assert later.verdict.verdict in ("reproduced", "not_reproduced"), (sets, later.verdict.reasons)


def test_diagnose_on_an_empty_table_is_quiet() -> None:
    import pandas as pd

    from repro_lib.events import COLUMNS

    d = diagnose(pd.DataFrame(columns=list(COLUMNS)))
    assert d.findings == [] and d.verdict is None


def test_cli_inspect_of_a_copied_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run("transport-race")
    r.write(tmp_path / "run")
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    assert main(["inspect", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert "VERDICT: reproduced" in out and "stuck (refused)" in out and "speaks for node" in out


def test_a_log_is_an_edge_log_by_what_it_says_not_by_its_file_name(tmp_path: Path) -> None:
    """An orchestrator log saved as edge1.log must not count as the edge's side of the story."""
    r = run("core-395")
    r.write(tmp_path / "run")
    misnamed = tmp_path / "edge1.log"
    shutil.copy(tmp_path / "run" / "logs" / "orchestrator.log", misnamed)
    ins = inspect_paths([str(misnamed)])
    assert [x.role for x in ins.read] == ["orchestrator"] and "an orchestrator log" in ins.text()
    assert {f.cause for f in ins.diagnosis.findings} == {CAUSE_PROBABLE_LOST}
    # and an edge log under an odd name still counts
    odd = tmp_path / "node-a.log"
    shutil.copy(tmp_path / "run" / "logs" / "edge1.log", odd)
    ins = inspect_paths([str(tmp_path / "run" / "logs" / "orchestrator.log"), str(odd)])
    assert {x.source: x.role for x in ins.read} == {"node-a": "edge", "orchestrator": "orchestrator"}
    causes = {f.name: f.cause for f in ins.diagnosis.findings}
    assert causes == {"edge1": CAUSE_LOST, "edge2": CAUSE_PROBABLE_LOST}


def _slog(t: float, msg: str, **kv: str) -> str:
    fields = " ".join(f"{k}={v}" for k, v in kv.items())
    return f'time=2025-12-25T20:{int(t) // 60:02d}:{t % 60:06.3f}Z level=INFO msg="{msg}" {fields}\n'


@pytest.mark.parametrize("publish_line", [True, False])
def test_without_node_lines_only_a_live_publish_shows_the_node_believed_connected(tmp_path: Path,
                                                                                  publish_line: bool) -> None:
    orch = _slog(1, "EXECUTION: state changed", execution_id="e-1", job_id="j", node_id="n-a", state="pending",
                 desired="running")
    orch += _slog(1.001, "DISPATCH: Attempting to send message", execution_id="e-1", target_node="n-a")
    if publish_line:
        orch += _slog(1.002, "PUBLISH: Checking node connection", node_id="n-a", connection_exists="true",
                      connection_alive="true")
    orch += _slog(90, "API: job list")
    edge = _slog(0.5, "Edge connected to orchestrator", node_id="n-a") + _slog(80, "EDGE: heartbeat", node_id="n-a")
    (tmp_path / "orchestrator.log").write_text(orch)
    (tmp_path / "edge-a.log").write_text(edge)
    d = inspect_paths([str(tmp_path / "orchestrator.log"), str(tmp_path / "edge-a.log")]).diagnosis
    assert d.verdict is not None
    if publish_line:  # connection_alive=true: believed connected; the edge logged on and never got it
        assert d.verdict.verdict == "reproduced" and [s.cause for s in d.verdict.stuck] == ["lost"]
    else:
        assert d.verdict.verdict == "inconclusive"
        assert any("is not in these logs" in r for r in d.verdict.reasons)


def test_large_diagnosis_html_summarises_too(tmp_path: Path) -> None:
    lines = [_slog(i * 0.01, "DISPATCH: Attempting to send message", execution_id=f"e-{i}", target_node="n-a")
             for i in range(400)]
    (tmp_path / "orchestrator.log").write_text("".join(lines))
    d = inspect_paths([str(tmp_path / "orchestrator.log")]).diagnosis
    h = d._repr_html_()
    assert len(d.table) == 400 and not d.shown_all
    assert "400 pending executions" in h and h.count("<li>[") <= SHOW_PER_CLASS * len(CLASSES)


@pytest.mark.parametrize("edge_span,cls,confidence", [((0.5, 80), "lost", "certain"),
                                                      ((0.5, 0.9), "lost", "probable"),
                                                      ((5, 80), "unknown", "not checked")])
def test_an_edge_log_proves_a_loss_only_around_the_send(tmp_path: Path, edge_span: tuple[float, float], cls: str,
                                                        confidence: str) -> None:
    orch = _slog(0.2, "NODE: state changed", node_id="n-a", name="edge-a", state="connected")
    orch += _slog(1, "EXECUTION: state changed", execution_id="e-1", job_id="j", node_id="n-a", state="pending",
                  desired="running")
    orch += _slog(1.001, "DISPATCH: Attempting to send message", execution_id="e-1", target_node="n-a")
    orch += _slog(1.002, "PUBLISH: Checking node connection", node_id="n-a", connection_exists="true",
                  connection_alive="true")
    orch += _slog(90, "API: job list")
    first, last = edge_span
    edge = _slog(first, "Edge connected to orchestrator", node_id="n-a") + _slog(last, "EDGE: heartbeat", node_id="n-a")
    (tmp_path / "orchestrator.log").write_text(orch)
    (tmp_path / "edge-a.log").write_text(edge)
    d = inspect_paths([str(tmp_path / "orchestrator.log"), str(tmp_path / "edge-a.log")]).diagnosis
    [f] = d.findings
    assert (f.cls, f.confidence) == (cls, confidence)
    assert d.verdict.verdict == ("reproduced" if cls == "lost" else "inconclusive")
    if cls == "unknown":
        assert "starts after the send" in f.cause


def test_nats_and_edge_logs_are_told_apart_by_their_lines_not_their_names(tmp_path: Path) -> None:
    r = run("core-395")
    r.write(tmp_path / "run")
    logs = tmp_path / "run" / "logs"
    shutil.copy(logs / "nats.log", tmp_path / "bus.log")        # NATS's own drop lines under another name
    shutil.copy(logs / "edge1.log", tmp_path / "nats.log")      # an edge's log under NATS's name
    ins = inspect_paths([str(logs / "orchestrator.log"), str(tmp_path / "bus.log"), str(tmp_path / "nats.log")])
    roles = {x.source: x.role for x in ins.read}
    assert roles["bus"] != "edge" and roles["nats"] == "edge"
    causes = {f.name: f.cause for f in ins.diagnosis.findings}
    assert causes == {"edge1": CAUSE_LOST, "edge2": CAUSE_LOST}  # NATS logged both drops, whatever the file's name

"""Diagnosis, timelines and `repro inspect`: on every shipped scenario, on stored runs, on raw logs."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from repro_lib import load_scenario, run_scenario  # noqa: E402
from repro_lib.analysis import (  # noqa: E402
    CAUSE_LOST,
    CAUSE_NEVER_RETURNED,
    CAUSE_REFUSED,
    NO_DISPATCH_HINT,
    diagnose,
)
from repro_lib.analysis import timeline as tl  # noqa: E402
from repro_lib.analysis.plots import plot_run, save  # noqa: E402
from repro_lib.cli import main  # noqa: E402
from repro_lib.inspect import inspect_paths  # noqa: E402
from repro_lib.logfmt import docker_prefix, format_record  # noqa: E402
from repro_lib.run import load_run  # noqa: E402

# scenario -> (cause of every pending new-test-job execution, how many)
EXPECTED_CAUSES = {
    "core-395": (CAUSE_LOST, 2),
    "cascading": (CAUSE_LOST, 2),
    "transport-race": (CAUSE_REFUSED, 2),
    "head-of-line": (CAUSE_REFUSED, 2),
    "edges-never-return": (CAUSE_NEVER_RETURNED, 2),
    "new-identities": (CAUSE_NEVER_RETURNED, 2),
    "brief-blip": (None, 0),
    "new-node-joins": (None, 0),
    "query-job": (None, 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CAUSES))
def test_diagnosis_names_the_stuck_executions_and_the_cause(root: Path, name: str) -> None:
    run = run_scenario(load_scenario(f"scenarios/{name}.yaml"))
    d = diagnose(run.events, run.final, run.timings)
    cause, n = EXPECTED_CAUSES[name]
    pending = {e["id"] for e in run.final.executions if e["state"] == "pending" and e["desired"] == "running"}
    assert {f.execution for f in d.findings} == pending and len(pending) == n
    assert {f.cause for f in d.findings} == ({cause} if cause else set())
    assert {f.execution for f in d.findings} >= {s.execution for s in run.verdict.stuck}
    for f in d.findings:
        assert f.job == "new-test-job" and f.name.split(" (")[0] in {"edge1", "edge2"}
        if name == "new-identities":   # the ghost shares its name with the new edge: the id tells them apart
            assert f.name == f"{f.name.split(' (')[0]} ({f.node})"
        assert f"Cause: {f.cause}." in d.text() and f.execution in d.text()
        assert len(d.evidence()) >= 3


def test_core_finding_tells_the_whole_story(root: Path) -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml"))
    f = run.diagnose().findings[0]
    kill = run.events.query("kind == 'fault' and state == 'kill'")["t_s"].iloc[0]
    start = run.events.query("kind == 'fault' and state == 'start'")["t_s"].iloc[0]
    assert f.dispatch == "lost" and f.node_up_at_dispatch is False and f.believed_at_dispatch == "connected"
    assert f.created_s > kill and f.returned_s == pytest.approx(start)
    # only what ran after the edge came back can judge it: one node-join evaluation, an empty plan
    assert [(t, d) for _, t, d in f.evals_after] == [("node-join", "produced an empty plan")]
    assert f.evals_after[0][0] > start


def test_belief_gap_is_the_kill_to_start_window(root: Path) -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml"))
    ev = run.events
    kill = ev.query("kind == 'fault' and state == 'kill'")["t_s"].iloc[0]
    start = ev.query("kind == 'fault' and state == 'start'")["t_s"].iloc[0]
    gaps = tl.belief_gaps(ev, run.final.t_s)
    assert sorted(gaps["name"]) == ["edge1", "edge2"]
    assert (gaps["t0"] == kill).all() and (gaps["t1"] == start).all()
    marks = tl.dispatch_marks(ev)
    lost = marks[marks["outcome"] == "lost"]
    assert len(lost) == 2 and set(lost["execution"]) == {f.execution for f in run.diagnose().findings}
    ex = run.executions_over_time
    assert set(ex.loc[ex["job"] == "new-test-job", "state"]) == {"pending"}


def test_timeline_figure_parts_and_png(root: Path, tmp_path: Path) -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml", ["fix=redispatch-on-join"]))
    fig = plot_run(run)
    top, nodes, execs, evals = fig.axes[:4]
    labels = [t.get_text() for t in nodes.get_yticklabels()]
    assert labels == ["edge1 · believed", "edge1 · actual", "edge2 · believed", "edge2 · actual"]
    assert len([t.get_text() for t in execs.get_yticklabels()]) == 4
    assert [t.get_text() for t in evals.get_yticklabels()] == ["node-join"]
    assert any("deploy new-test-job" in t.get_text() for t in top.texts)
    assert "verdict: not_reproduced" in fig._suptitle.get_text()
    png = tmp_path / "t.png"
    save(fig, str(png))
    assert png.stat().st_size > 20_000


def test_inspect_run_folder_and_its_logs_agree(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "scenarios/core-395.yaml", "--out", str(out), "--quiet"]) == 0
    loaded = load_run(out)
    assert loaded.verdict.verdict == "reproduced" and len(loaded.events) == len(run_scenario(
        load_scenario("scenarios/core-395.yaml")).events)
    from_dir = inspect_paths([str(out)])
    from_logs = inspect_paths(sorted(str(p) for p in (out / "logs").glob("*.log")))
    assert from_dir.diagnosis.causes == from_logs.diagnosis.causes
    assert set(from_logs.diagnosis.causes.values()) == {CAUSE_LOST}
    png = tmp_path / "i.png"
    assert main(["inspect", str(out), "--png", str(png)]) == 0
    assert "Cause: lost dispatch" in capsys.readouterr().out and png.is_file()


def test_inspect_docker_logs_with_json_format_and_prefix(root: Path, tmp_path: Path) -> None:
    run = run_scenario(load_scenario("scenarios/transport-race.yaml"))
    for source in ("orchestrator", "edge1", "edge2"):
        lines = [docker_prefix(run.epoch, r.t) + format_record(r, run.epoch, "json")
                 for r in run.records if r.source == source]
        (tmp_path / f"{source}-debug.log").write_text("\n".join(lines) + "\n")
    ins = inspect_paths([str(tmp_path)])
    assert set(ins.diagnosis.causes.values()) == {CAUSE_REFUSED} and len(ins.diagnosis.causes) == 2
    assert any("kills/starts" in n for n in ins.diagnosis.notes)  # no fault events in plain logs: said, not guessed


def test_inspect_uninstrumented_log_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "orchestrator.log"
    log.write_bytes(b"2025-12-25T20:00:00.000000000Z time=2025-12-25T20:00:00Z level=INFO msg=\"started\"\n"
                    b"\x00\xff garbage \xfe\n2025-12-25T20:00:01.0Z truncated line with no\n")
    assert main(["inspect", str(log)]) == 0
    out = capsys.readouterr().out
    assert NO_DISPATCH_HINT in out and "3 events" in out


def test_inspect_missing_path_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "/nonexistent/run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


def test_run_repr_html_and_grep(root: Path) -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml"))
    html = run._repr_html_()
    assert "VERDICT: reproduced" in html and "new-test-job" in html and "Stuck executions" in html
    text = run.grep("DISPATCH|PUBLISH")
    assert text.count("DISPATCH: Attempting to send message") == 4
    assert text.count("connection_exists=true connection_alive=true") == 4


def test_run_and_scenario_reprs_are_short_and_show_no_local_path(root: Path) -> None:
    run = run_scenario(load_scenario(root / "scenarios" / "core-395.yaml"))  # an absolute path
    text = repr(run) + repr(run.scenario)
    assert len(text) < 400 and str(root) not in text and "LogRecord" not in text, text
    assert "path='scenarios/core-395.yaml'" in text and "fix='none'" in text
    since = run.final.t_s - run.verdict.stuck[0].pending_s
    assert f"pending since t={since:.1f}s" in run.summary()


def test_pending_end_label_stays_inside_the_axis_when_zoomed(root: Path) -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml"))
    for xlim in (None, (0.0, 90.0)):
        execs = plot_run(run, xlim=xlim).axes[2]
        labels = [t for t in execs.texts if t.get_gid() == "pending-end"]
        right = execs.get_xlim()[1]
        assert len(labels) == 2 and all(t.get_position()[0] <= right and t.get_ha() == "right" for t in labels)


def test_fix_table_and_the_never_bar(root: Path) -> None:
    from repro_lib.experiments import compare_fixes, fix_table, plot_fix_comparison

    raw, _ = compare_fixes("scenarios/core-395.yaml", fixes=["none", "redispatch-on-join"], sets=["params.settle=2m"])
    t = fix_table(raw)
    assert t.loc["none", "new-test-job to running"] == "never"
    assert t.loc["redispatch-on-join", "new-test-job to running"] == f"{raw['time_to_running_s'][1]:.1f} s"
    assert t.loc["none", "dispatches"] == "4 sent, 2 lost" and "2 re-sent" in t.loc["redispatch-on-join", "dispatches"]
    ax = plot_fix_comparison(raw).axes[0]
    never = [b for b in ax.patches if b.get_hatch()]
    assert len(never) == 1 and never[0].get_x() + never[0].get_width() > ax.get_xlim()[1]  # runs off the edge
    assert any(x.get_text().startswith("never") for x in ax.texts)


def test_shipped_reference_run_from_the_emulated_compose_stack(root: Path) -> None:
    """data/reference-run was captured from docker-compose.debug.yml (emulated images): it opens
    without re-running anything and tells the same story as the sim."""
    run = load_run("data/reference-run")
    assert run.backend == "compose" and run.verdict.verdict == "reproduced"
    assert {j["name"]: j["state"] for j in run.final.jobs} == {"test-heartbeat": "running",
                                                               "new-test-job": "deploying"}
    counts = run.event_counts()
    assert counts["dispatch_attempts"] == 4 and counts["dispatch_lost"] == 2 and counts["node_join_evals"] >= 2
    assert set(run.diagnose().causes.values()) == {CAUSE_LOST}
    faults = run.events.query("kind == 'fault'")
    assert {"kill", "start"} <= set(faults["state"])          # docker events: ground-truth fault times
    assert len(tl.belief_gaps(run.events, run.final.t_s)) == 2
    logs = inspect_paths(sorted(str(p) for p in Path("data/reference-run/logs").glob("*.log")))
    assert logs.diagnosis.causes == run.diagnose().causes


def test_race_window_boundary_matches_theory(root: Path) -> None:
    import numpy as np

    from repro_lib.experiments import boundary_table, race_boundary, sweep
    from repro_lib.timings import timings_from

    grid = sweep("scenarios/core-395.yaml", kill_to_deploy=np.arange(60, 131, 10), downtime=[30],
                 presets=["docs"], seeds=[0, 1, 2])
    (row,) = boundary_table(grid).itertuples()
    lo, hi = race_boundary(timings_from({"preset": "docs"}))
    assert (row.theory_lo_s, row.theory_hi_s) == (lo, hi) == (75.0, 120.0)
    assert lo - 10 <= row.longest_stuck_s <= hi and lo <= row.shortest_safe_s <= hi + 10
    assert row.runs == 24 and 0 < row.stuck_runs < 24

"""Notebook 05's library side: the most telling counterexample per fix, the cross-checked matrix, the
cross-check's steps, and a counterexample's replay zoomed to its steps with its settle in one line."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from repro_lib.analysis import counterexample_plots as cx  # noqa: E402
from repro_lib.analysis.checks import Violation  # noqa: E402
from repro_lib.model.types import FIXES  # noqa: E402
from repro_lib.search import SearchReport, short_steps  # noqa: E402
from repro_lib.search.explore import Counterexample  # noqa: E402
from repro_lib.search.grammar import FAULTS, Schedule  # noqa: E402
from repro_lib.search.oracle import Context, evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEST_JOB, QUERY_JOB = "pipelines/test-job.yaml", "pipelines/query-job.yaml"
ISSUE_395 = [("deploy", TEST_JOB), ("kill", ["edge1"])]
PARTITION = [("partition", ["edge1"]), ("deploy", TEST_JOB), ("sleep", 16.5)]
RESTART_RACE = [("restart_orchestrator", {"downtime": 0.5}), ("deploy", TEST_JOB)]
QUERY_RESTART = [("deploy", QUERY_JOB), ("restart_orchestrator", {"downtime": 0.5})]


def _ctx(fix: str, **timings: str) -> Context:
    return Context({"preset": "repro", **timings}, fix, str(ROOT), 3, 10, FAULTS)


def _report(found: dict[str, list[tuple[str, list]]], runs: int = 150, **timings: str) -> SearchReport:
    """A report as a search would leave it, with hand-picked counterexamples (no search run)."""
    fixes = list(found)
    rep = SearchReport(fixes, {f: runs for f in fixes}, {f: [] for f in fixes}, seed=1, complete=True, seconds=0.0,
                       contexts={f: _ctx(f, **timings) for f in fixes})
    for fix, items in found.items():
        for check, steps in items:
            rep.found[fix].append(Counterexample(fix, check, Schedule(1, steps), Violation(check, 4456.4), 0))
    return rep


def _cross(rep: SearchReport, cells: dict[str, dict[str, str]]) -> pd.DataFrame:
    """A cross-check frame: every fix "—" unless ``cells[name][fix]`` says otherwise."""
    rows = [{"counterexample": n, **{f: cells.get(n, {}).get(f, "—") for f in FIXES}} for n, _ in rep.names()]
    return pd.DataFrame(rows, columns=["counterexample", *FIXES]).set_index("counterexample")


def _real(fix: str, steps: list, **timings: str) -> tuple[Counterexample, object]:
    """A counterexample as the search finds it (its violation from the oracle), and its replay."""
    sched = Schedule(1, steps)
    violations = evaluate(sched, _ctx(fix, **timings))
    assert violations, f"{steps} no longer fails under {fix}"
    c = Counterexample(fix, violations[0].check, sched, violations[0], 0)
    rep = _report({fix: []}, **timings)
    rep.found[fix] = [c]
    return c, rep.replay(c)


# -- choosing what to show -------------------------------------------------------------------------
def test_telling_prefers_the_counterexample_that_fails_under_its_fix_alone() -> None:
    rep = _report({"redispatch-on-join": [("stuck", ISSUE_395), ("stuck", PARTITION),
                                          ("not-running", QUERY_RESTART)]})
    everywhere = {f: "not-running" for f in FIXES}
    cross = _cross(rep, {
        "redispatch-on-join-stuck-1": {"none": "stuck", "block": "stuck", "redispatch-on-join": "stuck"},
        "redispatch-on-join-stuck-2": {"none": "stuck", "redispatch-on-join": "stuck"},
        "redispatch-on-join-not-running-1": everywhere})
    pick = rep.telling("redispatch-on-join", cross)
    assert pick is not None and pick.name == "redispatch-on-join-stuck-2"  # bigger, but B alone fails it
    assert pick.also_fails == []  # the baseline "none" is not another fix
    assert "fails under redispatch-on-join alone" in pick.reason and "without a fix: stuck" in pick.reason
    md = pick.markdown()
    assert md.startswith("### redispatch-on-join: `redispatch-on-join-stuck-2` fails `stuck` in 3 step(s)")
    assert "1. `partition edge1`" in md and "1. `sleep 16.5s`" in md


def test_telling_takes_stuck_first_then_the_smallest_among_equally_specific_ones() -> None:
    rep = _report({"sequence-replay": [("stuck", PARTITION), ("not-running", QUERY_RESTART),
                                       ("stuck", ISSUE_395)]})
    both = {"block": "stuck", "edge-reconcile": "stuck", "sequence-replay": "stuck"}
    cross = _cross(rep, {"sequence-replay-stuck-1": both, "sequence-replay-stuck-2": both,
                         "sequence-replay-not-running-1": {"sequence-replay": "not-running", "block": "not-running",
                                                           "edge-reconcile": "not-running"}})
    pick = rep.telling("sequence-replay", cross)
    assert pick is not None and pick.name == "sequence-replay-stuck-2", pick  # stuck beats a smaller-or-equal other
    assert pick.also_fails == ["block", "edge-reconcile"]
    assert "also fails under block, edge-reconcile — the fewest other fixes" in pick.reason
    assert "the smallest (2 steps)" in pick.reason


def test_for_no_fix_the_telling_one_is_what_every_fix_cures() -> None:
    rep = _report({"none": [("stuck", ISSUE_395), ("stuck", RESTART_RACE)]})
    cross = _cross(rep, {"none-stuck-1": {"none": "stuck", "block": "stuck"}, "none-stuck-2": {"none": "stuck"}})
    pick = rep.telling("none", cross)
    assert pick is not None and pick.name == "none-stuck-2" and "every fix cures it" in pick.reason
    assert rep.telling("none", _cross(rep, {})) is not None
    assert _report({"block": []}).telling("block", pd.DataFrame()) is None


# -- the tables ------------------------------------------------------------------------------------
def test_matrix_marks_a_none_cell_the_cross_check_contradicts() -> None:
    stopped = [("deploy", "pipelines/new-job.yaml"), ("stop_job", "new-test-job"),
               ("restart_orchestrator", {"downtime": 0.5})]
    rep = _report({"none": [("not-stopped", stopped), ("stuck", ISSUE_395)], "pending-timeout": []})
    cross = _cross(rep, {"none-not-stopped-1": {"none": "not-stopped", "pending-timeout": "not-stopped"},
                         "none-stuck-1": {"none": "stuck"}})
    before = rep.matrix_frame().to_string()
    m = rep.matrix_cross_checked(cross)
    assert m.loc["pending-timeout", "not-stopped"] == \
        "none drawn in 150 runs; fails on none-not-stopped-1 (cross-check)"
    assert m.loc["pending-timeout", "stuck"] == "none in 150 runs"  # E cures it in the cross-check: a plain none
    assert m.loc["none", "stuck"] == "1 (min 2 steps)"
    assert rep.matrix_frame().to_string() == before  # the plain matrix is unchanged
    two = _cross(rep, {"none-not-stopped-1": {"pending-timeout": "not-stopped"},
                       "none-stuck-1": {"pending-timeout": "stuck, not-stopped"}})
    assert rep.matrix_cross_checked(two).loc["pending-timeout", "not-stopped"].endswith(
        "fails on none-not-stopped-1 and 1 more (cross-check)")


def test_cross_check_rows_carry_their_steps() -> None:
    rep = _report({"none": [("stuck", ISSUE_395), ("stuck", RESTART_RACE)]})
    table = rep.cross_check_table(_cross(rep, {}))
    assert list(table.columns) == ["steps", *FIXES]
    assert table.loc["none-stuck-1", "steps"] == "deploy test-job; kill edge1"
    assert table.loc["none-stuck-2", "steps"] == "restart_orchestrator downtime=0.5; deploy test-job"
    assert short_steps(rep.found["none"][0]) == "deploy test-job; kill edge1"


# -- the replay, zoomed ----------------------------------------------------------------------------
def test_issue_395_is_zoomed_to_its_steps_and_its_loss_sits_on_a_starting_edge() -> None:
    c, run = _real("none", ISSUE_395)
    view = cx.view_of(run, c.violation)
    deploy = next(float(s["t_start_s"]) for s in run.steps if s["op"] == "deploy")
    handshakes = run.events[run.events["kind"].eq("node") & run.events["state"].eq("handshake")]["t_s"]
    lo, hi = view.window
    assert lo < deploy - 0.05 and hi > max(handshakes) and hi < 10, view.window  # seconds, not the hour's settle
    losses = view.losses()
    assert list(losses["lane"]) == ["starting"], losses  # killed and restarted at once: lost while subscribing
    starting = cx.starting_intervals(run)
    assert len(starting) == 1 and starting.iloc[0]["t1"] - starting.iloc[0]["t0"] == pytest.approx(0.1)
    fig = view.figure(title="t")
    try:
        assert fig.axes[-1].get_xlim() == pytest.approx(view.window)
        nodes = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("nodes:"))
        bands = [p for p in nodes.collections if p.get_hatch() == cx.STARTING_STYLE["hatch"]]
        assert len(bands) == 1  # the not-yet-subscribed band, drawn on the actual lane
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    assert "outside the zoomed window" in view.observed and "in the settle" in view.observed
    assert f"t = {cx.fmt_s(lo)}–{cx.fmt_s(hi)} s" in view.markdown()
    line = view.settle_line
    assert line.startswith("Then settled 4455 s") and "1 node-join evaluation" in line
    assert "still pending (lost)" in line and "job test-heartbeat deploying" in line


def test_a_partition_is_a_visible_interval_and_both_losses_sit_on_the_cut_off_lane() -> None:
    c, run = _real("redispatch-on-join", PARTITION, nats_semantics="drop")  # lost to the cut: the drop reading [I]
    view = cx.view_of(run, c.violation)
    heal = next(float(s["t_start_s"]) for s in run.steps if s["op"] == "heal")
    lo, hi = view.window
    assert lo < 1.4 and heal < hi < heal + 3, view.window
    assert list(view.losses()["lane"]) == ["partitioned", "partitioned"]  # the first send and B's re-send
    assert cx.lane_state(run, str(view.losses()["node"][0]), heal + 1) == "up"


def test_a_panel_with_nothing_to_draw_says_so_instead_of_empty_ticks() -> None:
    c, run = _real("sequence-replay", QUERY_RESTART)
    assert c.check == "not-running"
    view = cx.view_of(run, c.violation)
    assert "never placed" in view.empty["executions"] and "evaluations" in view.empty
    assert "Not drawn: no execution in this window" in view.markdown()
    fig = view.figure()
    try:
        ex = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("executions"))
        assert list(ex.get_yticks()) == []
        assert any(t.get_gid() == "empty-executions" and "never placed" in t.get_text() for t in ex.texts)
        top = fig.axes[0]  # the orchestrator's downtime is shaded: 0.5 s wide
        spans = [p for p in top.patches if p.get_width() == pytest.approx(0.5)]
        assert spans, [p.get_width() for p in top.patches]
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    assert view.losses().empty
    assert "handshake of edge1" in view.settle_line and "job query-job pending" in view.settle_line


def test_observed_text_says_where_its_time_is_against_the_axis() -> None:
    window = (1.3, 3.0)
    assert "inside the zoomed window" in cx.observed_text(Violation("two-running", 2.0, job="j"), window, 1.4)
    assert "in the settle, outside" in cx.observed_text(Violation("stuck", 4456.4), window, 1.4)
    assert cx.fmt_s(4456.4) == "4456" and cx.fmt_s(1.3456) == "1.346" and cx.fmt_s(16.55) == "16.6"

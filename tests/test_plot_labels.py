"""The timelines say what happened (issue 21): node-join ticks name their outcome, the re-handshake is
drawn, one edge order in every panel, counts that hold to the end, an inferred loss labelled as one."""

from __future__ import annotations

import glob
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from repro_lib import load_scenario, run_scenario  # noqa: E402
from repro_lib.analysis.plots import plot_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


def _texts(fig: object) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _legend(fig: object) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


def test_node_join_ticks_say_what_they_did_and_the_rehandshake_is_drawn() -> None:
    none = run_scenario(load_scenario("scenarios/core-395.yaml"))
    fixed = run_scenario(load_scenario("scenarios/core-395.yaml", ["fix=redispatch-on-join", "params.settle=60s"]))
    assert any(t.endswith("evals: empty plan") for t in _texts(plot_run(none)))
    assert any("re-dispatched 2" in t for t in _texts(plot_run(fixed)))
    assert "re-handshake (node-join)" in _legend(plot_run(none))


def test_one_edge_order_top_down_in_every_panel() -> None:
    fig = plot_run(run_scenario(load_scenario("scenarios/core-395.yaml")))
    nodes_ax, exec_ax = fig.axes[1], fig.axes[2]

    def top_down(ax: object) -> list[str]:
        ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True),
                       reverse=True)
        return [lab for _, lab in ticks]

    nodes = [lab.split(" ·")[0] for lab in top_down(nodes_ax)]
    assert list(dict.fromkeys(nodes)) == ["edge1", "edge2"]
    job = [lab.split(" · ")[1] for lab in top_down(exec_ax) if lab.startswith("new-test-job")]
    assert job == ["edge1", "edge2"]


def test_counts_of_many_edges_hold_to_the_end_of_the_run() -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml", ["edges=20"]))
    ax = plot_run(run).axes[1]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "believed connected")
    xs, ys = line.get_xdata(), line.get_ydata()
    # all 20 believed connected from their start-up to the end (the kills change no belief in 30 s)
    assert ys[-1] == 20 and min(y for x, y in zip(xs, ys, strict=True) if x > 5) == 20


def test_an_inferred_loss_is_not_labelled_as_a_nats_drop() -> None:
    from repro_lib.inspect import inspect_paths

    logs = sorted(glob.glob(str(ROOT / "data/reference-run/logs/orchestrator.log"))) + \
        sorted(glob.glob(str(ROOT / "data/reference-run/logs/edge*.log")))
    fig = plot_run(inspect_paths(logs).events, title="logs only")
    labels = _legend(fig)
    assert "lost (published; the edge log shows no receipt)" in labels
    assert "lost (no subscriber, or cut off)" not in labels


def test_a_detected_failure_of_fix_c_has_its_own_mark() -> None:
    run = run_scenario(load_scenario("scenarios/core-395.yaml", ["fix=sequence-replay"]))
    assert "publish failed, detected (sequence-replay: 503 / no ack)" in _legend(plot_run(run))


def test_report_wraps_long_log_lines() -> None:
    """The rendered report's output blocks wrap, so a long line's end stays on the page."""
    import nbformat

    from repro_lib.report import _html

    line = "time=2025-12-25T20:01:07Z level=DEBUG msg=\"PUBLISH: Checking node connection\" " + "x=y " * 40 + \
        "connection_exists=true connection_alive=true"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "print(line)", outputs=[nbformat.v4.new_output("stream", name="stdout", text=line + "\n")])])
    body = _html(nb, no_input=False)
    head = body.split("</head>", 1)[0]
    assert "white-space:pre-wrap" in head and "white-space:pre;" not in head.split("jp-OutputArea-output pre")[-1]
    assert "connection_exists=true connection_alive=true" in body


def test_an_empty_panel_says_so_instead_of_ticks() -> None:
    from repro_lib.scenario import parse_scenario

    doc = {"name": "idle", "timings": {"preset": "repro"}, "edges": ["edge1"],
           "steps": [{"up": {}}, {"sleep": "5s"}, {"snapshot": {}}]}
    fig = plot_run(run_scenario(parse_scenario(doc)))
    execs, evals = fig.axes[2], fig.axes[3]
    assert [t.get_text() for t in execs.texts] == ["no execution in these events"]
    assert list(execs.get_yticks()) == [] and list(evals.get_yticks()) == []


def test_action_labels_are_grouped_on_the_visible_window() -> None:
    """Zoomed in, actions 16 s apart are two labels, not one merged by the whole run's length."""
    run = run_scenario(load_scenario("scenarios/core-395.yaml", ["params.settle=1h"]))
    kill = float(run.events.loc[run.events["state"] == "kill", "t_s"].min())
    top = plot_run(run, xlim=(kill - 2, kill + 40)).axes[0]
    labels = [t.get_text() for t in top.texts]
    assert any(lab.startswith("kill") for lab in labels) and any(lab.startswith("start") for lab in labels)
    assert not any("kill" in lab and "start" in lab for lab in labels)

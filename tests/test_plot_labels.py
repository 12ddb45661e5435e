"""The timelines say what happened (issue 21): node-join ticks name their outcome, the re-handshake is
drawn, one edge order in every panel, counts that hold to the end, an inferred loss labelled as one."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from repro_lib import load_scenario, run_scenario  # noqa: E402
from repro_lib.analysis.plots import plot_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Iterator[Path]:
    yield root
    import matplotlib.pyplot as plt

    plt.close("all")  # each test's figures let go (pyplot keeps them open: a warning past 20)


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


def _outside(fig: object) -> list[str]:
    """Every visible text drawn in an axes (not its ticks or title) that reaches past the axes' box."""
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            if not (t.get_visible() and t.get_text()):
                continue
            bb = t.get_window_extent(renderer)
            if bb.x0 < box.x0 or bb.x1 > box.x1 or bb.y0 < box.y0 or bb.y1 > box.y1:
                out.append(t.get_text())
    return out


def test_annotations_stay_inside_their_axes(monkeypatch: pytest.MonkeyPatch) -> None:
    """'2 evals: empty plan' at the run's end and 'start edge1, start edge2' near the right edge used to run past
    the axes; they are moved back in. Without the move the same figures have texts outside (the check can fail)."""
    from repro_lib.analysis import plots

    runs = [run_scenario(load_scenario("scenarios/core-395.yaml")),
            run_scenario(load_scenario("scenarios/core-395.yaml", ["edges=20"])),
            run_scenario(load_scenario("scenarios/core-395.yaml", ["params.settle=1s"]))]
    for run in runs:
        fig = plot_run(run)
        assert _outside(fig) == [], run.scenario.name
    # notebook 06's pair: the replay on the logs' axis put '2 evals: empty plan' half a pixel past the edge
    from repro_lib.incident import investigate

    inc = investigate([str(ROOT / "data/reference-run/logs")], seed=0)
    assert [_outside(fig) for fig in inc.plot()] == [[], []]
    monkeypatch.setattr(plots, "keep_inside", lambda fig: 0)
    assert any(_outside(plot_run(run)) for run in runs)


def _rgb(c: object) -> tuple[float, ...]:
    from matplotlib.colors import to_rgba

    return tuple(round(x, 3) for x in to_rgba(c)[:3])


def _legend_kinds(fig: object) -> set[tuple[str, tuple[float, ...]]]:
    """(kind, colour) of every legend handle: 'area' (a filled patch, or a hatched outline), 'line', 'marker'."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = set()
    for lg in fig.legends:
        for a in lg.findobj(lambda a: isinstance(a, (Patch, Line2D))):
            if isinstance(a, Line2D) and a.get_marker() not in (None, "None", "", " "):
                out.add(("marker", _rgb(a.get_color())))
            elif isinstance(a, Line2D):
                out.add(("line", _rgb(a.get_color())))
            elif a.get_facecolor()[3] > 0 and a.get_label() != "_nolegend_" and a is not lg.legendPatch:
                out.add(("area", _rgb(a.get_facecolor())))
            elif a.get_hatch():
                out.add(("area", _rgb(a.get_edgecolor())))
    return out


def _drawn_kinds(fig: object) -> set[tuple[str, tuple[float, ...]]]:
    """(kind, colour) of every artist drawn in the node and execution panels and the action lines, except those
    labelled where they stand (gid 'labelled-inline', 'labelled-by-ticks')."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.patches import Polygon, Rectangle

    out = set()
    for ax in fig.axes[1:3]:
        for a in ax.get_children():
            if a.get_gid() in ("labelled-inline", "labelled-by-ticks") or not a.get_visible():
                continue
            if isinstance(a, PathCollection):
                out |= {("marker", _rgb(c)) for c in a.get_facecolors()}
            elif isinstance(a, PolyCollection):
                faces = [c for c in a.get_facecolors() if c[3] > 0]
                out |= {("area", _rgb(c)) for c in faces}
                if not faces and a.get_hatch():
                    out |= {("area", _rgb(c)) for c in a.get_edgecolors()}
            elif isinstance(a, Polygon | Rectangle) and a is not ax.patch and a.get_facecolor()[3] > 0:
                out.add(("area", _rgb(a.get_facecolor())))
        for ln in ax.get_lines():
            if ln.get_gid() != "labelled-inline" and ln.get_visible():
                out.add(("line", _rgb(ln.get_color())))
    return out


@pytest.mark.parametrize("sets", [[], ["edges=20"], ["fix=redispatch-on-join", "params.settle=60s"]],
                         ids=["2 edges", "20 edges", "fix B"])
def test_every_kind_of_artist_drawn_has_a_legend_handle(sets: list[str]) -> None:
    """A filled area, a line and a marker each need a handle of their own kind and colour: the 20-edge view's
    grey 'down' fill had only a line in the legend."""
    fig = plot_run(run_scenario(load_scenario("scenarios/core-395.yaml", sets)))
    missing = _drawn_kinds(fig) - _legend_kinds(fig)
    assert missing == set()


def test_twenty_edges_the_truth_is_not_hidden_and_the_axis_is_not_stretched() -> None:
    """Down 20 and believed connected 20: the 'down' line is drawn over the belief, dotted, so both show; the
    y ticks stop at 20 and the dispatch marks sit in a band above them, not on an axis running to 30."""
    fig = plot_run(run_scenario(load_scenario("scenarios/core-395.yaml", ["edges=20"])))
    ax = fig.axes[1]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    down, believed = lines["edges actually down"], lines["believed connected"]
    assert max(down.get_ydata()) == 20 and max(believed.get_ydata()) == 20
    assert down.get_zorder() > believed.get_zorder() and down.get_linestyle() != "-"
    assert max(ax.get_yticks()) == 20
    bottom, top = ax.get_ylim()
    assert top <= 20 * 1.3
    marks = [y for c in ax.collections if c.get_offsets().size for _, y in c.get_offsets()
             if type(c).__name__ == "PathCollection"]
    assert marks and min(marks) > 20


def test_every_empty_panel_has_a_note_actions_too() -> None:
    from repro_lib.scenario import parse_scenario

    doc = {"name": "idle", "timings": {"preset": "repro"}, "edges": ["edge1"],
           "steps": [{"up": {}}, {"sleep": "5s"}, {"snapshot": {}}]}
    fig = plot_run(run_scenario(parse_scenario(doc)))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no action or fault in these events"]
    assert all(any(t.get_gid() == "empty-panel" for t in ax.texts) for ax in (fig.axes[0], fig.axes[2], fig.axes[3]))
    busy = plot_run(run_scenario(load_scenario("scenarios/core-395.yaml")))
    assert not any(t.get_gid() == "empty-panel" for ax in busy.axes for t in ax.texts)


def test_a_locked_axis_says_what_falls_off_it() -> None:
    """kill → deploy = 400 s on an axis locked at 0–150 s: only the kill is in view; a line names the deploy and
    the starts after it. On an axis that shows everything, no such line."""
    run = run_scenario(load_scenario("scenarios/core-395.yaml", ["params.kill_to_deploy=400s"]))
    top = plot_run(run, xlim=(0, 150)).axes[0]
    hint = [t.get_text() for t in top.texts if t.get_gid() == "off-axis"]
    assert len(hint) == 1 and hint[0].startswith("off the time axis: → deploy new-test-job at 4")
    assert "start edge1" in hint[0] and "←" not in hint[0]
    later = plot_run(run, xlim=(400, 600)).axes[0]
    assert any(t.get_text().startswith("off the time axis: ← deploy test-heartbeat at 1 s") for t in later.texts)
    whole = plot_run(run).axes[0]
    assert not any(t.get_gid() == "off-axis" for t in whole.texts)


def test_a_skipped_refusal_shows_both_marks() -> None:
    """A refused publish and its skip sit at one place: the skip's ✕ is drawn over the refusal's square in another
    colour, so the legend's 'skipped' names something visible."""
    from matplotlib.colors import to_hex

    fig = plot_run(run_scenario(load_scenario("scenarios/transport-race.yaml")))
    ax = fig.axes[1]
    by_colour = {to_hex(c.get_facecolors()[0]): c for c in ax.collections
                 if type(c).__name__ == "PathCollection" and len(c.get_facecolors())}
    refused, skipped = by_colour["#ef6c00"], by_colour["#3e2723"]
    assert skipped.get_zorder() > refused.get_zorder()
    assert {"refused (node not connected)", "skipped (RetryStrategySkip)"} <= set(_legend(fig))

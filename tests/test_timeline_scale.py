"""Timelines that scale (issue 10 §1, §4): 2, 6, 20 and 1,000 edges draw clearly in a bounded figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from repro_lib import load_scenario, run_scenario  # noqa: E402
from repro_lib.analysis.plots import natural_key, plot_run, save  # noqa: E402
from repro_lib.errors import SetError  # noqa: E402
from repro_lib.scenario import edge_names  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_edges_n_means_n_edges_and_bad_values_are_refused() -> None:
    assert edge_names("3") == ["edge1", "edge2", "edge3"]
    assert edge_names("a1,b2") == ["a1", "b2"]
    for bad in ("0", "1x,2", "edge1,edge1", "", "-3"):
        with pytest.raises(SetError):
            edge_names(bad)
    sc = load_scenario(ROOT / "scenarios" / "core-395.yaml", ["edges=20"])
    assert sc.edges == [f"edge{i}" for i in range(1, 21)]


def test_natural_order() -> None:
    assert sorted(["edge10", "edge2", "edge1"], key=natural_key) == ["edge1", "edge2", "edge10"]


@pytest.mark.parametrize("n", [2, 6, 20, 1000])
def test_figure_is_bounded_and_lanes_fill_the_width(n: int, tmp_path: Path) -> None:
    run = run_scenario(load_scenario(ROOT / "scenarios" / "core-395.yaml", [f"edges={n}"]))
    fig = plot_run(run)
    width, height = fig.get_size_inches() * 110
    assert height <= 2500
    nodes_ax = fig.axes[1]
    box = nodes_ax.get_position()
    assert box.width >= 0.5  # the lanes take at least half the figure's width
    labels = [t.get_text() for t in fig.axes[0].texts]
    if n > 3:
        assert any(f"kill {n} edges" in x for x in labels) and not any("edge3," in x for x in labels)
    if n <= 6:
        ticks = [t.get_text() for t in nodes_ax.get_yticklabels()]
        names = [x.split(" · ")[0] for x in ticks][::2]
        assert names == sorted(names, key=natural_key) and len(ticks) == 2 * n
    else:
        assert f"{n} edges" in nodes_ax.get_title(loc="left")
    legend = fig.legends[0]
    entries = [t.get_text() for t in legend.get_texts()]
    assert "believed lost" not in entries and "refused (node not connected)" not in entries  # not in this run
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 8
    save(fig, str(tmp_path / "t.png"))


def test_fixed_time_axis() -> None:
    run = run_scenario(load_scenario(ROOT / "scenarios" / "core-395.yaml"))
    fig = plot_run(run, xlim=(0, 600))
    assert fig.axes[-1].get_xlim() == (0.0, 600.0)


def test_a_node_leave_from_a_re_handshake_says_so() -> None:
    """docs preset: restarted edges re-handshake, connected → connecting, which the reevaluator counts
    as a leave although no node was disconnected — the figure says what that evaluation was."""
    run = run_scenario(load_scenario(ROOT / "scenarios" / "core-395.yaml",
                                     ["timings.preset=docs", "params.settle=60s"]))
    ev = run.events
    assert not (ev["kind"].eq("node") & ev["state"].eq("disconnected")).any()
    fig = plot_run(run)
    labels = [t.get_text() for t in fig.axes[3].texts]
    assert any("node-leave" in t.get_text() for t in fig.axes[3].get_yticklabels())
    assert any("re-handshake: connected → connecting" in x for x in labels), labels

"""``analysis._near.NodeTimes`` answers what diagnose's findings loop asked of the whole table, per finding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro_lib.analysis import _columns as C
from repro_lib.analysis._near import NodeTimes

NODES = ["n-1", "n-2", "n-3", None]


def _state_at(intervals: pd.DataFrame, node: str | None, t: float) -> str | None:
    """The per-finding filter diagnose used (the reference)."""
    if node is None or intervals.empty:
        return None
    g = intervals[(intervals["node"] == node) & (intervals["t0"] <= t) & (t < intervals["t1"] + 1e-9)]
    return str(g.iloc[-1]["state"]) if len(g) else None


def _booting(events: pd.DataFrame, node: str, t_disp: float) -> float | None:
    starts = C.rows(events, ((events["kind"] == "fault") & (events["state"] == "start")
                             & (events["node"] == node) & (events["t_s"] <= t_disp)).to_numpy(dtype=bool), ["t_s"])
    if not len(starts):
        return None
    ts = float(starts["t_s"].iloc[-1])
    between = C.rows(events, ((events["node"] == node) & (events["t_s"] > ts)
                              & (events["t_s"] <= t_disp)).to_numpy(dtype=bool), ["kind", "state"])
    shook = between[(between["kind"] == "node") & (between["state"] == "handshake")]
    killed = between[(between["kind"] == "fault") & (between["state"] == "kill")]
    return ts if shook.empty and killed.empty else None


def _returned(actual: pd.DataFrame, node: str, t_disp: float) -> float | None:
    back = actual[(actual["node"] == node) & (actual["state"] == "up") & (actual["t0"] > t_disp)]
    return float(back["t0"].iloc[0]) if len(back) else None


def _intervals(rng: np.random.Generator, n: int, states: list[str]) -> pd.DataFrame:
    t0 = np.round(rng.uniform(0, 100, n), 1)  # coarse: equal times and shared edges happen
    return pd.DataFrame({"node": pd.Series(rng.choice(np.array(NODES, dtype=object), n), dtype="str"),
                         "state": pd.Series(rng.choice(states, n), dtype="str"),
                         "t0": t0, "t1": t0 + np.round(rng.uniform(0, 30, n), 1)})


def _events(rng: np.random.Generator, n: int) -> pd.DataFrame:
    pairs = [("fault", "start"), ("fault", "kill"), ("node", "handshake"), ("node", "connected"), ("dispatch", "")]
    k = rng.integers(0, len(pairs), n)
    t = np.sort(np.round(rng.uniform(0, 100, n), 1))
    t[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({"kind": pd.Series([pairs[i][0] for i in k], dtype="str"),
                         "state": pd.Series([pairs[i][1] or None for i in k], dtype="str"),
                         "node": pd.Series(rng.choice(np.array(NODES, dtype=object), n), dtype="str"), "t_s": t})


@pytest.mark.parametrize("seed", range(8))
def test_the_same_answers_as_the_filters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    actual = _intervals(rng, int(rng.integers(0, 40)), ["up", "down", "partitioned"])
    belief = _intervals(rng, int(rng.integers(0, 40)), ["connected", "disconnected", "lost"])
    events = _events(rng, int(rng.integers(0, 200)))
    near = NodeTimes(events, actual, belief, faults=True)
    edges = np.concatenate([actual["t0"], actual["t1"], actual["t1"] + 1e-9, events["t_s"].dropna()])
    times = np.concatenate([rng.uniform(-5, 135, 30), rng.choice(edges, min(30, len(edges)), replace=False)])
    asked = 0
    for node in ["n-1", "n-2", "n-3", "n-9", None]:
        for t in times:
            assert near.actual_at(node, t) == _state_at(actual, node, t), (node, t)
            assert near.belief_at(node, t) == _state_at(belief, node, t), (node, t)
            if node is not None:
                assert near.booting(node, t) == _booting(events, node, t), (node, t)
                assert near.returned(node, t) == _returned(actual, node, t), (node, t)
            asked += 1
    assert asked > 100


def test_no_faults_asks_no_restart_question() -> None:
    rng = np.random.default_rng(1)
    events = _events(rng, 100)
    near = NodeTimes(events, _intervals(rng, 0, ["up"]), _intervals(rng, 5, ["connected"]), faults=False)
    assert all(near.booting(n, 200.0) is None for n in NODES[:3])
    assert near.actual_at("n-1", 10.0) is None and near.returned("n-1", 0.0) is None

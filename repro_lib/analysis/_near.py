"""What :func:`repro_lib.analysis.diagnosis.diagnose` asks about one finding's node, answered from small arrays.

Each finding asks about its node at its dispatch time: the state of the node then (what was true, what the
orchestrator believed), its last restart before then and whether it was up again by then, and when it came back.
Asked of the whole table per finding, that is a pass over every row per pending execution: ``repro inspect --all``
of a million seed-format lines (888,888 rows, 8,888 findings per 200 k lines) spent 17 s in it. Here the rows that
can answer are grouped by node once, in the table's order, and each question reads its node's few rows: the same
answers (``tests/test_near.py`` checks them against the per-finding filters they replace)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro_lib.analysis import _columns as C

__all__ = ["NodeTimes"]

_EMPTY = np.zeros(0, float)


def _by_node(intervals: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """node -> (t0, t1, state) of its intervals, in the frame's order."""
    if intervals.empty:
        return {}
    node = intervals["node"].to_numpy(dtype=object)
    t0 = intervals["t0"].to_numpy(dtype=float)
    t1 = intervals["t1"].to_numpy(dtype=float)
    state = intervals["state"].to_numpy(dtype=object)
    codes, uniq = pd.factorize(node, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    out = {}
    for k, name in enumerate(uniq):
        at = order[bounds[k]:bounds[k + 1]]
        out[name] = (t0[at], t1[at], state[at])
    return out


def _times_by_node(node: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """node -> its rows' times, in the frame's order."""
    if not len(node):
        return {}
    codes, uniq = pd.factorize(node, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    return {name: t[order[bounds[k]:bounds[k + 1]]] for k, name in enumerate(uniq)}


class NodeTimes:
    """The intervals (``actual``: what was true; ``belief``: what the orchestrator believed) and the fault and
    handshake times of ``events``, by node (``faults``: whether the events hold faults at all; without them, the
    restart questions are not asked)."""

    def __init__(self, events: pd.DataFrame, actual: pd.DataFrame, belief: pd.DataFrame, faults: bool) -> None:
        self._actual = _by_node(actual)
        self._belief = _by_node(belief)
        self._starts: dict[str, np.ndarray] = {}
        self._wakes: dict[str, np.ndarray] = {}
        if faults and len(events):
            kind, state = events["kind"], events["state"]
            start = ((kind == "fault") & (state == "start")).to_numpy(dtype=bool)
            # what ends a restart's boot: a handshake with the orchestrator, or another kill
            wake = (((kind == "node") & (state == "handshake")) | ((kind == "fault") & (state == "kill"))).to_numpy(
                dtype=bool)
            for mask, into in ((start, "_starts"), (wake, "_wakes")):
                rows = C.rows(events, mask & events["node"].notna().to_numpy(dtype=bool), ["node", "t_s"])
                setattr(self, into, _times_by_node(rows["node"].to_numpy(dtype=object),
                                                   rows["t_s"].to_numpy(dtype=float)))

    @staticmethod
    def _state(by: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], node: str | None, t: float) -> str | None:
        if node is None or node not in by:
            return None
        t0, t1, state = by[node]
        hit = np.flatnonzero((t0 <= t) & (t < t1 + 1e-9))
        return str(state[hit[-1]]) if len(hit) else None

    def actual_at(self, node: str | None, t: float) -> str | None:
        """The node's actual state at ``t`` (its last interval holding ``t``), or None."""
        return self._state(self._actual, node, t)

    def belief_at(self, node: str | None, t: float) -> str | None:
        """What the orchestrator believed of the node at ``t``, or None."""
        return self._state(self._belief, node, t)

    def booting(self, node: str, t: float) -> float | None:
        """The time of the node's last restart at or before ``t``, when it had neither handshaken nor been killed
        again by ``t`` (still booting), else None."""
        starts = self._starts.get(node, _EMPTY)
        before = starts[starts <= t]
        if not len(before):
            return None
        ts = float(before[-1])
        wakes = self._wakes.get(node, _EMPTY)
        return None if ((wakes > ts) & (wakes <= t)).any() else ts

    def returned(self, node: str, t: float) -> float | None:
        """When the node was next actually up after ``t`` (the first such interval's start), or None."""
        if node not in self._actual:
            return None
        t0, _t1, state = self._actual[node]
        hit = np.flatnonzero((state == "up") & (t0 > t))
        return float(t0[hit[0]]) if len(hit) else None

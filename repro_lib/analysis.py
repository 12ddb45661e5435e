"""Verdict: is issue 395 reproduced in this run? (issue 2 §7)

``reproduced``: at the end some execution is desired=running, state=pending although its node
has been connected (believed *and*, where known, actually up) longer than a node-join
evaluation needs — ``reeval_batch_delay`` + 1 s after it (re)joined — and nothing re-dispatched
it since. ``not_reproduced``: every job that should run is running (or completed).
``inconclusive``: anything else (e.g. the nodes never came back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Stuck", "Verdict", "verdict_of", "stuck_after"]

_OK_JOB_STATES = {"running", "completed", "stopped"}


@dataclass(frozen=True)
class Stuck:
    """One execution that stays pending on a connected node."""

    execution: str
    job: str
    node: str       # edge name where known, else node id
    node_id: str
    pending_s: float
    dispatches: int | None = None


@dataclass
class Verdict:
    verdict: str
    stuck: list[Stuck] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "stuck": [asdict(s) for s in self.stuck],
                "reasons": self.reasons}


def stuck_after(timings: Timings) -> float:
    """How long a node must have been (re)joined before a pending execution on it is 'stuck'."""
    return timings.reeval_batch_delay + 1.0


def _joined_at(node: dict[str, Any], events: pd.DataFrame | None) -> float | None:
    if node.get("connected_since") is not None:
        return float(node["connected_since"])
    if events is None or events.empty:
        return None
    mask = (events["node"] == node["id"]) & (
        ((events["kind"] == "node") & (events["state"].isin(["connected", "connecting"])))
        | (events["detail"].fillna("").str.contains("HANDSHAKE"))
    )
    hits = events.loc[mask, "t_s"]
    return float(hits.iloc[-1]) if len(hits) else None


def _redispatched_since(ex_id: str, since: float, events: pd.DataFrame | None) -> bool:
    if events is None or events.empty:
        return False
    m = (events["execution"] == ex_id) & (events["kind"] == "dispatch") & \
        (events["state"] == "redispatch") & (events["t_s"] >= since)
    return bool(m.any())


def verdict_of(snap: Snapshot, timings: Timings, events: pd.DataFrame | None = None) -> Verdict:
    """The verdict for the state in ``snap`` (usually the run's final snapshot)."""
    nodes = {n["id"]: n for n in snap.nodes}
    threshold = stuck_after(timings)
    stuck: list[Stuck] = []
    reasons: list[str] = []
    waiting: list[str] = []
    for ex in snap.executions:
        if ex["desired"] != "running" or ex["state"] not in ("pending",):
            continue
        node = nodes.get(ex["node"])
        label = (node or {}).get("name") or ex.get("node_name") or ex["node"]
        if node is None or node["state"] != "connected" or node.get("alive") is False:
            state = node["state"] if node else "unknown"
            truth = " (edge actually down)" if node and node.get("alive") is False else ""
            waiting.append(f"{ex['job']} execution {ex['id']} is pending on {label}, "
                           f"which is {state}{truth}")
            continue
        joined = _joined_at(node, events)
        if joined is None or snap.t_s - joined < threshold:
            waiting.append(f"{ex['job']} execution {ex['id']} is pending on {label}, which (re)joined "
                           f"too recently for a node-join evaluation to have run")
            continue
        if _redispatched_since(ex["id"], joined, events):
            waiting.append(f"{ex['job']} execution {ex['id']} was re-dispatched and is still pending")
            continue
        created = ex.get("created_at")
        stuck.append(Stuck(ex["id"], ex["job"], label, ex["node"],
                           round(snap.t_s - created, 3) if created is not None else float("nan"),
                           ex.get("dispatches")))
    if stuck:
        jobs = sorted({s.job for s in stuck})
        reasons.append(f"{len(stuck)} execution(s) of {', '.join(jobs)} pending on connected nodes "
                       f"for more than {threshold:g}s after they (re)joined, with no re-dispatch")
        return Verdict("reproduced", stuck, reasons + waiting)
    bad_jobs = [j for j in snap.jobs if j["state"] not in _OK_JOB_STATES]
    if not bad_jobs and not waiting:
        return Verdict("not_reproduced", [], ["every job that should run is running"])
    for j in bad_jobs:
        reasons.append(f"job {j['name']} is {j['state']}")
    return Verdict("inconclusive", [], reasons + waiting)

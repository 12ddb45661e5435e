"""Derived tables for timelines: who was up, what the orchestrator believed, what each
execution was doing, where each dispatch went. Pure pandas on the events table, so they work
the same for sim runs, emulated runs and parsed real logs."""

from __future__ import annotations

import re

import pandas as pd

__all__ = [
    "node_names",
    "belief_intervals",
    "actual_intervals",
    "belief_gaps",
    "executions_over_time",
    "dispatch_marks",
    "action_marks",
    "eval_marks",
    "noticed_at",
    "bus_rows",
]

_NAME = re.compile(r"(?:^|\s)(?:name|target)=([^\s]+)")
_TRIGGER = re.compile(r"trigger=([^\s]+)")
_ALIVE_STATES = {"kill": "down", "start": "up", "join": "up", "partition": "partitioned", "heal": "up"}
_INTERVAL_COLUMNS = ["node", "name", "state", "t0", "t1"]


def _t_end(events: pd.DataFrame, t_end: float | None) -> float:
    if t_end is not None:
        return float(t_end)
    return float(events["t_s"].max()) if len(events) else 0.0


def node_names(events: pd.DataFrame) -> dict[str, str]:
    """node id -> edge name, from node and fault events (``name=`` / ``target=`` in detail)."""
    names: dict[str, str] = {}
    sub = events[events["kind"].isin(["node", "fault"]) & events["node"].notna()]
    for node, detail in zip(sub["node"], sub["detail"].fillna(""), strict=False):
        m = _NAME.search(detail)
        if m and node not in names:
            names[str(node)] = m.group(1)
    return names


def _intervals(changes: list[tuple[float, str]], t_end: float) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    for i, (t0, state) in enumerate(changes):
        t1 = changes[i + 1][0] if i + 1 < len(changes) else t_end
        if out and out[-1][0] == state:
            out[-1] = (state, out[-1][1], t1)
        elif t1 >= t0:
            out.append((state, t0, t1))
    return out


def belief_intervals(events: pd.DataFrame, t_end: float | None = None) -> pd.DataFrame:
    """The orchestrator's belief per node: connecting / connected / disconnected / lost."""
    end = _t_end(events, t_end)
    names = node_names(events)
    sub = events[(events["kind"] == "node") & events["node"].notna()
                 & events["state"].isin(["connecting", "connected", "disconnected", "lost"])]
    rows = []
    for node, g in sub.groupby("node", sort=False):
        changes = list(zip(g["t_s"].astype(float), g["state"].astype(str), strict=False))
        for state, t0, t1 in _intervals(changes, end):
            rows.append((node, names.get(str(node), str(node)), state, t0, t1))
    return pd.DataFrame(rows, columns=_INTERVAL_COLUMNS)


def actual_intervals(events: pd.DataFrame, t_end: float | None = None) -> pd.DataFrame:
    """What was true: each edge up, down (killed) or partitioned, from fault events.

    A node is up from the stack's ``up`` (or its ``start``/``join``) until a ``kill``. Where no
    source shows liveness at all — logs alone, with neither the stack's ``up`` nor any fault — every
    node is ``unknown`` from the first line that names it: never drawn as up."""
    end = _t_end(events, t_end)
    names = node_names(events)
    ups = events[(events["kind"] == "action") & (events["state"] == "up")]["t_s"]
    t_up = float(ups.iloc[0]) if len(ups) else 0.0
    faults = events[(events["kind"] == "fault") & events["node"].notna()
                    & events["state"].isin(list(_ALIVE_STATES))]
    known = list(dict.fromkeys([*belief_intervals(events, end)["node"], *faults["node"]]))
    rows = []
    if not len(ups) and not (events["kind"] == "fault").any():
        first = events[events["node"].isin(known)].groupby("node", sort=False)["t_s"].min()
        rows = [(n, names.get(str(n), str(n)), "unknown", float(first.get(n, 0.0)), end) for n in known]
        return pd.DataFrame(rows, columns=_INTERVAL_COLUMNS)
    for node in known:
        g = faults[faults["node"] == node]
        changes = [(float(t), _ALIVE_STATES[s]) for t, s in zip(g["t_s"], g["state"], strict=False)]
        if not changes or changes[0][1] != "up" or g["state"].iloc[0] == "heal":
            first_seen = events.loc[events["node"] == node, "t_s"]
            start = min(t_up, float(first_seen.min())) if len(first_seen) else t_up
            changes.insert(0, (start, "up"))
        for state, t0, t1 in _intervals(changes, end):
            rows.append((node, names.get(str(node), str(node)), state, t0, t1))
    return pd.DataFrame(rows, columns=_INTERVAL_COLUMNS)


def belief_gaps(events: pd.DataFrame, t_end: float | None = None) -> pd.DataFrame:
    """Windows where an edge was down or cut off while the orchestrator believed it connected:
    the bug's window."""
    end = _t_end(events, t_end)
    actual = actual_intervals(events, end)
    belief = belief_intervals(events, end)
    rows = []
    for a in actual[actual["state"].isin(["down", "partitioned"])].itertuples():
        for b in belief[(belief["node"] == a.node) & (belief["state"] == "connected")].itertuples():
            t0, t1 = max(a.t0, b.t0), min(a.t1, b.t1)
            if t1 > t0:
                rows.append((a.node, a.name, a.state, t0, t1))
    return pd.DataFrame(rows, columns=_INTERVAL_COLUMNS)


def executions_over_time(events: pd.DataFrame, t_end: float | None = None) -> pd.DataFrame:
    """One row per execution per state interval: execution, job, node, name, state, desired, t0, t1."""
    end = _t_end(events, t_end)
    names = node_names(events)
    sub = events[(events["kind"] == "state") & events["execution"].notna()]
    rows = []
    for ex, g in sub.groupby("execution", sort=False):
        job = g["job"].dropna().iloc[0] if g["job"].notna().any() else None
        node = g["node"].dropna().iloc[0] if g["node"].notna().any() else None
        desired = g["detail"].fillna("").str.extract(r"desired=([^\s]+)")[0]
        ts, states = list(g["t_s"].astype(float)), list(g["state"].astype(str))
        for i, (t0, state) in enumerate(zip(ts, states, strict=False)):
            t1 = ts[i + 1] if i + 1 < len(ts) else end
            rows.append((ex, job, node, names.get(str(node), node), state, desired.iloc[i], t0, t1))
    return pd.DataFrame(rows, columns=["execution", "job", "node", "name", "state", "desired", "t0", "t1"])


def bus_rows(events: pd.DataFrame) -> pd.Series:
    """Delivery rows that NATS itself logged (``NATS: message delivered`` / ``… dropped``), told apart
    from an edge's receipt by what the line says; a frame without messages falls back to the source."""
    deliver = events["kind"] == "deliver"
    if "msg" in events.columns:
        return deliver & events["msg"].fillna("").str.startswith("NATS:")
    return deliver & (events["source"] == "nats")


def dispatch_marks(events: pd.DataFrame) -> pd.DataFrame:
    """Every dispatch outcome as a mark: sent, refused, delivered, lost, skipped, redispatched."""
    ev = events
    d = ev["detail"].fillna("")
    runs = ~d.str.contains("type=") | d.str.contains("type=RunExecutionRequest|type=Assignments")
    outcome = pd.Series(None, index=ev.index, dtype=object)
    outcome[(ev["kind"] == "publish") & (ev["state"] == "published")] = "sent"
    outcome[(ev["kind"] == "publish") & (ev["state"] == "refused")] = "refused"
    outcome[(ev["kind"] == "dispatch") & (ev["state"] == "skipped")] = "skipped"
    outcome[(ev["kind"] == "dispatch") & (ev["state"] == "redispatch")] = "redispatched"
    edge_rx = (ev["kind"] == "deliver") & (ev["state"] == "delivered") & ~bus_rows(ev)
    has_edge_rx = bool(edge_rx.any())
    outcome[edge_rx] = "delivered"
    if not has_edge_rx:  # only the bus saw it
        outcome[(ev["kind"] == "deliver") & (ev["state"] == "delivered") & runs] = "delivered"
    outcome[(ev["kind"] == "deliver") & ev["state"].isin(["lost", "dropped"]) & runs] = "lost"
    m = outcome.notna()
    out = ev.loc[m, ["t_s", "node", "job", "execution"]].copy()
    out["outcome"] = outcome[m]
    return out.reset_index(drop=True)


def action_marks(events: pd.DataFrame) -> pd.DataFrame:
    """User actions and faults with a short label (deploy new-test-job, kill edge1 …)."""
    sub = events[events["kind"].isin(["action", "fault"]) & (events["state"] != "snapshot")]
    labels = []
    names = node_names(events)
    for row in sub.itertuples():
        what = row.job if isinstance(row.job, str) else None
        if what is None and isinstance(row.node, str):
            what = names.get(row.node, row.node)
        if what is None and isinstance(row.detail, str):
            m = _NAME.search(row.detail)
            what = m.group(1) if m else None
        labels.append(f"{row.state} {what}" if what else str(row.state))
    out = sub[["t_s", "kind", "state"]].copy()
    out["label"] = labels
    return out.reset_index(drop=True)


def eval_marks(events: pd.DataFrame) -> pd.DataFrame:
    """Evaluations created, with their trigger and what they did (when the log says)."""
    created = events[(events["kind"] == "eval") & (events["state"] == "created")]
    trig = created["detail"].fillna("").str.extract(_TRIGGER)[0]
    out = created[["t_s", "job"]].copy()
    out["trigger"] = trig.fillna("?")
    out["detail"] = created["detail"]
    return out.reset_index(drop=True)


def noticed_at(events: pd.DataFrame) -> tuple[float | None, float | None]:
    """(when the first edge was killed or cut off, when the orchestrator first marked one of those
    edges disconnected after that) — the bug's window is between the two; None where not in the events."""
    kills = events[(events["kind"] == "fault") & events["state"].isin(["kill", "partition"])]
    if kills.empty:
        return None, None
    t_kill = float(kills["t_s"].min())
    seen = events[(events["kind"] == "node") & (events["state"] == "disconnected")
                  & events["node"].isin(set(kills["node"].dropna())) & (events["t_s"] >= t_kill)]
    return t_kill, (float(seen["t_s"].min()) if len(seen) else None)

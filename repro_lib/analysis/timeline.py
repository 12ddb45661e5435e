"""Derived tables for timelines: who was up, what the orchestrator believed, what each
execution was doing, where each dispatch went. Pure pandas on the events table, so they work
the same for sim runs, emulated runs and parsed real logs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from repro_lib.analysis._columns import PY_SPACE as C_SPACE

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

_NAME = re.compile(r"(?:^|\s)(?:name|target)=(?P<name>[^\s]+)")
#: :data:`_NAME` for Arrow's RE2, whose ``\s`` is ASCII only: Python's whitespace spelled out
_NAME_RE2 = rf"(?:^|{C_SPACE})(?:name|target)=(?P<name>[^{C_SPACE[1:-1]}]+)"
_TRIGGER = re.compile(r"trigger=(?P<t>[^\s]+)")
_TRIGGER_RE2 = rf"trigger=(?P<t>[^{C_SPACE[1:-1]}]+)"
_ALIVE_STATES = {"kill": "down", "start": "up", "join": "up", "partition": "partitioned", "heal": "up"}
_INTERVAL_COLUMNS = ["node", "name", "state", "t0", "t1"]


def _t_end(events: pd.DataFrame, t_end: float | None) -> float:
    if t_end is not None:
        return float(t_end)
    return float(events["t_s"].max()) if len(events) else 0.0


def node_names(events: pd.DataFrame) -> dict[str, str]:
    """node id -> edge name, from node and fault events (``name=`` / ``target=`` in detail): the first row
    that names it. By columns: one RE2 pass over the detail of those rows, then one hash pass."""
    from repro_lib.analysis import _columns as C

    sub = C.rows(events, events["kind"].isin(["node", "fault"]).to_numpy(dtype=bool)
                 & events["node"].notna().to_numpy(), ["node", "detail"])  # the two columns read, chunk by chunk
    if not len(sub):
        return {}
    found = C.extract(C.text(sub["detail"]), _NAME_RE2, ["name"], _NAME.pattern)["name"]
    named = np.flatnonzero(~C.isnull(found))
    nodes = C.obj(sub["node"])[named]
    first = C.first_in_order(nodes)
    return dict(zip(map(str, nodes[first]), found[named][first], strict=True))


def _intervals(changes: list[tuple[float, str]], t_end: float) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    for i, (t0, state) in enumerate(changes):
        t1 = changes[i + 1][0] if i + 1 < len(changes) else t_end
        if out and out[-1][0] == state:
            out[-1] = (state, out[-1][1], t1)
        elif t1 >= t0:
            out.append((state, t0, t1))
    return out


def _runs(node: np.ndarray, t: np.ndarray, state: np.ndarray, end: float, names: dict[str, str]) -> pd.DataFrame:
    """:func:`_intervals` of each node's changes (rows in order, nodes in order of first appearance), by
    columns: runs of one state merged. A node whose times go back (or are missing) takes the loop, which
    drops such an interval unless it extends the one before."""
    from repro_lib.analysis import _columns as C

    codes, uniq = pd.factorize(node, sort=False)
    order = np.argsort(codes, kind="stable")
    c, t0, st = codes[order], t[order], state[order]
    n = len(c)
    last = np.ones(n, dtype=bool)
    last[:-1] = c[1:] != c[:-1]
    t1 = np.where(last, end, np.append(t0[1:], end))
    with np.errstate(invalid="ignore"):
        bad_row = ~(t1 >= t0)
    bad = np.zeros(len(uniq), dtype=bool)
    bad[c[bad_row]] = True
    good = ~bad[c]
    first = np.ones(n, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    start = good & (first | np.append(True, st[1:] != st[:-1]))
    starts = np.flatnonzero(start)
    ends = np.append(starts[1:] - 1, n - 1)
    # a run ends at its group's last row at the latest (a good group's rows are contiguous)
    grp_last = np.flatnonzero(last)
    ends = np.minimum(ends, grp_last[np.searchsorted(grp_last, starts)])
    parts = [(c[starts], np.zeros(len(starts), dtype=np.int64) + np.arange(len(starts)), C.obj(uniq[c[starts]]),
              st[starts], t0[starts], t1[ends])]
    for g in np.flatnonzero(bad):  # the loop, for the few nodes whose times are not in order
        rows_ = np.flatnonzero(c == g)
        runs = _intervals(list(zip(t0[rows_].tolist(), map(str, st[rows_]), strict=True)), end)
        parts.append((np.full(len(runs), g), np.arange(len(runs)), C.obj([uniq[g]] * len(runs)),
                      C.obj([r[0] for r in runs]), np.array([r[1] for r in runs], dtype=float),
                      np.array([r[2] for r in runs], dtype=float)))
    g_, k_, nd, sta, a, b = (np.concatenate(x) for x in zip(*parts, strict=True))
    o = np.lexsort((k_, g_))
    nd = nd[o]
    label = C.per_value(nd, lambda x: names.get(str(x), str(x)))
    return pd.DataFrame({"node": nd, "name": label, "state": sta[o].astype(str).astype(object),
                         "t0": a[o].astype(float), "t1": b[o].astype(float)}, columns=_INTERVAL_COLUMNS)


def belief_intervals(events: pd.DataFrame, t_end: float | None = None,
                     names: dict[str, str] | None = None) -> pd.DataFrame:
    """The orchestrator's belief per node: connecting / connected / disconnected / lost (``names``: the
    :func:`node_names` of ``events``, when already known)."""
    from repro_lib.analysis import _columns as C

    end = _t_end(events, t_end)
    said = events["state"].isin(["connecting", "connected", "disconnected", "lost"])
    sub = C.rows(events, ((events["kind"] == "node") & events["node"].notna() & said).to_numpy(dtype=bool),
                 ["node", "t_s", "state"])  # the columns read, chunk by chunk
    if sub.empty:
        return pd.DataFrame([], columns=_INTERVAL_COLUMNS)
    return _runs(C.obj(sub["node"]), sub["t_s"].to_numpy(dtype=float), C.obj(sub["state"]), end,
                 node_names(events) if names is None else names)


def actual_intervals(events: pd.DataFrame, t_end: float | None = None) -> pd.DataFrame:
    """What was true: each edge up, down (killed) or partitioned, from fault events.

    A node is up from the stack's ``up`` (or its ``start``/``join``) until a ``kill``. Where no
    source shows liveness at all — logs alone, with neither the stack's ``up`` nor any fault — every
    node is ``unknown`` from the first line that names it: never drawn as up."""
    from repro_lib.analysis import _columns as C

    end = _t_end(events, t_end)
    names = node_names(events)
    ups = events.loc[((events["kind"] == "action") & (events["state"] == "up")).to_numpy(dtype=bool), "t_s"]
    t_up = float(ups.iloc[0]) if len(ups) else 0.0
    faults = C.rows(events, ((events["kind"] == "fault") & events["node"].notna()
                             & events["state"].isin(list(_ALIVE_STATES))).to_numpy(dtype=bool),
                    ["node", "t_s", "state"])  # the columns read, chunk by chunk
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
    from repro_lib.analysis import _columns as C
    from repro_lib.capture.zones import arrow_strings

    created = events[(events["kind"] == "eval") & (events["state"] == "created")]
    trig = C.extract(arrow_strings(created["detail"]), _TRIGGER_RE2, ["t"], _TRIGGER.pattern)["t"]
    trig[C.isnull(trig)] = "?"
    out = created[["t_s", "job"]].copy()
    out["trigger"] = pd.Series(trig, index=created.index, dtype=created["detail"].dtype)
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

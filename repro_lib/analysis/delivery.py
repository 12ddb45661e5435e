"""Each pending execution's delivery history and the class it ends in (issue 8 §1–2).

One table, built with group-bys over the events table (no per-execution scan of the frame), so it
costs the same for a sim run, a live run and a million lines of someone else's logs:

=================  ===========================================================================
class              meaning (for an execution desired=running, state=pending at the end)
=================  ===========================================================================
``lost``           its last run request will never arrive — published with no subscriber,
                   dropped by a partition, published while its edge logged no receipt, or never
                   sent at all — and nothing in flight or scheduled would re-send it (issue 395)
``refused``        its last run request was refused (``ErrNodeNotConnected``) and dropped
                   (RetryStrategySkip, or a fix's one-shot re-dispatch): the transport race
``blocked``        not dispatched yet: the one dispatcher watcher is stuck retrying another
                   event (RetryStrategyBlock's head-of-line blocking) — not issue 395
``retrying``       refused, and RetryStrategyBlock will try again (at ``due_s``)
``scheduled``      a fix's re-dispatch is due (at ``due_s``): the run needs a longer settle
``in_flight``      sent or created moments ago: too early to tell
``delivered``      the edge received it; its ``running`` report has not reached the orchestrator
``awaiting_node``  its node is not back: not believed connected, or actually down/cut off
``unknown``        the evidence needed to tell is missing (``missing`` says what to pass)
=================  ===========================================================================

An execution is **stuck** when it is ``lost`` or ``refused``, its node is believed connected (and
not known to be down), and that has held for longer than :func:`stuck_after` since the later of
its creation, its last send and its node's (re)join — long enough for a node-join evaluation.

What each source can prove: the sim logs NATS's drops (``lost`` is certain) and knows the model's
timers (``scheduled`` is exact: the snapshot's ``remedy``/``remedy_at``); a live run knows its fix
and timings, so remedies are bounded from the events (``scheduled`` by ``due_s`` at the latest)
and a loss is proven by the absence of a receipt in an edge log that kept logging; a bare
orchestrator log proves ``refused``, ``retrying`` and ``blocked``, but a publish without edge logs
is ``unknown`` (probably lost, delivery not checked).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["CLASSES", "STUCK_CLASSES", "IN_FLIGHT_S", "stuck_after", "delivery_table", "edge_nodes",
           "relevant", "source_roles", "NOT_EDGE_SOURCES"]

CLASSES = ("lost", "refused", "blocked", "retrying", "scheduled", "in_flight", "delivered",
           "awaiting_node", "unknown")
STUCK_CLASSES = ("lost", "refused")
IN_FLIGHT_S = 2.0  # a send younger than this may still arrive (NATS and edge logging latency)
NOT_EDGE_SOURCES = frozenset({"orchestrator", "nats", "sim", "docker", "cli", "stack"})
_TAGS = ("send", "retry", "skipped", "refused", "published", "nats_lost", "nats_ok", "edge_rx")
_BACKOFF = r"backoff=([0-9.]+)(ms|s|m)?"
_DESIRED = r"desired=([^\s]+)"
_UNIT = {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0, "": 1.0}


def stuck_after(timings: Timings | None) -> float:
    """How long a lost request must have stayed so — after creation, last send and node (re)join —
    before it is called stuck: one node-join batch and its evaluation."""
    return (timings.reeval_batch_delay if timings is not None else 15.0) + 1.0


_RELEVANT = ("state", "dispatch", "publish", "deliver", "node", "fault", "eval", "action")
_READ = ("t_s", "source", "kind", "node", "job", "execution", "state", "detail", "msg")


def relevant(events: pd.DataFrame) -> pd.DataFrame:
    """The rows that can bear on a verdict (every kind but ``log`` and ``raw``), original labels and
    order kept: one pass over a big table, so that everything after it works on a few percent of it."""
    if events.empty:
        return events
    cols = [c for c in events.columns if c in _READ]
    return events.loc[events["kind"].isin(_RELEVANT).to_numpy(), cols]


_ORCHESTRATOR_KINDS = ("dispatch", "publish", "eval", "node", "reconcile")
_EDGE_MESSAGES = ("EDGE:", "Edge connected to orchestrator")


def source_roles(events: pd.DataFrame, rel: pd.DataFrame | None = None) -> dict[str, str]:
    """Each source's role, judged from what its parsed lines say — never from the file's name:
    ``orchestrator`` (it logs dispatches, publishes, evaluations or node states), ``edge`` (it logs
    what an edge does: receipts, ``EDGE:`` lines, its connection) or ``other``."""
    if events.empty:
        return {}
    src = events["source"]
    names = [str(x) for x in src.dropna().unique()]
    roles = {x: "other" for x in names}
    rel = relevant(events) if rel is None else rel
    for x in rel.loc[rel["kind"].isin(_ORCHESTRATOR_KINDS), "source"].dropna().unique():
        roles[str(x)] = "orchestrator"
    maybe = [x for x in names if roles[x] == "other" and x not in NOT_EDGE_SOURCES]
    if not maybe:
        return roles
    sub = events.loc[src.isin(maybe).to_numpy()]
    said = (sub["kind"] == "deliver") & (sub["state"] == "delivered")
    if "msg" in sub.columns:
        said |= sub["msg"].fillna("").str.startswith(_EDGE_MESSAGES)
    for x in sub.loc[said, "source"].unique():
        roles[str(x)] = "edge"
    return roles


def edge_nodes(events: pd.DataFrame, roles: dict[str, str] | None = None) -> pd.DataFrame:
    """Per node id, the edge log that speaks for it: ``node``, ``source``, ``rows`` (the source's
    parsed rows), ``last_s`` (its last parsed row) and ``replaced_by`` — the node id that source
    logged later, when the edge came back with a new identity (the old id is then a ghost).
    Decided from parsed rows that name the node, never from file names."""
    cols = ["node", "source", "rows", "last_s", "replaced_by"]
    edge_sources = [x for x, role in (source_roles(events) if roles is None else roles).items() if role == "edge"]
    if not edge_sources:
        return pd.DataFrame(columns=cols)
    parsed = events["source"].isin(edge_sources) & (events["kind"] != "raw")
    sub = events.loc[parsed & events["node"].notna(), ["node", "source", "t_s"]]
    if sub.empty:
        return pd.DataFrame(columns=cols)
    # every parsed row of that source counts as evidence that it was logging, not just the ones
    # that name the node (an edge's state lines carry no node id)
    per_source = events.loc[parsed].groupby("source", sort=False)["t_s"].agg(rows="size", last_s="max")
    latest = sub.drop_duplicates("source", keep="last").set_index("source")["node"]
    pairs = sub.drop_duplicates(["node", "source"], keep="last")[["node", "source"]]
    out = pairs.merge(per_source, left_on="source", right_index=True, how="left")
    cur = out["source"].map(latest)
    out["replaced_by"] = cur.where(cur != out["node"])
    return out.drop_duplicates("node", keep="last").reset_index(drop=True)[cols]


def _tag_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The rows that speak about a run request, tagged; publish rows without an execution id
    (the real build logs only ``node_id`` there) take the execution of the node's last dispatch."""
    kind = events["kind"]
    rel = events.loc[kind.isin(["dispatch", "publish", "deliver"]),
                     ["t_s", "source", "kind", "node", "execution", "state", "detail"]]
    if rel.empty:
        return pd.DataFrame(columns=["pos", "t_s", "execution", "tag", "detail"])
    rel = rel.assign(pos=np.flatnonzero(kind.isin(["dispatch", "publish", "deliver"]).to_numpy()))
    k, s = rel["kind"], rel["state"]
    d = rel["detail"].fillna("")
    if rel["execution"].isna().any():
        stream = k.isin(["dispatch", "publish"])
        filled = rel.loc[stream].groupby("node", sort=False)["execution"].ffill()
        fill_at = filled.index[stream[filled.index] & (k[filled.index] == "publish")]
        rel.loc[fill_at, "execution"] = rel.loc[fill_at, "execution"].fillna(filled[fill_at])
    cancel = d.str.contains("event_type=Cancel|event_type=Stop", regex=True)
    run_msg = ~d.str.contains("type=", regex=False) | d.str.contains("type=RunExecutionRequest", regex=False)
    nats = rel["source"] == "nats"
    conds = [
        (k == "dispatch") & (((s == "attempt") & ~cancel) | (s == "redispatch")),
        (k == "dispatch") & (s == "retry"),
        (k == "dispatch") & (s == "skipped"),
        (k == "publish") & (s == "refused"),
        (k == "publish") & (s == "published"),
        (k == "deliver") & nats & s.isin(["lost", "dropped"]) & run_msg,
        (k == "deliver") & nats & (s == "delivered") & run_msg,
        (k == "deliver") & ~nats & (s == "delivered"),
    ]
    tag = np.select(conds, list(_TAGS), default="")
    out = rel.assign(tag=tag)
    out = out[(out["tag"] != "") & out["execution"].notna()]
    return out[["pos", "t_s", "execution", "tag", "detail"]]


def _final_states(events: pd.DataFrame, snapshot: Snapshot | None) -> pd.DataFrame:
    """execution -> state, desired (and job, node) at the end: the snapshot's, else the last state row."""
    if snapshot is not None:
        rows = [{"execution": e["id"], "job": e.get("job"), "node": e.get("node"),
                 "state": e.get("state"), "desired": e.get("desired")} for e in snapshot.executions]
        return pd.DataFrame(rows, columns=["execution", "job", "node", "state", "desired"])
    st = events.loc[(events["kind"] == "state") & events["execution"].notna(),
                    ["execution", "job", "node", "state", "detail"]]
    last = st.groupby("execution", sort=False).last()
    desired = last["detail"].fillna("").str.extract(_DESIRED)[0]
    return pd.DataFrame({"execution": last.index, "job": last["job"].to_numpy(),
                         "node": last["node"].to_numpy(), "state": last["state"].to_numpy(),
                         "desired": desired.fillna("running").to_numpy()})


def _node_facts(events: pd.DataFrame, snapshot: Snapshot | None, nodes: Iterable[str]) -> pd.DataFrame:
    """Per node: believed state at the end, when it last (re)joined, whether it is known alive."""
    nodes = list(dict.fromkeys(nodes))
    out = pd.DataFrame(index=pd.Index(nodes, name="node"))
    nrows = events.loc[(events["kind"] == "node") & events["node"].isin(nodes),
                       ["node", "state", "t_s"]]
    belief = nrows[nrows["state"].isin(["connecting", "connected", "disconnected", "lost", "handshake"])]
    last_b = belief.groupby("node", sort=False)["state"].last().replace({"handshake": "connected"})
    joins = nrows[nrows["state"].isin(["handshake", "connected"])].groupby("node", sort=False)["t_s"].max()
    out["belief"] = last_b.reindex(out.index)
    out["rejoined_s"] = joins.reindex(out.index).astype(float)
    faults = events.loc[events["kind"] == "fault"]
    starts = faults[faults["node"].isin(nodes) & faults["state"].isin(["start", "join"])]
    out["restarted_s"] = starts.groupby("node", sort=False)["t_s"].max().reindex(out.index).astype(float)
    if len(faults):
        f = faults[faults["node"].isin(nodes) & faults["state"].isin(["kill", "start", "join", "partition",
                                                                        "heal"])]
        last_f = f.groupby("node", sort=False)["state"].last()
        out["alive"] = last_f.reindex(out.index).map(
            {"kill": False, "partition": False, "start": True, "join": True, "heal": True}).fillna(True)
    else:
        out["alive"] = pd.Series(np.nan, index=out.index, dtype=object)
    if snapshot is not None:
        sn = {n["id"]: n for n in snapshot.nodes}
        out["belief"] = [sn[n]["state"] if n in sn else "unknown" for n in out.index]
        out["rejoined_s"] = [float(sn[n]["connected_since"]) if n in sn and sn[n].get("connected_since")
                             is not None else r for n, r in zip(out.index, out["rejoined_s"], strict=True)]
        out["alive"] = [sn[n]["alive"] if n in sn and sn[n].get("alive") is not None else a
                        for n, a in zip(out.index, out["alive"], strict=True)]
    out["belief"] = out["belief"].fillna("unknown")
    return out


def _fix_names(fix: Iterable[str] | str | None) -> set[str]:
    if fix is None:
        return set()
    return {fix} if isinstance(fix, str) else set(fix)


def delivery_table(events: pd.DataFrame, *, snapshot: Snapshot | None = None, timings: Timings | None = None,
                   fix: Iterable[str] | str | None = None, t_end: float | None = None,
                   edges: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per pending execution (desired=running, state=pending at the end) with its history
    and class. Columns: ``execution job node state desired created_s sends retries last_send_s
    outcome outcome_s due_s remedy belief alive rejoined_s edge_log since_s age_s class stuck
    missing replaced_by``. ``fix`` (the run's fixes, when known) bounds the remedies of live runs."""
    cols = ["execution", "job", "node", "state", "desired", "created_s", "sends", "retries", "last_send_s",
            "outcome", "outcome_s", "due_s", "remedy", "belief", "alive", "rejoined_s", "edge_log",
            "since_s", "age_s", "class", "stuck", "missing", "replaced_by"]
    end = float(snapshot.t_s if snapshot is not None else
                (t_end if t_end is not None else (events["t_s"].max() if len(events) else 0.0)))
    if edges is None:
        edges = edge_nodes(events)
    events = relevant(events)
    tagged = _tag_rows(events)
    finals = _final_states(events, snapshot)
    have_states = len(finals) > 0
    if have_states:
        cand = finals[(finals["desired"] == "running") & (finals["state"] == "pending")].copy()
    else:  # logs with no execution states: every execution sent to and never received
        got = set(tagged.loc[tagged["tag"] == "edge_rx", "execution"])
        sent = tagged.loc[(tagged["tag"] == "send") & ~tagged["execution"].isin(got), "execution"]
        cand = pd.DataFrame({"execution": list(dict.fromkeys(sent)), "job": None, "node": None,
                             "state": "unknown", "desired": "running"})
    if cand.empty:
        return pd.DataFrame(columns=cols)
    cand = cand.set_index("execution")

    # -- who, when created (first row naming it) -------------------------------------------------
    own = events.loc[events["execution"].isin(cand.index), ["execution", "t_s", "job", "node"]]
    g = own.groupby("execution", sort=False)
    first = g.first()  # first non-null of each column
    cand["job"] = cand["job"].where(cand["job"].notna(), first["job"].reindex(cand.index))
    cand["node"] = cand["node"].where(cand["node"].notna(), first["node"].reindex(cand.index))
    cand["created_s"] = g["t_s"].min().reindex(cand.index)
    if snapshot is not None:
        created = {e["id"]: e.get("created_at") for e in snapshot.executions}
        cand["created_s"] = [c if c == c else created.get(x) for x, c in zip(cand.index, cand["created_s"],
                                                                               strict=True)]
    cand["created_s"] = pd.to_numeric(cand["created_s"], errors="coerce").fillna(end)

    # -- the last send and what happened after it --------------------------------------------------
    tg = tagged[tagged["execution"].isin(cand.index)]
    last_pos = tg.groupby(["execution", "tag"], sort=False)["pos"].max().unstack()
    last_pos = last_pos.reindex(index=cand.index, columns=list(_TAGS))
    sends = tg[tg["tag"] == "send"].groupby("execution", sort=False).size().reindex(cand.index).fillna(0)
    cand["sends"] = sends.astype(int)
    retries = tg[tg["tag"] == "retry"].groupby("execution", sort=False).size().reindex(cand.index).fillna(0)
    cand["retries"] = retries.astype(int)
    t_of = events["t_s"].to_numpy(dtype=float)

    def _t(pos: pd.Series) -> np.ndarray:
        p = pos.to_numpy(dtype=float)
        out = np.full(len(p), np.nan)
        ok = ~np.isnan(p)
        out[ok] = t_of[np.ceil(p[ok]).astype(np.int64)]
        return out

    # a refusal or skip logged without its "Attempting" line still follows a send
    ls = last_pos["send"].fillna(last_pos.drop(columns=["edge_rx", "nats_ok", "nats_lost"]).min(axis=1) - 0.5)
    cand["last_send_s"] = _t(ls)
    after = {t: (last_pos[t] > ls).to_numpy() for t in _TAGS if t != "send"}
    has_send = ls.notna().to_numpy()
    rx_any = last_pos["edge_rx"].notna().to_numpy()
    outcome = np.select(
        [rx_any, ~has_send, after["retry"], after["skipped"] | after["refused"], after["nats_lost"],
         after["nats_ok"], after["published"]],
        ["delivered", "none", "retrying", "refused", "lost", "delivered", "published"], default="sent")
    cand["outcome"] = outcome
    opos = np.select([rx_any, after["retry"], after["skipped"] | after["refused"], after["nats_lost"],
                      after["nats_ok"], after["published"]],
                     [last_pos["edge_rx"], last_pos["retry"], np.fmax(last_pos["skipped"], last_pos["refused"]),
                      last_pos["nats_lost"], last_pos["nats_ok"], last_pos["published"]], default=np.nan)
    cand["outcome_s"] = _t(pd.Series(opos, index=cand.index))

    # Block's next attempt: the last retry line's time + its backoff
    due = np.full(len(cand), np.nan)
    retry_rows = tg[tg["tag"] == "retry"].drop_duplicates("execution", keep="last").set_index("execution")
    if len(retry_rows):
        bo = retry_rows["detail"].fillna("").str.extract(_BACKOFF)
        secs = pd.to_numeric(bo[0], errors="coerce") * bo[1].map(_UNIT).fillna(1.0)
        at = (retry_rows["t_s"].astype(float) + secs).reindex(cand.index).to_numpy()
        due = np.where(outcome == "retrying", at, due)
    remedy = np.where(outcome == "retrying", "RetryStrategyBlock retry", None).astype(object)

    # -- the node --------------------------------------------------------------------------------
    nf = _node_facts(events, snapshot, cand["node"].dropna().astype(str))
    node_key = cand["node"].astype(str)
    cand["belief"] = node_key.map(nf["belief"]).fillna("unknown").to_numpy()
    cand["alive"] = node_key.map(nf["alive"]).to_numpy()
    cand["rejoined_s"] = node_key.map(nf["rejoined_s"]).astype(float).to_numpy()
    # an edge (re)started after the node's last (re)join has not handshaked yet: its node is not back
    booting = (node_key.map(nf["restarted_s"]).astype(float).to_numpy() > np.nan_to_num(
        cand["rejoined_s"].to_numpy(float), nan=-np.inf))
    cand.loc[booting & (cand["belief"] == "connected").to_numpy(), "belief"] = "restarting"
    en = edges.set_index("node")
    edge_last = node_key.map(en["last_s"]) if len(en) else pd.Series(np.nan, index=cand.index)
    cand["edge_log"] = edge_last.notna().to_numpy()
    cand["replaced_by"] = node_key.map(en["replaced_by"]).to_numpy(object) if len(en) else None
    if len(en) and snapshot is None:  # an edge that logs a newer node id has left the old one behind
        ghost = pd.notna(cand["replaced_by"]).to_numpy()
        cand["alive"] = np.where(ghost, False, cand["alive"].to_numpy(object))
    since = np.fmax(np.fmax(cand["created_s"].to_numpy(float), np.nan_to_num(cand["last_send_s"].to_numpy(float),
                                                                               nan=-np.inf)),
                    np.nan_to_num(cand["rejoined_s"].to_numpy(float), nan=-np.inf))
    cand["since_s"] = since
    cand["age_s"] = end - since
    send_age = end - np.where(has_send, cand["last_send_s"].to_numpy(float), cand["created_s"].to_numpy(float))

    # -- remedies that are due: the model's own (sim), else bounded from the fix and timings -----
    model_knows = snapshot is not None and any("remedy_at" in e for e in snapshot.executions)
    if model_knows:
        known = {e["id"]: (e.get("remedy"), e.get("remedy_at")) for e in snapshot.executions}
        for i, x in enumerate(cand.index):
            what, at = known.get(x, (None, None))
            if at is not None and outcome[i] != "retrying":
                due[i], remedy[i] = float(at), what
    else:
        fixes = _fix_names(fix)
        t = timings or Timings()
        connected = (cand["belief"] == "connected").to_numpy()
        if "pending-timeout" in fixes:
            last = np.fmax(cand["created_s"].to_numpy(float), np.nan_to_num(cand["last_send_s"].to_numpy(float),
                                                                             nan=-np.inf))
            bound = last + t.pending_timeout + t.housekeeping_interval
            m = connected & (outcome != "retrying") & (bound > end)
            due = np.where(m, bound, due)
            remedy = np.where(m, "pending-timeout re-dispatch (at the latest)", remedy)
        if "redispatch-on-join" in fixes:
            rj = cand["rejoined_s"].to_numpy(float)
            bound = rj + t.reeval_batch_delay + 1.0
            m = connected & (outcome != "retrying") & ~np.isnan(rj) & (bound > end) & np.isnan(due) & \
                ~(np.nan_to_num(cand["last_send_s"].to_numpy(float), nan=-np.inf) > rj)
            due = np.where(m, bound, due)
            remedy = np.where(m, "node-join re-dispatch (redispatch-on-join)", remedy)
    cand["due_s"] = due
    cand["remedy"] = remedy

    # -- the class ---------------------------------------------------------------------------------
    any_dispatch_logs = bool(events["kind"].isin(["dispatch", "publish"]).any())
    head_of_line = bool((outcome == "retrying").any())
    node_back = (cand["belief"] == "connected").to_numpy() | (cand["belief"] == "unknown").to_numpy()
    down = np.array([a is not None and a == a and not bool(a) for a in cand["alive"].to_numpy(object)],
                    dtype=bool)
    unknown_node = cand["node"].isna().to_numpy()
    recent = send_age < IN_FLIGHT_S
    published = np.isin(outcome, ["published", "sent"])
    classes = np.select(
        [outcome == "delivered",
         (~node_back) | down,
         ~np.isnan(due) & (outcome != "retrying"),
         outcome == "retrying",
         (outcome == "none") & head_of_line,
         (outcome == "none") & (not any_dispatch_logs),
         (outcome == "none") & recent,
         outcome == "none",
         outcome == "refused",
         outcome == "lost",
         published & recent,
         published & cand["edge_log"].to_numpy(bool),
         published],
        ["delivered", "awaiting_node", "scheduled", "retrying", "blocked", "unknown", "in_flight", "lost",
         "refused", "lost", "in_flight", "lost", "unknown"], default="unknown")
    cand["class"] = classes
    missing = np.select(
        [(classes == "unknown") & (outcome == "none"),
         (classes == "unknown") & published & ~unknown_node,
         (classes == "unknown")],
        ["no dispatch lines: pass the orchestrator's log at --log-level=debug (instrumented build)",
         "delivery not checked: pass the edge logs",
         "the execution's node is not in these logs"], default="")
    cand["missing"] = missing
    threshold = stuck_after(timings)
    # a node-join evaluation of its job that finished after the later of creation, last send and
    # rejoin already had its chance to act: no need to wait out the threshold
    ev_done = events.loc[(events["kind"] == "eval") & (events["state"] == "processed") & events["job"].notna()
                         & events["detail"].fillna("").str.contains("trigger=node-join", regex=False)]
    last_join_eval = ev_done.groupby("job", sort=False)["t_s"].max()
    judged = cand["job"].map(last_join_eval).astype(float).to_numpy() > since
    cand["stuck"] = np.isin(classes, STUCK_CLASSES) & ((cand["age_s"].to_numpy(float) >= threshold) | judged) & \
        (have_states or snapshot is not None)
    return cand.reset_index()[cols]


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

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from repro_lib.analysis.timeline import bus_rows
from repro_lib.capture._common import EDGE_MESSAGES, RELEVANT_KINDS
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["CLASSES", "STUCK_CLASSES", "IN_FLIGHT_S", "stuck_after", "delivery_table", "edge_nodes",
           "relevant", "source_roles", "NOT_EDGE_SOURCES", "reconciler_stuck"]

CLASSES = ("lost", "refused", "blocked", "retrying", "scheduled", "in_flight", "delivered",
           "awaiting_node", "unknown")
STUCK_CLASSES = ("lost", "refused")
IN_FLIGHT_S = 2.0  # a send younger than this may still arrive (NATS and edge logging latency)
# the kit's own non-node sources: only to keep them out of "cannot show what an edge received" notes
NOT_EDGE_SOURCES = frozenset({"orchestrator", "nats", "sim", "docker", "cli", "stack"})
_TAGS = ("send", "retry", "skipped", "refused", "published", "nats_lost", "nats_ok", "edge_rx")
_DESIRED_RX = re.compile(r"desired=([^\s]+)")
_BACKOFF_RX = re.compile(r"backoff=([0-9.]+)(ms|s|m)?")
_ALIVE = {"kill": False, "partition": False, "start": True, "join": True, "heal": True}
_UNIT = {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0, "": 1.0}


def stuck_after(timings: Timings | None) -> float:
    """How long a lost request must have stayed so — after creation, last send and node (re)join —
    before it is called stuck: one node-join batch and its evaluation."""
    return (timings.reeval_batch_delay if timings is not None else 15.0) + 1.0


_RELEVANT = RELEVANT_KINDS
_READ = ("t_s", "source", "kind", "node", "job", "execution", "state", "detail", "msg")


def relevant(events: pd.DataFrame) -> pd.DataFrame:
    """The rows that can bear on a verdict (every kind but ``log`` and ``raw``), original labels and
    order kept: one pass over a big table, so that everything after it works on a few percent of it."""
    if events.empty:
        return events
    cols = [c for c in events.columns if c in _READ]
    return events.loc[events["kind"].isin(_RELEVANT).to_numpy(), cols]


_ORCHESTRATOR_KINDS = ("dispatch", "publish", "eval", "node", "reconcile")
_EDGE_MESSAGES = EDGE_MESSAGES


def source_roles(events: pd.DataFrame, rel: pd.DataFrame | None = None) -> dict[str, str]:
    """Each source's role, judged from what its parsed lines say — never from its name:
    ``orchestrator`` (it logs dispatches, publishes, evaluations or node states), ``edge`` (it logs
    what an edge does: receipts, ``EDGE:`` lines, its connection) or ``other``."""
    if events.empty:
        return {}
    src = events["source"]
    roles = {str(x): "other" for x in src.dropna().unique()}
    from repro_lib.capture._common import edge_side

    rel = relevant(events) if rel is None else rel
    kinds, sources = rel["kind"].to_numpy(dtype=object), rel["source"].to_numpy(dtype=object)
    orch = np.isin(kinds, _ORCHESTRATOR_KINDS)
    if orch.any() and "msg" in rel.columns:  # an edge's own node lines (connecting, heartbeat failed) are not
        msgs = rel["msg"].to_numpy(dtype=object, na_value=None)
        for i in np.flatnonzero(orch & (kinds == "node")):
            orch[i] = not edge_side(msgs[i])
    for x in set(sources[orch]):
        roles[str(x)] = "orchestrator"
    maybe = [x for x, role in roles.items() if role == "other"]
    if not maybe:
        return roles
    sub = events.loc[src.isin(maybe).to_numpy()]
    said = ((sub["kind"] == "deliver") & (sub["state"] == "delivered") & ~bus_rows(sub)).to_numpy(dtype=bool)
    if "msg" in sub.columns:
        said = said | sub["msg"].fillna("").str.startswith(_EDGE_MESSAGES).to_numpy(dtype=bool)
        if not said.any():  # upstream compute-side messages (few rows: only where nothing else said it)
            said = np.array([edge_side(m) for m in sub["msg"].to_numpy(dtype=object, na_value=None)], dtype=bool)
    for x in set(sub["source"].to_numpy(dtype=object)[said]):
        roles[str(x)] = "edge"
    return roles


def edge_nodes(events: pd.DataFrame, roles: dict[str, str] | None = None) -> pd.DataFrame:
    """Per node id, the edge log that speaks for it: ``node``, ``source``, ``rows`` (the source's
    parsed rows), ``first_s``/``last_s`` (its first and last parsed row) and ``replaced_by`` — the node id that source
    logged later, when the edge came back with a new identity (the old id is then a ghost).
    Decided from parsed rows that name the node, never from file names."""
    cols = ["node", "source", "rows", "first_s", "last_s", "replaced_by"]
    edge_sources = [x for x, role in (source_roles(events) if roles is None else roles).items() if role == "edge"]
    if not edge_sources:
        return pd.DataFrame(columns=cols)
    parsed = events["source"].isin(edge_sources).to_numpy(dtype=bool) & (events["kind"] != "raw").to_numpy(dtype=bool)
    sub = events.loc[parsed, ["source", "node", "t_s"]]
    code, uniq = pd.factorize(sub["source"].to_numpy(dtype=object))
    node = sub["node"].to_numpy(dtype=object, na_value=None)
    t = sub["t_s"].to_numpy(dtype=float)
    # every parsed row of the source counts as evidence that it was logging, not just the ones
    # that name the node (an edge's state lines carry no node id)
    rows = np.bincount(code, minlength=len(uniq))
    from repro_lib.capture.condense import totals_of

    if (tot := totals_of(events)) is not None:  # a condensed table: the parsed rows of every line read
        rows = np.array([tot.parsed.get(str(u), 0) for u in uniq], dtype=np.int64)
    last_s, first_s = np.full(len(uniq), -np.inf), np.full(len(uniq), np.inf)
    np.maximum.at(last_s, code, t)
    np.minimum.at(first_s, code, t)
    latest: dict[int, object] = {}
    home: dict[object, int] = {}
    for i in np.flatnonzero(node != None):  # noqa: E711 - elementwise
        latest[code[i]] = home_node = node[i]
        home[home_node] = code[i]
    out = [(n, str(uniq[c]), int(rows[c]), float(first_s[c]), float(last_s[c]), latest[c] if latest[c] != n else None)
           for n, c in home.items()]
    return pd.DataFrame(out, columns=cols)


class _Rows:
    """The relevant rows as plain arrays — one conversion per column — so that grouping them costs
    the same few passes for the 60 rows of a sim run and the 50,000 of a million-line log."""

    def __init__(self, rel: pd.DataFrame) -> None:
        self.n = len(rel)
        self.t = rel["t_s"].to_numpy(dtype=float)

        def col(name: str) -> np.ndarray:
            return rel[name].to_numpy(dtype=object, na_value=None) if name in rel.columns else \
                np.full(self.n, None, dtype=object)

        self.kind, self.state, self.source = col("kind"), col("state"), col("source")
        self.node, self.job, self.execution, self.detail = col("node"), col("job"), col("execution"), col("detail")
        msg = col("msg")
        # what NATS itself logged, told from an edge's receipt by the line (the source where no message)
        self.bus = np.array([m.startswith("NATS:") if m is not None else s == "nats"
                             for m, s in zip(msg, self.source, strict=True)], dtype=bool)

    def where(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)


def _tags(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row positions, tag codes into :data:`_TAGS`, executions) of the rows about a run request;
    publish lines without an execution id (the real build names only the node) take the execution
    of the node's last dispatch."""
    k, st = r.kind, r.state
    rows = r.where((k == "dispatch") | (k == "publish") | (k == "deliver"))
    ex = r.execution[rows].copy()
    if len(rows) and any(e is None for e in ex):
        last: dict[object, object] = {}
        for j, i in enumerate(rows):
            if k[i] == "deliver":
                continue
            if ex[j] is not None:
                last[r.node[i]] = ex[j]
            elif k[i] == "publish":
                ex[j] = last.get(r.node[i])
    code = np.full(len(rows), -1)
    for j, i in enumerate(rows):
        kind, state, d = k[i], st[i], r.detail[i] or ""
        if kind == "dispatch":
            if state == "attempt":
                code[j] = -1 if ("event_type=Cancel" in d or "event_type=Stop" in d) else 0
            else:
                code[j] = {"redispatch": 0, "retry": 1, "skipped": 2}.get(state, -1)
        elif kind == "publish":
            code[j] = {"refused": 3, "published": 4}.get(state, -1)
        elif r.bus[i]:
            if "type=" not in d or "type=RunExecutionRequest" in d:
                code[j] = 5 if state in ("lost", "dropped") else 6 if state == "delivered" else -1
        elif state == "delivered":
            code[j] = 7
    keep = (code >= 0) & np.array([e is not None for e in ex], dtype=bool)
    return rows[keep], code[keep], ex[keep]


def _final_states(r: _Rows, snapshot: Snapshot | None) -> dict[str, tuple[Any, Any, Any, Any]]:
    """execution -> (state, desired, job, node) at the end: the snapshot's, else its last state row."""
    if snapshot is not None:
        return {e["id"]: (e.get("state"), e.get("desired"), e.get("job"), e.get("node")) for e in snapshot.executions}
    out: dict[str, tuple[Any, Any, Any, Any]] = {}
    for i in r.where((r.kind == "state") & (r.execution != None)):  # noqa: E711 - elementwise
        m = _DESIRED_RX.search(r.detail[i] or "")
        out[r.execution[i]] = (r.state[i], m.group(1) if m else "running", r.job[i], r.node[i])
    return out


_EXEC_IDS_RX = re.compile(r"(?:^| )execution_ids=(\S+)")


def reconciler_stuck(r: _Rows | pd.DataFrame) -> dict[Any, float]:
    """job -> when the reconciler last warned that it is stuck (a ``reconcile`` row, state ``stuck``)."""
    if isinstance(r, pd.DataFrame):
        r = _Rows(relevant(r))
    out: dict[Any, float] = {}
    for i in r.where((r.kind == "reconcile") & (r.state == "stuck") & (r.job != None)):  # noqa: E711
        out[r.job[i]] = max(out.get(r.job[i], -np.inf), float(r.t[i]))
    return out


def _reconciled(r: _Rows, received: set[Any]) -> dict[Any, tuple[Any, Any, Any, Any]]:
    """[I] execution -> (pending, running, job, node) for the executions a reconciler warning calls stuck:
    those it lists (``execution_ids=``), else every execution of its job dispatched before it whose receipt
    no edge logged. A warning that a job is stuck in deploying with pending executions is the final-state
    evidence a log without execution state lines has (docs/seed-style-logs.md)."""
    out: dict[Any, tuple[Any, Any, Any, Any]] = {}
    warn = r.where((r.kind == "reconcile") & (r.state == "stuck"))
    if not len(warn):
        return out
    disp = r.where((r.kind == "dispatch") & (r.execution != None))  # noqa: E711 - elementwise
    for i in warn:  # one per warning (a handful), each reading the dispatch rows of its job
        m = _EXEC_IDS_RX.search(r.detail[i] or "")
        listed = [x for x in m.group(1).split(",") if x] if m else []
        if r.execution[i] is not None:
            listed.append(r.execution[i])
        if listed:
            for x in listed:
                node = next((r.node[j] for j in disp if r.execution[j] == x), None)
                out.setdefault(x, ("pending", "running", r.job[i], node))
        elif r.job[i] is not None:
            for j in disp[(r.job[disp] == r.job[i]) & (r.t[disp] <= r.t[i])]:
                if r.execution[j] not in received:
                    out.setdefault(r.execution[j], ("pending", "running", r.job[i], r.node[j]))
    return out


def _node_facts(r: _Rows, snapshot: Snapshot | None, nodes: set[Any]) -> dict[Any, dict[str, Any]]:
    """Per node: believed state at the end, when it last (re)joined and (re)started, whether alive."""
    facts = {n: {"belief": "unknown", "rejoined_s": np.nan, "restarted_s": np.nan, "alive": None} for n in nodes}
    any_fault = bool((r.kind == "fault").any())
    for i in r.where(((r.kind == "node") | (r.kind == "fault")) & np.isin(r.node, list(nodes))):
        f, st = facts[r.node[i]], r.state[i]
        if r.kind[i] == "node":
            if st in ("connecting", "connected", "disconnected", "lost", "handshake"):
                f["belief"] = "connected" if st == "handshake" else st
            if st in ("handshake", "connected"):
                f["rejoined_s"] = r.t[i]
        elif st in _ALIVE:
            f["alive"] = _ALIVE[st]
            if st in ("start", "join"):
                f["restarted_s"] = r.t[i]
    if any_fault:  # faults were captured: a node none of them touched stayed up
        for f in facts.values():
            f["alive"] = True if f["alive"] is None else f["alive"]
    if snapshot is not None:
        for n in snapshot.nodes:
            f = facts.get(n["id"])
            if f is None:
                continue
            f["belief"] = n.get("state") or "unknown"
            if n.get("connected_since") is not None:
                f["rejoined_s"] = float(n["connected_since"])
            if n.get("alive") is not None:
                f["alive"] = n["alive"]
        for n in nodes - {x["id"] for x in snapshot.nodes}:
            facts[n]["belief"] = "unknown"
    return facts


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
    missing replaced_by reconciler_s final_known`` (``reconciler_s``: when a reconciler warning last called its
    job stuck; ``final_known``: its final state is in the evidence, not only its sends). ``fix`` (the run's
    fixes, when known) bounds the remedies of live runs."""
    cols = ["execution", "job", "node", "state", "desired", "created_s", "sends", "retries", "last_send_s",
            "outcome", "outcome_s", "due_s", "remedy", "belief", "alive", "rejoined_s", "edge_log",
            "since_s", "age_s", "class", "stuck", "missing", "replaced_by", "reconciler_s", "final_known"]
    end = float(snapshot.t_s if snapshot is not None else
                (t_end if t_end is not None else (events["t_s"].max() if len(events) else 0.0)))
    rel = relevant(events)
    if edges is None:
        edges = edge_nodes(events, source_roles(events, rel))
    r = _Rows(rel)
    rows, code, ex = _tags(r)
    finals = _final_states(r, snapshot)
    have_states = bool(finals)
    got = set(ex[code == 7])
    if snapshot is None:  # executions with no state line that a reconciler warning calls stuck: pending
        for x, v in _reconciled(r, got).items():
            finals.setdefault(x, v)
    sent_not_got = [x for x in ex[code == 0] if x not in got]
    if have_states:
        ids = [x for x, (st, want, _, _) in finals.items() if want == "running" and st == "pending"]
        if snapshot is None:  # and the executions sent to, never received, with no state line at all
            ids = list(dict.fromkeys([*ids, *(x for x in sent_not_got if x not in finals)]))
    else:  # logs with no execution states: every execution sent to and never received
        ids = list(dict.fromkeys([*sent_not_got, *finals]))
    if not ids:
        return pd.DataFrame(columns=cols)
    n = len(ids)
    at = {x: i for i, x in enumerate(ids)}

    # -- who, when created (the first row naming it) -----------------------------------------------
    job = np.array([finals[x][2] if x in finals else None for x in ids], dtype=object)
    node = np.array([finals[x][3] if x in finals else None for x in ids], dtype=object)
    created = np.full(n, np.nan)
    for i in r.where(r.execution != None):  # noqa: E711 - elementwise
        c = at.get(r.execution[i])
        if c is None:
            continue
        if created[c] != created[c]:
            created[c] = r.t[i]
        if job[c] is None:
            job[c] = r.job[i]
        if node[c] is None:
            node[c] = r.node[i]
    if snapshot is not None:
        made = {e["id"]: e.get("created_at") for e in snapshot.executions}
        for c, x in enumerate(ids):
            if created[c] != created[c] and made.get(x) is not None:
                created[c] = float(made[x])
    created = np.where(np.isnan(created), end, created)

    # -- the last send and what happened after it ----------------------------------------------------
    ci = np.fromiter((at.get(x, -1) for x in ex), dtype=np.int64, count=len(ex))
    mine = ci >= 0
    last = np.full((n, len(_TAGS)), -1.0)
    np.maximum.at(last, (ci[mine], code[mine]), rows[mine].astype(float))
    counts = np.zeros((n, len(_TAGS)), dtype=np.int64)
    np.add.at(counts, (ci[mine], code[mine]), 1)
    last[last < 0] = np.nan
    ls = last[:, 0].copy()
    # a refusal or skip logged without its "Attempting" line still follows a send
    no_send = np.isnan(ls) & ~np.all(np.isnan(last[:, 1:5]), axis=1)
    ls[no_send] = np.nanmin(last[no_send, 1:5], axis=1) - 0.5 if no_send.any() else ls[no_send]

    def _t(pos: np.ndarray) -> np.ndarray:
        out = np.full(len(pos), np.nan)
        ok = ~np.isnan(pos)
        out[ok] = r.t[np.ceil(pos[ok]).astype(np.int64)]
        return out

    with np.errstate(invalid="ignore"):
        after = {t: last[:, j] > ls for j, t in enumerate(_TAGS) if t != "send"}
    has_send = ~np.isnan(ls)
    rx_any = ~np.isnan(last[:, 7])
    refused_after = after["skipped"] | after["refused"]
    outcome = np.select(
        [rx_any, ~has_send, after["retry"], refused_after, after["nats_lost"], after["nats_ok"], after["published"]],
        ["delivered", "none", "retrying", "refused", "lost", "delivered", "published"], default="sent")
    opos = np.select([rx_any, after["retry"], refused_after, after["nats_lost"], after["nats_ok"], after["published"]],
                     [last[:, 7], last[:, 1], np.fmax(last[:, 2], last[:, 3]), last[:, 5], last[:, 6], last[:, 4]],
                     default=np.nan)
    last_send_s = _t(ls)

    # Block's next attempt: the last retry line's time + its backoff
    due = np.full(n, np.nan)
    for c in np.flatnonzero(outcome == "retrying"):
        i = int(last[c, 1])
        m = _BACKOFF_RX.search(r.detail[i] or "")
        if m:
            due[c] = r.t[i] + float(m.group(1)) * _UNIT[m.group(2)]
    remedy = np.where(outcome == "retrying", "RetryStrategyBlock retry", None).astype(object)

    # -- the node --------------------------------------------------------------------------------
    nf = _node_facts(r, snapshot, {x for x in node if x is not None})
    blank = {"belief": "unknown", "rejoined_s": np.nan, "restarted_s": np.nan, "alive": None}
    facts = [nf.get(x, blank) if x is not None else blank for x in node]
    belief = np.array([f["belief"] for f in facts], dtype=object)
    alive = np.array([f["alive"] for f in facts], dtype=object)
    rejoined = np.array([f["rejoined_s"] for f in facts], dtype=float)
    # an edge (re)started after the node's last (re)join has not handshaked yet: its node is not back
    restarted = np.array([f["restarted_s"] for f in facts], dtype=float)
    with np.errstate(invalid="ignore"):
        booting = restarted > np.nan_to_num(rejoined, nan=-np.inf)
    belief[booting & (belief == "connected")] = "restarting"
    # no line about the node's state, but its last publish found the connection alive: the
    # orchestrator believed it connected then ("PUBLISH: connection_exists=true connection_alive=true")
    belief[(belief == "unknown") & after["published"] & (node != None)] = "connected"  # noqa: E711
    en = {nd: (first, last_, rb) for nd, first, last_, rb in zip(edges["node"], edges["first_s"], edges["last_s"],
                                                                 edges["replaced_by"], strict=True)}
    # does an edge log speak for the node around the send? "covers": it logged before and after it, so
    # a receipt would be there; "ends_before": it stopped logging first (the edge was down, or the log
    # is cut); "starts_after": it begins later, so it cannot tell; "": no edge log names the node
    sent_at = np.where(has_send, last_send_s, created)
    edge_log = np.array([("" if x not in en else "starts_after" if en[x][0] > at else
                          "covers" if en[x][1] >= at else "ends_before") for x, at in zip(node, sent_at, strict=True)],
                        dtype=object)
    replaced_by = np.array([en[x][2] if x in en and isinstance(en[x][2], str) else None for x in node], dtype=object)
    if snapshot is None:  # an edge that logs a newer node id has left the old one behind
        alive[replaced_by != None] = False  # noqa: E711 - elementwise
    since = np.fmax(np.fmax(created, np.nan_to_num(last_send_s, nan=-np.inf)), np.nan_to_num(rejoined, nan=-np.inf))
    send_age = end - np.where(has_send, last_send_s, created)
    cand = pd.DataFrame({"execution": ids, "job": job, "node": node,
                         "state": [finals[x][0] if x in finals else "unknown" for x in ids],
                         "desired": [finals[x][1] if x in finals else "running" for x in ids],
                         "created_s": created, "sends": counts[:, 0], "retries": counts[:, 1],
                         "last_send_s": last_send_s, "outcome": outcome, "outcome_s": _t(opos),
                         "belief": belief, "alive": alive, "rejoined_s": rejoined, "edge_log": edge_log,
                         "replaced_by": replaced_by, "since_s": since, "age_s": end - since})

    # -- remedies that are due: the model's own (sim), else bounded from the fix and timings -----
    connected = belief == "connected"
    if snapshot is not None and any("remedy_at" in e for e in snapshot.executions):
        known = {e["id"]: (e.get("remedy"), e.get("remedy_at")) for e in snapshot.executions}
        for c, x in enumerate(ids):
            what, when = known.get(x, (None, None))
            if when is not None and outcome[c] != "retrying":
                due[c], remedy[c] = float(when), what
    else:
        fixes = _fix_names(fix)
        t = timings or Timings()
        if "pending-timeout" in fixes:
            bound = np.fmax(created, np.nan_to_num(last_send_s, nan=-np.inf)) + t.pending_timeout + \
                t.housekeeping_interval
            m = connected & (outcome != "retrying") & (bound > end)
            due = np.where(m, bound, due)
            remedy = np.where(m, "pending-timeout re-dispatch (at the latest)", remedy)
        if "sequence-replay" in fixes:  # a node's plane failed a request: it replays everything at its retry
            retry: dict[Any, tuple[float, float]] = {}
            for i in r.where((r.kind == "dispatch") & (r.state == "backoff")):
                m = _BACKOFF_RX.search(r.detail[i] or "")
                if m and r.node[i] is not None:
                    retry[r.node[i]] = (r.t[i], r.t[i] + float(m.group(1)) * _UNIT[m.group(2)])
            for c, nd in enumerate(node):
                failed_at, at_ = retry.get(nd, (np.nan, np.nan))
                sent = last_send_s[c] if last_send_s[c] == last_send_s[c] else created[c]
                if at_ > end and failed_at >= sent - IN_FLIGHT_S and np.isnan(due[c]) and outcome[c] != "retrying":
                    due[c], remedy[c] = at_, "sequence-replay retry"
        if "redispatch-on-join" in fixes:
            bound = rejoined + t.reeval_batch_delay + 1.0
            with np.errstate(invalid="ignore"):
                m = connected & (outcome != "retrying") & ~np.isnan(rejoined) & (bound > end) & np.isnan(due) & \
                    ~(np.nan_to_num(last_send_s, nan=-np.inf) > rejoined)
            due = np.where(m, bound, due)
            remedy = np.where(m, "node-join re-dispatch (redispatch-on-join)", remedy)

    # -- the class ---------------------------------------------------------------------------------
    any_dispatch_logs = bool(((r.kind == "dispatch") | (r.kind == "publish")).any())
    head_of_line = bool((outcome == "retrying").any())
    node_back = connected | (belief == "unknown")
    down = np.array([a is not None and a == a and not bool(a) for a in alive], dtype=bool)
    recent = send_age < IN_FLIGHT_S
    published = np.isin(outcome, ["published", "sent"])
    none = outcome == "none"
    classes = np.select(
        [outcome == "delivered", ~node_back | down, ~np.isnan(due) & (outcome != "retrying"),
         outcome == "retrying", none & head_of_line, none & (not any_dispatch_logs), none & recent, none,
         outcome == "refused", outcome == "lost", published & recent,
         published & np.isin(edge_log, ["covers", "ends_before"]), published],
        ["delivered", "awaiting_node", "scheduled", "retrying", "blocked", "unknown", "in_flight", "lost",
         "refused", "lost", "in_flight", "lost", "unknown"], default="unknown")
    unknown = classes == "unknown"
    missing = np.select(
        [unknown & none, unknown & published & (edge_log == "starts_after"),
         unknown & published & (node != None), unknown],  # noqa: E711 - elementwise
        ["no dispatch lines: pass the orchestrator's log at --log-level=debug (instrumented build)",
         "its edge's log starts after the send: pass the edge log from before it",
         "delivery not checked: pass the edge logs",
         "the execution's node is not in these logs"], default="")
    # a node-join evaluation of its job that finished after the later of creation, last send and
    # rejoin already had its chance to act: no need to wait out the threshold
    join_eval: dict[Any, float] = {}
    for i in r.where((r.kind == "eval") & (r.state == "processed")):
        if r.job[i] is not None and "trigger=node-join" in (r.detail[i] or ""):
            join_eval[r.job[i]] = max(join_eval.get(r.job[i], -np.inf), r.t[i])
    judged = np.array([join_eval.get(j, -np.inf) for j in job], dtype=float) > since
    # a reconciler warning that the job is stuck, after the later of creation, last send and rejoin, judged it too
    warned = reconciler_stuck(r)
    warned_s = np.array([warned.get(j, np.nan) for j in job], dtype=float)
    with np.errstate(invalid="ignore"):
        judged |= warned_s > since
    # stuck needs the execution's final state: a state line, the snapshot, or a reconciler warning naming it
    final_known = np.array([x in finals for x in ids], dtype=bool) | (snapshot is not None)
    stuck = np.isin(classes, STUCK_CLASSES) & ((end - since >= stuck_after(timings)) | judged) & connected & \
        final_known
    cand["due_s"] = due
    cand["remedy"] = remedy
    cand["class"] = classes
    cand["stuck"] = stuck
    cand["missing"] = missing
    cand["reconciler_s"] = warned_s
    cand["final_known"] = final_known
    return cand[cols]

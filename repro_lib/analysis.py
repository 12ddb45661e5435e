"""Verdict: is issue 395 reproduced in this run? (issue 2 §7)

``reproduced``: at the end some execution is desired=running, state=pending although its node
has been connected (believed *and*, where known, actually up) longer than a node-join
evaluation needs — ``reeval_batch_delay`` + 1 s after it (re)joined — and nothing re-dispatched
it since. ``not_reproduced``: every job that should run is running (or completed).
``inconclusive``: anything else (e.g. the nodes never came back).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Stuck", "Verdict", "verdict_of", "stuck_after", "Finding", "Diagnosis", "diagnose", "NO_DISPATCH_HINT"]

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
    # the last (re)join the logs show: a handshake, or a promotion to connected
    mask = (events["node"] == node["id"]) & (events["kind"] == "node") & \
        events["state"].isin(["handshake", "connected"])
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
    all_names = [n.get("name") for n in snap.nodes]
    threshold = stuck_after(timings)
    stuck: list[Stuck] = []
    reasons: list[str] = []
    waiting: list[str] = []
    for ex in snap.executions:
        if ex["desired"] != "running" or ex["state"] not in ("pending",):
            continue
        node = nodes.get(ex["node"])
        label = (node or {}).get("name") or ex.get("node_name") or ex["node"]
        if all_names.count(label) > 1:
            label = f"{label} ({ex['node']})"
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


# -- diagnosis ------------------------------------------------------------------------------------
NO_DISPATCH_HINT = ("no dispatch events found — was the orchestrator started with --log-level=debug "
                    "and the instrumented build?")


@dataclass
class Finding:
    """What happened to one pending execution, with the evidence rows behind it."""

    execution: str
    job: str | None
    node: str | None
    name: str | None
    created_s: float | None
    dispatch: str            # delivered | lost | refused | published | none
    node_up_at_dispatch: bool | None
    believed_at_dispatch: str | None
    returned_s: float | None  # when the edge came back (None: never / unknown)
    evals_after: list[tuple[float, str, str]]  # (t, trigger, what it did)
    redispatches: int
    cause: str
    evidence: list[int] = field(default_factory=list)  # row labels in the events table

    def sentence(self) -> str:
        who = f"{self.job} execution {self.execution} on {self.name or self.node}"
        parts = [f"{who}: created at {self.created_s:.1f}s" if self.created_s is not None else who]
        if self.node_up_at_dispatch is False:
            parts.append(f"while {self.name} was actually down but believed {self.believed_at_dispatch}")
        elif self.node_up_at_dispatch is None and self.believed_at_dispatch:
            parts.append(f"while the orchestrator believed {self.name} {self.believed_at_dispatch} "
                         "(whether it was really up is not in the logs)")
        parts.append({
            "lost": "its RunExecutionRequest was published (connection_exists=true connection_alive=true) "
                    "into NATS with no subscriber and lost",
            "refused": "its dispatch was refused (node not connected) and RetryStrategySkip dropped the event",
            "published": "its RunExecutionRequest was published; no delivery to the edge appears in the logs",
            "delivered": "its RunExecutionRequest was delivered to the edge",
            "none": "no dispatch of it appears in the logs",
        }[self.dispatch])
        if self.returned_s is not None:
            parts.append(f"{self.name} came back at {self.returned_s:.1f}s")
        after = "after it came back" if self.returned_s is not None else "afterwards"
        if self.evals_after:
            runs = ", ".join(f"{trig} at {t:.1f}s: {did}" for t, trig, did in self.evals_after[:4])
            more = f" (+{len(self.evals_after) - 4} more)" if len(self.evals_after) > 4 else ""
            parts.append(f"{len(self.evals_after)} evaluation(s) of its job ran {after} ({runs}{more})")
        elif self.created_s is not None:
            parts.append(f"no evaluation of its job ran {after}")
        if self.redispatches:
            parts.append(f"it was re-dispatched {self.redispatches} time(s)")
        return "; ".join(parts) + f". Cause: {self.cause}."


@dataclass
class Diagnosis:
    verdict: Verdict | None
    findings: list[Finding]
    notes: list[str]
    events: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    @property
    def causes(self) -> dict[str, str]:
        return {f.execution: f.cause for f in self.findings}

    def evidence(self) -> pd.DataFrame:
        """The event rows behind every finding."""
        idx = sorted({i for f in self.findings for i in f.evidence})
        return self.events.loc[idx] if idx else self.events.iloc[0:0]

    def text(self) -> str:
        lines = []
        if self.verdict is not None:
            lines.append(f"VERDICT: {self.verdict.verdict}")
            lines += [f"  {r}" for r in self.verdict.reasons]
        if self.findings:
            lines.append("")
            lines.append("What happened to each pending execution:")
            lines += [f"- {f.sentence()}" for f in self.findings]
        if self.notes:
            lines.append("")
            lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html
        items = "".join(f"<li>{html.escape(f.sentence())}</li>" for f in self.findings)
        notes = "".join(f"<li><i>{html.escape(n)}</i></li>" for n in self.notes)
        head = f"<b>VERDICT: {html.escape(self.verdict.verdict)}</b>" if self.verdict else ""
        return f"<div class='repro-diagnosis'>{head}<ul>{items}</ul><ul>{notes}</ul></div>"


_EVAL_ID = re.compile(r"eval_id=(\S+)")
CAUSE_LOST = "lost dispatch (published into the void; nothing re-sends it)"
CAUSE_REFUSED = "refused dispatch (ErrNodeNotConnected, dropped by RetryStrategySkip)"
CAUSE_NEVER_RETURNED = "node never returned"
CAUSE_NOT_DISPATCHED = "never dispatched"
CAUSE_RECOVERING = "recovering (re-dispatched)"


def _candidates(events: pd.DataFrame, snap: Snapshot | None) -> list[str]:
    if snap is not None:
        return [e["id"] for e in snap.executions if e["desired"] == "running" and e["state"] == "pending"]
    st = events[(events["kind"] == "state") & events["execution"].notna()]
    last = st.groupby("execution", sort=False)["state"].last()
    pending = [str(x) for x in last[last == "pending"].index]
    if pending:
        return pending
    disp = events[events["kind"].isin(["dispatch", "publish", "deliver"]) & events["execution"].notna()]
    got = set(disp.loc[(disp["kind"] == "deliver") & (disp["state"] == "delivered")
                       & (disp["source"] != "nats"), "execution"])
    return [str(x) for x in dict.fromkeys(disp["execution"]) if x not in got]


def _state_at(intervals: pd.DataFrame, node: str | None, t: float) -> str | None:
    if node is None or intervals.empty:
        return None
    g = intervals[(intervals["node"] == node) & (intervals["t0"] <= t) & (t < intervals["t1"] + 1e-9)]
    return str(g.iloc[-1]["state"]) if len(g) else None


def diagnose(events: pd.DataFrame, snapshot: Snapshot | None = None, timings: Timings | None = None) -> Diagnosis:
    """Explain every pending execution from the events (and the final snapshot, if known)."""
    from repro_lib import timeline as tl

    notes: list[str] = []
    t_end = snapshot.t_s if snapshot is not None else (float(events["t_s"].max()) if len(events) else 0.0)
    verdict = verdict_of(snapshot, timings, events) if (snapshot is not None and timings is not None) else None
    if not ((events["kind"] == "dispatch") | (events["kind"] == "publish")).any():
        notes.append(NO_DISPATCH_HINT)
    has_faults = bool((events["kind"] == "fault").any())
    has_edges = bool(events["source"].astype(str).str.startswith("edge").any())
    if not has_faults:
        notes.append("no fault events (kills/starts) were captured, so whether an edge was really up "
                     "cannot be determined — only what the orchestrator believed")
    actual = tl.actual_intervals(events, t_end) if has_faults else pd.DataFrame(columns=["node", "state"])
    belief = tl.belief_intervals(events, t_end)
    names = tl.node_names(events)
    marks = tl.dispatch_marks(events)
    evals = tl.eval_marks(events)
    processed = events[(events["kind"] == "eval") & (events["state"] == "processed")]
    snap_ex = {e["id"]: e for e in snapshot.executions} if snapshot is not None else {}
    snap_nodes = {n["id"]: n for n in snapshot.nodes} if snapshot is not None else {}

    findings = []
    for ex_id in _candidates(events, snapshot):
        rows = events.index[events["execution"] == ex_id].tolist()
        own = events.loc[rows]
        info = snap_ex.get(ex_id, {})
        job = info.get("job") or (own["job"].dropna().iloc[0] if own["job"].notna().any() else None)
        node = info.get("node") or (own["node"].dropna().iloc[0] if own["node"].notna().any() else None)
        name = names.get(str(node), info.get("node_name") or node)
        if name and list(names.values()).count(name) > 1:  # a ghost and its successor share the name
            name = f"{name} ({node})"
        created = float(own["t_s"].min()) if len(own) else info.get("created_at")
        m = marks[marks["execution"] == ex_id]
        outs = list(m["outcome"])
        if "delivered" in outs:
            dispatch = "delivered"
        elif "refused" in outs or "skipped" in outs:
            dispatch = "refused"
        elif "lost" in outs:
            dispatch = "lost"
        elif "sent" in outs:
            dispatch = "lost" if has_edges and not has_faults else "published"
        else:
            dispatch = "none"
        t_disp = float(m["t_s"].iloc[0]) if len(m) else (created or 0.0)
        actual_state = _state_at(actual, node, t_disp) if has_faults else None
        up = None if actual_state is None else actual_state == "up"
        believed = _state_at(belief, node, t_disp)
        returned = None
        if has_faults and node is not None:
            back = actual[(actual["node"] == node) & (actual["state"] == "up") & (actual["t0"] > t_disp)]
            returned = float(back["t0"].iloc[0]) if len(back) else None
        ev_after = []
        since = max(created or 0.0, returned or 0.0)  # what ran once the edge was back can judge it
        for row in evals[(evals["job"] == job) & (evals["t_s"] >= since)].itertuples():
            ev_id = _EVAL_ID.search(str(row.detail or ""))
            pd_detail = processed["detail"].fillna("")
            if ev_id:  # the same evaluation's "processed" line
                p = processed[pd_detail.str.contains(f"eval_id={ev_id.group(1)}", regex=False)]
            else:
                p = processed[(processed["job"] == job) & (processed["t_s"] >= row.t_s)
                              & pd_detail.str.contains(f"trigger={row.trigger}", regex=False)].head(1)
            did = ("changed the plan" if "empty=false" in str(p["detail"].iloc[0]) else "produced an empty plan") \
                if len(p) else "(outcome not logged)"
            ev_after.append((float(row.t_s), str(row.trigger), did))
        redis = outs.count("redispatched")
        final_node = snap_nodes.get(node, {})
        end_actual = _state_at(actual, node, t_end) if has_faults else None
        if final_node.get("alive") is False or end_actual in ("down", "partitioned") or \
                final_node.get("state") in ("disconnected", "lost"):
            cause = CAUSE_NEVER_RETURNED
        elif dispatch == "refused":
            cause = CAUSE_REFUSED
        elif dispatch in ("lost", "published"):
            cause = CAUSE_LOST if redis == 0 else CAUSE_RECOVERING
        elif dispatch == "none":
            cause = CAUSE_NOT_DISPATCHED
        else:
            cause = "delivered but not reported running (edge→orchestrator loss?)"
        findings.append(Finding(ex_id, job, node, name, created, dispatch, up, believed, returned,
                                ev_after, redis, cause, sorted(set(rows))))
    if not findings and verdict is None:
        notes.append("no pending execution found in these logs")
    return Diagnosis(verdict, findings, notes, events)

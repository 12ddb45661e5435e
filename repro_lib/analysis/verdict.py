"""The verdict, decided from each pending execution's class (:mod:`.delivery`).

``reproduced``: some execution is *stuck* — ``lost`` or ``refused`` and dropped, on a node
believed connected, for longer than :func:`~.delivery.stuck_after` since the later of its creation,
its last send and its node's (re)join (the reasons name which executions and how).
``not_reproduced``: every job that should run is running (or completed / stopped) and nothing is
pending. ``inconclusive``: anything else, with the reason — a remedy due later ("needs a longer
settle"), a retry or a send still in flight, a node not back, evidence missing. Executions
``blocked`` behind RetryStrategyBlock's head of line are reported as their own finding, never as
issue 395.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from repro_lib.analysis.delivery import CLASSES, delivery_table, stuck_after
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Stuck", "Verdict", "verdict_of", "verdict_from_table", "how_lost", "OK_JOB_STATES"]

OK_JOB_STATES = frozenset({"running", "completed", "stopped"})
_EXAMPLES = 3


@dataclass(frozen=True)
class Stuck:
    """One execution that stays pending on a connected node and that nothing will re-send."""

    execution: str
    job: str
    node: str       # edge name where known, else node id
    node_id: str
    pending_s: float
    dispatches: int | None = None
    cause: str = "lost"  # lost | refused
    how: str = ""


@dataclass
class Verdict:
    verdict: str
    stuck: list[Stuck] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)  # class -> pending executions in it
    table: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the delivery table

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "stuck": [asdict(s) for s in self.stuck],
                "reasons": self.reasons, "classes": self.classes}


def how_lost(outcome: str, edge_log: bool) -> str:
    """The words for what happened to an execution's last run request."""
    return {
        "lost": "its run request was dropped by NATS (no subscriber, or cut off)",
        "refused": "its run request was refused (node not connected in the transport) and dropped",
        "none": "its run request was never sent",
        "retrying": "its run request was refused; RetryStrategyBlock retries it",
        "delivered": "its run request reached the edge",
    }.get(outcome, "its run request was published and its edge's log shows no receipt" if edge_log
          else "its run request was published; whether it arrived is not in these logs")


def _labels(tab: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """Edge names; a name that two node ids share (a ghost and its successor) gets the id too."""
    seen: dict[str, set[str]] = {}
    for node_id, name in names.items():
        seen.setdefault(name, set()).add(node_id)
    base = [names.get(str(n), str(n)) for n in tab["node"]]
    return [f"{b} ({n})" if len(seen.get(b, ())) > 1 else b for b, n in zip(base, tab["node"], strict=True)]


def _some(tab: pd.DataFrame, labels: pd.Series) -> str:
    shown = [f"{x} on {labels[i]}" for i, x in zip(tab.index[:_EXAMPLES], tab["execution"][:_EXAMPLES],
                                                   strict=True)]
    more = f" (+{len(tab) - _EXAMPLES} more)" if len(tab) > _EXAMPLES else ""
    return ", ".join(shown) + more


def _not_back(belief: str, alive: Any, replaced_by: Any) -> str:
    if isinstance(replaced_by, str):
        return f"its edge came back as {replaced_by}; still believed {belief}"
    return "actually down" if alive is False or alive == 0 else str(belief)


def _jobs(tab: pd.DataFrame) -> str:
    return ", ".join(sorted({str(j) if j == j and j is not None else "(job unknown)" for j in tab["job"]}))


def verdict_from_table(tab: pd.DataFrame, jobs: list[dict[str, Any]], *, names: dict[str, str] | None = None,
                       timings: Timings | None = None, t_end: float = 0.0) -> Verdict:
    """The verdict and its reasons from a :func:`~.delivery.delivery_table` and the final job list."""
    threshold = stuck_after(timings)
    names = names or {}
    labels = pd.Series(_labels(tab, names), index=tab.index, dtype=object)
    classes = {c: int(n) for c, n in tab["class"].value_counts().items()} if len(tab) else {}
    classes = {c: classes[c] for c in CLASSES if c in classes}
    reasons: list[str] = []
    stuck_rows = tab[tab["stuck"].astype(bool)]
    stuck = [Stuck(str(x), str(job), labels[i], str(node), round(t_end - float(created), 3), int(sends),
                   str(cls), how_lost(str(outcome), bool(edge_log)))
             for i, x, job, node, created, sends, cls, outcome, edge_log in zip(
                 stuck_rows.index, stuck_rows["execution"], stuck_rows["job"], stuck_rows["node"],
                 stuck_rows["created_s"], stuck_rows["sends"], stuck_rows["class"], stuck_rows["outcome"],
                 stuck_rows["edge_log"], strict=True)]
    for (cls, job), g in stuck_rows.groupby(["class", "job"], sort=True, dropna=False):
        how = how_lost(str(g["outcome"].iloc[0]), bool(g["edge_log"].iloc[0]))
        reasons.append(f"{len(g)} execution(s) of {job} stuck ({cls}): {how}, on a node believed connected, "
                       f"and nothing will re-send it — {_some(g, labels)}")
    early = tab[tab["class"].isin(["lost", "refused"]) & ~tab["stuck"].astype(bool)]
    for cls, g in early.groupby("class", sort=True):
        reasons.append(f"{len(g)} execution(s) {cls} only {g['age_s'].min():.1f}s after their creation, last send "
                       f"or their node's rejoin, and no node-join evaluation has run since: too soon to call "
                       f"them stuck (that takes {threshold:g}s); settle longer ({_some(g, labels)})")
    for remedy, g in tab[tab["class"] == "scheduled"].groupby("remedy", sort=True):
        reasons.append(f"needs a longer settle: the {remedy} of {len(g)} execution(s) is due at "
                       f"t={g['due_s'].max():.1f}s ({_some(g, labels)})")
    g = tab[tab["class"] == "retrying"]
    if len(g):
        reasons.append(f"{len(g)} execution(s) still retrying under RetryStrategyBlock, next attempt at "
                       f"t={g['due_s'].min():.1f}s ({_some(g, labels)})")
    g = tab[tab["class"] == "blocked"]
    if len(g):
        head = ", ".join(tab.loc[tab["class"] == "retrying", "execution"].head(2)) or "another event"
        reasons.append(f"{len(g)} execution(s) of {_jobs(g)} not dispatched yet: the dispatcher is blocked "
                       f"retrying {head} (RetryStrategyBlock's head-of-line blocking — fix A's price, "
                       f"not issue 395) ({_some(g, labels)})")
    g = tab[tab["class"] == "in_flight"]
    if len(g):
        reasons.append(f"{len(g)} execution(s) created or sent moments ago: too early to tell ({_some(g, labels)})")
    g = tab[tab["class"] == "delivered"]
    if len(g):
        old = g[g["age_s"] >= threshold]
        tail = (" — an edge→orchestrator state report lost? (not issue 395)" if len(old) else "")
        reasons.append(f"{len(g)} execution(s) delivered to their edge, not yet reported running{tail} "
                       f"({_some(g, labels)})")
    g = tab[tab["class"] == "awaiting_node"]
    if len(g):
        why = [f"{labels[i]} ({_not_back(b, a, rb)})"
               for i, b, a, rb in zip(g.index, g["belief"], g["alive"], g["replaced_by"], strict=True)]
        where = ", ".join(dict.fromkeys(why))
        reasons.append(f"{len(g)} execution(s) of {_jobs(g)} pending on nodes that are not back: {where}")
    for miss, g in tab[tab["class"] == "unknown"].groupby("missing", sort=True):
        reasons.append(f"{len(g)} execution(s) cannot be judged — {miss} ({_some(g, labels)})")
    if stuck:
        return Verdict("reproduced", stuck, reasons, classes, tab)
    bad = [j for j in jobs if j.get("state") not in OK_JOB_STATES]
    if not bad and tab.empty:
        return Verdict("not_reproduced", [], ["every job that should run is running"], classes, tab)
    pending_jobs = set(tab["job"].dropna().astype(str))
    reasons += [f"job {j['name']} is {j.get('state')}" for j in bad if j["name"] not in pending_jobs]
    return Verdict("inconclusive", [], reasons or ["no job is running and nothing is pending"], classes, tab)


def verdict_of(snap: Snapshot, timings: Timings, events: pd.DataFrame | None = None, *,
               fix: list[str] | str | None = None) -> Verdict:
    """The verdict for the state in ``snap`` (usually the run's final snapshot), judged from the
    events (each execution's delivery history); ``fix`` — the run's fixes — bounds the remedies
    a live run may still apply (the sim's snapshot carries the model's own)."""
    from repro_lib.analysis.timeline import node_names

    if events is None:
        from repro_lib.events import COLUMNS
        events = pd.DataFrame(columns=list(COLUMNS))
    tab = delivery_table(events, snapshot=snap, timings=timings, fix=fix)
    names = node_names(events) if len(events) else {}
    names.update({n["id"]: n.get("name") or n["id"] for n in snap.nodes})
    for e in snap.executions:
        if e.get("node_name"):
            names.setdefault(e["node"], e["node_name"])
    return verdict_from_table(tab, snap.jobs, names=names, timings=timings, t_end=snap.t_s)

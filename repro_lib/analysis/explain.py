"""One or two sentences that say *why* a run came out as it did, from its own events.

When the edges died, when the orchestrator noticed, when the job was deployed against that, where
its run requests went, and what the node-join evaluation did — plus, for the fix under test, whether
it could act on what happened (approach A cannot retry a publish that succeeded) or has not acted
yet (approach E's re-dispatch is due at t=…). :func:`explain` works on any :class:`~repro_lib.run.Run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from repro_lib.analysis import timeline as tl

__all__ = ["Explanation", "explain", "transport_note"]


@dataclass
class Explanation:
    """The story of one run: ``sentences`` to read, ``times`` to draw (``noticed`` …), ``fix_note``."""

    sentences: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)  # killed, noticed, deployed, returned, node_join
    fix_note: str = ""
    settle_until: float | None = None  # a remedy due after the run's end: settle at least until then

    def text(self) -> str:
        return " ".join([*self.sentences, self.fix_note]).strip()


def _first(events: pd.DataFrame, mask: pd.Series) -> pd.Series | None:
    hit = events[mask]
    return hit.iloc[0] if len(hit) else None


def explain(run: Any) -> Explanation:
    """The explanation of ``run`` (sim or live), read from its events and verdict."""
    ev = run.events
    kind, state = ev["kind"], ev["state"]
    ex = Explanation()
    kills = ev[(kind == "fault") & state.isin(["kill", "partition"])]
    killed_nodes = set(kills["node"].dropna())
    v = run.verdict
    tab = v.table if v.table is not None else pd.DataFrame()
    job = str(tab["job"].iloc[0]) if len(tab) and tab["job"].notna().any() else None
    deploys = ev[(kind == "action") & (state == "deploy")]
    if len(kills):
        t_kill = float(kills["t_s"].min())
        ex.times["killed"] = t_kill
        what = "died" if (kills["state"] == "kill").all() else "were cut off"
        ex.sentences.append(f"{len(killed_nodes) or len(kills)} edge(s) {what} at {t_kill:.1f}s;")
        _, t_noticed = tl.noticed_at(ev)
        starts = ev[(kind == "fault") & state.isin(["start", "heal"]) & (ev["t_s"] >= t_kill)]
        t_back = float(starts["t_s"].min()) if len(starts) else None
        if t_back is not None:
            ex.times["returned"] = t_back
        if t_noticed is not None:
            ex.times["noticed"] = t_noticed
            ex.sentences.append(f"the orchestrator noticed at {ex.times['noticed']:.1f}s "
                                f"({ex.times['noticed'] - t_kill:.0f}s later: no heartbeat for "
                                f"disconnect_timeout {run.timings.disconnect_timeout:g}s, then the next health check).")
        else:
            until = f"before they came back at {t_back:.1f}s" if t_back is not None else "by the end of the run"
            ex.sentences.append(f"the orchestrator never noticed {until}: it went on believing them connected.")
        later = deploys[deploys["t_s"] >= t_kill]
        target = later[later["job"] == job] if job is not None else later
        dep = (target if len(target) else later)
        if len(dep):
            d = dep.iloc[0]
            ex.times["deployed"] = float(d["t_s"])
            noticed_at = ex.times.get("noticed")
            when = (f"{d['t_s'] - t_kill:.1f}s after the kill, while the orchestrator still believed the edges "
                    f"connected" if noticed_at is None or d["t_s"] < noticed_at else
                    "after the orchestrator had marked the edges disconnected")
            ex.sentences.append(f"{d['job']} was deployed at {d['t_s']:.1f}s, {when}:")
            ex.sentences.append(_dispatch_story(run, str(d["job"]), killed_nodes))
    joins = tl.eval_marks(ev)
    joins = joins[joins["trigger"] == "node-join"]
    if "returned" in ex.times:
        after = joins[joins["t_s"] >= ex.times["returned"]]
        if len(after):
            ex.times["node_join"] = float(after["t_s"].iloc[0])
            did = _eval_outcome(ev, job)
            ex.sentences.append(f"After they came back the node-join evaluation at {ex.times['node_join']:.1f}s "
                                f"{did}.")
    ex.sentences.append(f"Verdict: {v.verdict}" + (f" — {v.reasons[0]}" if v.reasons else "") + ".")
    note = transport_note(run)
    if note:
        ex.sentences.append(note)
    _fix_note(run, ex)
    return ex


def transport_note(run: Any) -> str:
    """What a run with partitions or transport faults rests on: the NATS semantics and timings it ran under."""
    ev = run.events
    faults = set(ev.loc[ev["kind"] == "fault", "state"].dropna())
    if not faults & {"partition", "stale_close", "slow_consumer", "reconnect"}:
        return ""
    t = getattr(run, "timings", None)
    semantics, preset = getattr(t, "nats_semantics", "nats"), getattr(t, "nats_timings", "real")
    if semantics == "drop":
        return ("This rests on the drop reading [I]: a message to a cut-off edge is dropped at once; as nats-server "
                "2.14.5 behaves, a cut shorter than its ping rules delivers it late (docs/nats-transport.md).")
    pings = ("the real defaults: pings 2 min × 2, so a cut is noticed 4–8 min in" if preset == "real" else
             "the short preset, 1 s pings — NOT the real defaults")
    return (f"The transport is nats-server 2.14.5's and nats.go's rules at {pings}: a shorter cut holds messages "
            "and delivers them at the heal; a longer one loses them with the connection.")


def _dispatch_story(run: Any, job: str, killed: set[Any]) -> str:
    marks = tl.dispatch_marks(run.events)
    mine = marks[marks["job"].eq(job) | marks["execution"].isin(
        run.events.loc[run.events["job"] == job, "execution"].dropna())]
    on_dead = mine[mine["node"].isin(killed)] if killed else mine
    # executions, not log lines (a refusal logs two)
    counts = on_dead.groupby("outcome")["execution"].nunique().to_dict()
    n = int(counts.get("sent", 0))
    if not len(on_dead):
        return "no run request went to the dead edges (the orchestrator placed nothing on them)."
    parts = []
    if counts.get("lost"):
        parts.append(f"the run requests of {counts['lost']} execution(s) were published into NATS with nobody "
                     "subscribed and dropped — a successful publish, so no retry strategy ever saw an error")
    if counts.get("refused"):
        parts.append(f"those of {counts['refused']} execution(s) were refused (node not connected in the transport)")
    if counts.get("delivered"):
        parts.append(f"{counts['delivered']} execution(s) reached their edge")
    if counts.get("redispatched"):
        parts.append(f"{counts['redispatched']} execution(s) were re-dispatched")
    return ("; ".join(parts) if parts else f"{n} run request(s) were published") + "."


def _eval_outcome(ev: pd.DataFrame, job: str | None) -> str:
    done = ev[(ev["kind"] == "eval") & (ev["state"] == "processed")
              & ev["detail"].fillna("").str.contains("trigger=node-join", regex=False)]
    if job is not None:
        done = done[done["job"] == job]
    if not len(done):
        return "ran (its outcome is not in the logs)"
    d = str(done["detail"].iloc[-1])
    if "redispatch=" in d and "redispatch=0" not in d:
        return "re-dispatched the pending executions"
    return ("produced an empty plan: the executions exist, so it placed nothing and sent nothing"
            if "empty=true" in d else "changed the plan")


def _fix_note(run: Any, ex: Explanation) -> None:
    fixes = set(run.fix)
    classes = set(run.verdict.classes)
    if "block" in fixes and "lost" in classes:
        ex.fix_note = ("Fix A (RetryStrategyBlock) cannot act here: the publish succeeded, so the dispatcher saw no "
                       "error to retry — it only helps when the publish is refused.")
    elif "block" in fixes and "refused" not in classes and run.verdict.verdict == "reproduced":
        ex.fix_note = "Fix A (RetryStrategyBlock) had nothing to retry."
    tab = run.verdict.table
    if tab is not None and len(tab) and (tab["class"] == "scheduled").any():
        due = float(tab.loc[tab["class"] == "scheduled", "due_s"].max())
        remedy = str(tab.loc[tab["class"] == "scheduled", "remedy"].iloc[0])
        ex.settle_until = due
        ex.fix_note = (f"The {remedy} is due at t={due:.1f}s, after this run ended (t={run.final.t_s:.1f}s): "
                       f"settle at least {due - run.final.t_s + 1:.0f}s longer to see it act.")

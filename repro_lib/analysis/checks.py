"""Liveness and safety checks on one run: what ``repro search`` asks of every fault schedule.

- **liveness** (after everything is healed and has settled):
  ``stuck`` — the verdict is ``reproduced`` (issue 395 itself);
  ``not-running`` — a job that should run is not running (a pipeline job not stopped is not
  ``running``; a query job is still ``pending``/``queued``/``deploying``).
- **safety** (at every moment of the run, from the orchestrator's own state changes; a failure
  counts once it has lasted longer than the orchestrator's reaction time, :func:`safety_grace`):
  ``two-running`` — two running executions of one pipeline job on one node;
  ``running-on-lost`` — an execution running on a node the orchestrator has marked lost;
  ``running-without-executions`` — a job ``running`` with no running execution.

The safety checks read the history (node, execution and job state changes) and judge the state at
the end of each instant, so changes logged one after another at the same time never count as a
violation. The same code reads the sim's structured records (fast: :func:`history_from_records`)
and any run's events table (:func:`history_from_events`), so a counterexample found on the sim
re-runs to the same finding on any backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["CHECKS", "LIVENESS", "SAFETY", "Violation", "history_from_records", "history_from_events",
           "safety_violations", "safety_grace", "liveness_violations", "check_run",
           "stopped_jobs", "actions_from_records", "actions_from_events"]

LIVENESS = ("stuck", "not-running", "not-stopped")
SAFETY = ("two-running", "running-on-lost", "running-without-executions")
CHECKS = LIVENESS + SAFETY

_NODE_STATES = {"connecting", "connected", "disconnected", "lost"}
_WAITING = {"pending", "queued", "deploying"}

#: one state change: (t_s, what, node, job, execution, state, desired, job_type)
#: ``what`` is "node", "execution" or "job"
Change = tuple[float, str, str | None, str | None, str | None, str, str | None, str | None]


@dataclass(frozen=True)
class Violation:
    """One failed check, with the moment (safety) or the final state (liveness) that shows it."""

    check: str
    t_s: float
    job: str | None = None
    node: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = " ".join(x for x in (f"job {self.job}" if self.job else "",
                                     f"node {self.node}" if self.node else "") if x)
        return f"{self.check} at t={self.t_s:.1f}s" + (f" ({where})" if where else "") + \
            (f": {self.detail}" if self.detail else "")


def history_from_records(records: Iterable[Any]) -> Iterator[Change]:
    """State changes from the sim's (or emulator's) structured log records."""
    for r in records:
        msg = r.msg
        if msg == "EXECUTION: state changed":
            f = dict(r.fields)
            yield (r.t, "execution", _s(f.get("node_id")), _s(f.get("job_id") or f.get("job")),
                   _s(f.get("execution_id")), str(f.get("state", "")), _s(f.get("desired")), None)
        elif msg == "JOB: state changed":
            f = dict(r.fields)
            yield (r.t, "job", None, _s(f.get("job_id") or f.get("job")), None, str(f.get("state", "")), None,
                   _s(f.get("type")))
        elif msg == "NODE: state changed":
            f = dict(r.fields)
            yield (r.t, "node", _s(f.get("node_id")), None, None, str(f.get("state", "")), None, None)


def history_from_events(events: Any) -> Iterator[Change]:
    """State changes from an events table (any backend): ``kind`` state and node rows."""
    rows = events[events["kind"].isin(("state", "node"))]
    for t_s, kind, node, job, ex, state, detail in rows[["t_s", "kind", "node", "job", "execution", "state",
                                                         "detail"]].itertuples(index=False, name=None):
        node, job, ex, state = _s(node), _s(job), _s(ex), _s(state) or ""
        fields = _fields(detail)
        if kind == "node":
            if state in _NODE_STATES and node:
                yield (float(t_s), "node", node, None, None, state, None, None)
        elif ex:
            yield (float(t_s), "execution", node, job, ex, state, fields.get("desired"), None)
        elif job:
            yield (float(t_s), "job", None, job, None, state, None, fields.get("type"))


def safety_violations(history: Iterable[Change], job_types: dict[str, str] | None = None, *,
                      grace: float = 0.0, until: float | None = None) -> list[Violation]:
    """Each safety check that fails for longer than ``grace`` seconds (the time the orchestrator
    needs to react, e.g. a lost node's batch delay before its executions are failed), once per
    (check, job, node), at the moment it started; [] when none does. A failure still going on at
    the end of the history counts when ``until`` (the run's end) is at least ``grace`` after it."""
    types = dict(job_types or {})
    execs: dict[str, tuple[str | None, str | None, str]] = {}   # id -> (job, node, state)
    nodes: dict[str, str] = {}
    jobs: dict[str, str] = {}
    active: dict[tuple[str, str | None, str | None], Violation] = {}
    found: dict[tuple[str, str | None, str | None], Violation] = {}

    def now_failing(t: float) -> dict[tuple[str, str | None, str | None], Violation]:
        running: dict[str, list[tuple[str, str | None]]] = {}
        for ex_id, (job, node, state) in execs.items():
            if state == "running" and job is not None:
                running.setdefault(job, []).append((ex_id, node))
        out = {}
        for job, rows in running.items():
            if types.get(job, "pipeline") == "pipeline":
                per_node: dict[str | None, list[str]] = {}
                for ex_id, node in rows:
                    per_node.setdefault(node, []).append(ex_id)
                for node, ids in per_node.items():
                    if len(ids) > 1:
                        out[("two-running", job, node)] = Violation(
                            "two-running", t, job, node, f"executions {', '.join(sorted(ids))} are both running")
            for ex_id, node in rows:
                if node is not None and nodes.get(node) == "lost":
                    out[("running-on-lost", job, node)] = Violation(
                        "running-on-lost", t, job, node, f"execution {ex_id} is running on a lost node")
        for job, state in jobs.items():
            if state == "running" and not running.get(job):
                out[("running-without-executions", job, None)] = Violation(
                    "running-without-executions", t, job, None, "the job is running but none of its executions is")
        return out

    def judge(t: float) -> None:
        failing = now_failing(t)
        for key in [k for k in active if k not in failing]:
            v = active.pop(key)  # it ended at t: it counts when it lasted the grace
            if t - v.t_s >= grace and key not in found:
                found[key] = v
        for key, v in failing.items():
            active.setdefault(key, v)
        for key, v in active.items():
            if t - v.t_s >= grace and key not in found:
                found[key] = v

    t_now: float | None = None
    for t, what, node, job, ex, state, _desired, jtype in history:
        if t_now is not None and t != t_now:
            judge(t_now)
        t_now = t
        if what == "node" and node:
            nodes[node] = state
        elif what == "execution" and ex:
            old = execs.get(ex)
            execs[ex] = (job or (old[0] if old else None), node or (old[1] if old else None), state)
        elif what == "job" and job:
            jobs[job] = state
            if jtype:
                types[job] = jtype
    if t_now is not None:
        judge(t_now)
        end = max(t_now, until if until is not None else t_now)
        for key, v in active.items():
            if end - v.t_s >= grace and key not in found:
                found[key] = v
    return sorted(found.values(), key=lambda v: (v.t_s, CHECKS.index(v.check), v.job or "", v.node or ""))


def safety_grace(timings: Any) -> float:
    """How long a safety check may fail before it counts: the orchestrator's reaction time to a
    node event (the re-evaluation batch delay) plus a second for the evaluation."""
    return float(getattr(timings, "reeval_batch_delay", 0.0)) + 1.0


def liveness_violations(final: Any, verdict: Any = None, *, stopped: Iterable[str] = ()) -> list[Violation]:
    """Jobs that should run but do not, in the final snapshot; ``stuck`` when ``verdict`` (a
    :class:`~repro_lib.analysis.Verdict`, or a callable giving one) says ``reproduced``. A job in
    ``stopped`` (the user's last action on it was a stop) must end ``stopped`` (or ``completed``/``failed``):
    else ``not-stopped``."""
    stopped = set(stopped)
    bad = []
    unstopped = []
    for j in final.jobs:
        name, state, jtype = j.get("name"), str(j.get("state")), j.get("type") or "pipeline"
        if name in stopped:
            if state not in ("stopped", "completed", "failed"):
                unstopped.append(Violation("not-stopped", final.t_s, name, None,
                                           f"the job was stopped but is {state} after the settle"))
            continue
        if state == "stopped":
            continue
        if (jtype == "pipeline" and state != "running") or (jtype != "pipeline" and state in _WAITING):
            bad.append((name, state))
    if not bad:
        return unstopped
    v = verdict() if callable(verdict) else verdict
    if v is not None and getattr(v, "verdict", None) == "reproduced":
        stuck_jobs = {s.job for s in v.stuck}
        reason = "; ".join(v.reasons[:1])
        return ([Violation("stuck", final.t_s, name, None, f"the job is {state}: {reason}")
                 for name, state in bad if name in stuck_jobs] or
                [Violation("stuck", final.t_s, None, None, reason)]) + unstopped
    return [Violation("not-running", final.t_s, name, None, f"the job is {state} after the settle")
            for name, state in bad] + unstopped


def stopped_jobs(actions: Iterable[tuple[str, str]]) -> set[str]:
    """Jobs whose last action was ``stop_job`` (from ``(op, job)`` pairs in order): the user asked them
    not to run, so liveness expects them ``stopped`` rather than running (check ``not-stopped``)."""
    last: dict[str, str] = {}
    for op, job in actions:
        if op in ("deploy", "stop_job") and job:
            last[job] = op
    return {j for j, op in last.items() if op == "stop_job"}


def actions_from_records(records: Iterable[Any]) -> list[tuple[str, str]]:
    return [(r.msg[len("ACTION: "):], str(dict(r.fields).get("job") or "")) for r in records
            if r.msg.startswith("ACTION: ")]


def actions_from_events(events: Any) -> list[tuple[str, str]]:
    a = events[events["kind"] == "action"]
    return [(str(op), "" if j != j else str(j)) for op, j in zip(a["state"], a["job"], strict=True)]


def check_run(run: Any) -> list[Violation]:
    """Every check on a finished :class:`~repro_lib.run.Run` (any backend): liveness on its final
    snapshot and verdict, safety on its events table."""
    final = run.snapshots[-1] if run.snapshots else None
    types = {j["name"]: j.get("type") or "pipeline" for j in final.jobs} if final is not None else {}
    out = safety_violations(history_from_events(run.events), types, grace=safety_grace(run.timings),
                            until=final.t_s if final is not None else None)
    if final is not None:
        stopped = stopped_jobs(actions_from_events(run.events))
        out = liveness_violations(final, lambda: run.verdict, stopped=stopped) + out
    return out


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    s = str(v)
    return s if s and s not in ("None", "nan", "<NA>") else None


def _fields(detail: Any) -> dict[str, str]:
    if not isinstance(detail, str):
        return {}
    return dict(p.split("=", 1) for p in detail.split() if "=" in p)

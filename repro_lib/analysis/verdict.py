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
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from repro_lib.analysis import _columns as C
from repro_lib.analysis.delivery import CLASSES, delivery_table, stuck_after
from repro_lib.eventframe import paused
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Stuck", "Verdict", "verdict_of", "verdict_from_table", "how_lost", "unsupported", "OK_JOB_STATES",
           "job_label", "NO_VERDICT"]

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


#: what the VERDICT line says when no verdict can be given (followed by why)
NO_VERDICT = "none"


@dataclass
class Verdict:
    verdict: str
    stuck: list[Stuck] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)  # class -> pending executions in it
    table: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the delivery table
    headline: str = ""  # the VERDICT line's own words after the verdict: which job, and on what evidence

    def to_dict(self) -> dict[str, Any]:
        out = {"verdict": self.verdict, "stuck": [asdict(s) for s in self.stuck],
               "reasons": self.reasons, "classes": self.classes}
        if self.headline:
            out["headline"] = self.headline
        return out

    def line(self) -> str:
        """The one VERDICT line: the verdict, and its headline where there is one."""
        return f"VERDICT: {self.verdict}" + (f" — {self.headline}" if self.headline else "")


def job_label(job: Any, names: dict[str, str] | None = None) -> str:
    """A job as a reader knows it: its name, with its id where the two differ (``new-test-job (j-4d5e6f)``)."""
    if not isinstance(job, str):
        return "(job unknown)"
    name = (names or {}).get(job)
    return f"{name} ({job})" if name and name != job else job


def how_lost(outcome: str, edge_log: str) -> str:
    """The words for what happened to an execution's last run request (``edge_log``: how an edge log
    covers its send — see :func:`~.delivery.delivery_table`)."""
    fixed = {
        "lost": "its run request was dropped by NATS (no subscriber, or cut off)",
        "refused": "its run request was refused (node not connected in the transport) and dropped",
        "none": "its run request was never sent",
        "retrying": "its run request was refused; RetryStrategyBlock retries it",
        "delivered": "its run request reached the edge",
    }
    if outcome in fixed:
        return fixed[outcome]
    return {
        "covers": "its run request was published and its edge's log, which goes on past the send, shows no receipt",
        "ends_before": "its run request was published after its edge's log had gone quiet (the edge was down, "
                       "or the log is cut): probably lost",
        "starts_after": "its run request was published before its edge's log begins: whether it arrived is "
                        "not in these logs",
    }.get(edge_log, "its run request was published; whether it arrived is not in these logs")


def _labeller(names: dict[str, str]) -> Any:
    """node id -> edge name; a name that two node ids share (a ghost and its successor) gets the id too."""
    seen: dict[str, set[str]] = {}
    for node_id, name in names.items():
        seen.setdefault(name, set()).add(node_id)

    def label(node: Any) -> str:
        base = names.get(str(node), str(node))
        return f"{base} ({node})" if len(seen.get(base, ())) > 1 else base
    return label


def _some(rows: list[dict[str, Any]]) -> str:
    shown = [f"{r['execution']} on {r['label']}" for r in rows[:_EXAMPLES]]
    more = f" (+{len(rows) - _EXAMPLES} more)" if len(rows) > _EXAMPLES else ""
    return ", ".join(shown) + more


def _not_back(belief: str, alive: Any, replaced_by: Any) -> str:
    if isinstance(replaced_by, str):
        return f"its edge came back as {replaced_by}; still believed {belief}"
    return "actually down" if alive is False or alive == 0 else str(belief)




def _groups(rows: list[dict[str, Any]], *keys: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]], []).append(r)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def _seen(ex: pd.DataFrame) -> str:
    """``2× pending/desired running, …``: an execution table's states, most frequent first."""
    said = [f"{s}/desired {d or '?'}" for s, d in zip(ex["state"], ex["desired"], strict=True)]
    return ", ".join(f"{n}× {s}" for s, n in pd.Series(said).value_counts().items())


def _executions_frame(executions: list[dict[str, Any]] | pd.DataFrame | None) -> pd.DataFrame:
    """Executions as a table of ``job`` (as text), ``state``, ``desired`` (object columns, values as given)."""
    if isinstance(executions, pd.DataFrame):
        job = executions["job"].to_numpy(dtype=object)
        out = pd.DataFrame({"job": job, "state": executions["state"].to_numpy(dtype=object),
                            "desired": executions["desired"].to_numpy(dtype=object)}, dtype=object)
    else:
        rows = executions or []
        out = pd.DataFrame({k: C.dict_column(rows, k) for k in ("job", "state", "desired")}, dtype=object)
    job = out["job"].to_numpy(dtype=object)
    text = C.per_value(job, str, object, None)  # per distinct job; a missing one as str() spells it
    missing = np.flatnonzero(C.isnull(job))
    text[missing] = [str(x) for x in job[missing]]
    out["job"] = text
    return out


def unsupported(jobs: list[dict[str, Any]], executions: list[dict[str, Any]] | pd.DataFrame | None) -> list[str]:
    """Why the evidence cannot show that every job runs: a job's state word is not evidence — its
    executions are. Each reason says what to pass. ``executions`` None: not known at all; a list of
    dicts or a table (``job state desired``), read by group-bys (Python per job, not per execution)."""
    n_ex = 0 if executions is None else len(executions)
    if not jobs and not n_ex:
        return ["no job and no execution is in the evidence, so nothing can be said about issue 395 — pass "
                "`job list` and `job executions JOB` (or `job describe JOB`) output, or the orchestrator's log"]
    ex = _executions_frame(executions)
    state, desired = ex["state"].to_numpy(dtype=object), ex["desired"].to_numpy(dtype=object)
    is_state = C.is_str(state)
    runs = C.isin(np.where(is_state, state, None), ("running", "completed"))
    done = is_state & (state == "completed")
    stopped = C.is_str(desired) & (desired == "stopped")
    key = pd.Series(ex["job"].to_numpy(dtype=object))
    grouped = pd.DataFrame({"runs": runs, "runs_not_stopped": runs & ~stopped, "done": done}).groupby(
        key, sort=False)
    per_job = grouped.any()  # jobs in order of their first execution
    rows_of = grouped.indices
    out = []
    listed = {str(j.get("name")) for j in jobs} | {str(j.get("id")) for j in jobs}
    for job in per_job.index[~per_job["runs"].to_numpy()]:  # jobs known only from their executions
        if job not in listed:
            mine = ex.iloc[rows_of[job]]
            out.append(f"none of the {len(mine)} execution(s) of job {job} runs ({_seen(mine)}), and the job's own "
                       f"state is not in the evidence — pass `job describe {job}` output or the orchestrator's log")
    for j in jobs:
        state_word = str(j.get("state") or "")
        if state_word not in ("running", "completed"):
            continue
        name = str(j.get("name") or j.get("id"))
        key_ = name if name in rows_of else str(j.get("id"))
        if key_ not in rows_of:
            out.append(f"job {name} says {state_word}, but none of its executions is in the evidence — pass "
                       f"`job executions {name}` (or `job describe {name}`) output or the orchestrator's log")
            continue
        good = ("running", "completed") if state_word == "running" else ("completed",)
        if not per_job.at[key_, "runs_not_stopped" if state_word == "running" else "done"]:
            mine = ex.iloc[rows_of[key_]]
            out.append(f"job {name} says {state_word}, but none of its {len(mine)} execution(s) is {good[0]} "
                       f"({_seen(mine)}): the job's state word is not evidence that it runs")
    return out


class _Table:
    """The delivery table as columns (one conversion each), with groups of its rows by column values."""

    def __init__(self, tab: pd.DataFrame, label: Any) -> None:
        self.n = len(tab)
        self._tab = tab
        self.col: dict[str, np.ndarray] = {}
        if "final_known" not in tab.columns:
            self.col["final_known"] = np.ones(self.n, dtype=bool)
        codes, nodes = pd.factorize(self["node"], use_na_sentinel=False) if self.n else ([], [])
        self.col["label"] = np.array([label(x) for x in nodes] + [""], dtype=object)[codes]  # per node

    def __getitem__(self, name: str) -> np.ndarray:
        """A column, converted when first read (the columns no reason reads are never converted)."""
        if name not in self.col:
            s = self._tab[name]
            # as ``to_dict("records")`` reads them: a missing text is NaN in a str column, None in an object one;
            # a text column's strings one per distinct value (C.as_object), not one per row
            self.col[name] = s.to_numpy() if s.dtype.kind in "fiub" else C.as_object(s)
        return self.col[name]

    def groups(self, mask: np.ndarray, *keys: str) -> list[tuple[Any, np.ndarray]]:
        """(key, row positions in table order) for the rows in ``mask``, by the values of ``keys``, the keys
        in the order of their text (as :func:`_groups` orders them)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return []
        if len(keys) == 1:
            codes, uniq = pd.factorize(self[keys[0]][rows], use_na_sentinel=False)
            names = list(uniq)
        else:
            pairs = np.fromiter(zip(*(self[k][rows] for k in keys), strict=True), dtype=object, count=len(rows))
            codes, uniq = pd.factorize(pairs, use_na_sentinel=False)
            names = list(uniq)
        order = np.argsort(codes, kind="stable")
        parts = np.split(rows[order], np.flatnonzero(np.diff(codes[order])) + 1)
        found = sorted(zip(names, parts, strict=True), key=lambda kv: str(kv[0]))  # per group
        return found

    def some(self, rows: np.ndarray) -> str:
        """:func:`_some` of these rows."""
        shown = [f"{x} on {lab}" for x, lab in zip(self["execution"][rows[:_EXAMPLES]],
                                                   self["label"][rows[:_EXAMPLES]], strict=True)]
        more = f" (+{len(rows) - _EXAMPLES} more)" if len(rows) > _EXAMPLES else ""
        return ", ".join(shown) + more


@paused
def verdict_from_table(tab: pd.DataFrame, jobs: list[dict[str, Any]], *, names: dict[str, str] | None = None,
                       timings: Timings | None = None, t_end: float = 0.0,
                       executions: list[dict[str, Any]] | None = None,
                       job_names: dict[str, str] | None = None) -> Verdict:
    """The verdict and its reasons from a :func:`~.delivery.delivery_table`, the final job list and
    the final executions (``not_reproduced`` needs executions that run, not a job's state word).
    ``job_names``: job id -> name where the logs name a job by an id (``j-4d5e6f``) and a name apart.
    Read by columns and groups: Python runs per group of executions, not per execution (bar the
    :class:`Stuck` list itself)."""
    threshold = stuck_after(timings)

    def _job(j: Any) -> str:
        return job_label(j, job_names)
    t = _Table(tab, _labeller(names or {}))
    n = t.n
    cls, stuck_col = t["class"], t["stuck"].astype(bool) if n else np.zeros(0, dtype=bool)
    by_class = dict(t.groups(np.ones(n, dtype=bool), "class"))
    classes = {c: len(by_class[c]) for c in CLASSES if c in by_class}
    reasons: list[str] = []
    lost_or_refused = C.isin(cls, ("lost", "refused"))
    final_known = t["final_known"].astype(bool)
    connected = t["belief"] == "connected" if n else np.zeros(0, dtype=bool)

    def how(rows: np.ndarray) -> str:
        return how_lost(str(t["outcome"][rows[0]]), str(t["edge_log"][rows[0]]))

    stuck_at = np.flatnonzero(stuck_col)
    if len(stuck_at):
        job_text = C.per_value(t["job"][stuck_at], _job, object, _job(None))
        hows = C.per_value(np.fromiter(zip(t["outcome"][stuck_at], t["edge_log"][stuck_at], strict=True),
                                       dtype=object, count=len(stuck_at)),
                           lambda oe: how_lost(str(oe[0]), str(oe[1])), object)
        pending = list(map(round, (t_end - t["created_s"][stuck_at].astype(float)).tolist(), repeat(3)))
        stuck = list(map(Stuck, map(str, t["execution"][stuck_at]), job_text, t["label"][stuck_at],
                         map(str, t["node"][stuck_at]), pending, map(int, t["sends"][stuck_at]),
                         map(str, cls[stuck_at]), hows))
    else:
        stuck = []
    for (c, job), g in t.groups(stuck_col, "class", "job"):
        reasons.append(f"{len(g)} execution(s) of {_job(job)} stuck ({c}): {how(g)}, on a node believed connected, "
                       f"and nothing will re-send it — {t.some(g)}")
    for c, g in t.groups(lost_or_refused & ~connected & final_known, "class"):
        reasons.append(f"{len(g)} execution(s) {c}, but whether the orchestrator still believes their node "
                       f"connected is not in these logs — pass `node list` output or its node state lines "
                       f"({t.some(g)})")
    for (c, job), g in t.groups(lost_or_refused & ~final_known, "class", "job"):
        reasons.append(f"{len(g)} execution(s) of {_job(job)} {c}: {how(g)}; but whether they are still pending is "
                       "not in these logs (no execution state line of theirs, no reconciler warning) — pass "
                       f"`execution list` output ({t.some(g)})")
    for c, g in t.groups(lost_or_refused & ~stuck_col & connected & final_known, "class"):
        reasons.append(f"{len(g)} execution(s) {c} only {min(t['age_s'][g].tolist()):.1f}s after their creation, "
                       f"last send or their node's rejoin, and no node-join evaluation has run since: too soon to "
                       f"call them stuck (that takes {threshold:g}s); settle longer ({t.some(g)})")
    for remedy, g in t.groups(cls == "scheduled", "remedy"):
        reasons.append(f"needs a longer settle: the {remedy} of {len(g)} execution(s) is due at "
                       f"t={max(t['due_s'][g].tolist()):.1f}s ({t.some(g)})")
    if len(g := by_class.get("retrying", [])):
        reasons.append(f"{len(g)} execution(s) still retrying under RetryStrategyBlock, next attempt at "
                       f"t={min(t['due_s'][g].tolist()):.1f}s ({t.some(g)})")
    if len(g := by_class.get("blocked", [])):
        head = ", ".join(t["execution"][by_class.get("retrying", np.zeros(0, dtype=np.int64))[:2]]) or \
            "another event"
        reasons.append(f"{len(g)} execution(s) of {_jobs(t['job'][g], _job)} not dispatched "
                       f"yet: the dispatcher is blocked retrying {head} (RetryStrategyBlock's head-of-line "
                       f"blocking — fix A's price, not issue 395) ({t.some(g)})")
    if len(g := by_class.get("in_flight", [])):
        reasons.append(f"{len(g)} execution(s) created or sent moments ago: too early to tell ({t.some(g)})")
    if len(g := by_class.get("delivered", [])):
        tail = (" — an edge→orchestrator state report lost? (not issue 395)"
                if bool((t["age_s"][g] >= threshold).any()) else "")
        reasons.append(f"{len(g)} execution(s) delivered to their edge, not yet reported running{tail} ({t.some(g)})")
    if len(g := by_class.get("awaiting_node", [])):
        said = np.fromiter(zip(t["label"][g], t["belief"][g], t["alive"][g], t["replaced_by"][g], strict=True),
                           dtype=object, count=len(g))
        first = C.first_in_order(said)  # per distinct node state
        where = ", ".join(dict.fromkeys(f"{lab} ({_not_back(b, a, rb)})" for lab, b, a, rb in said[first]))
        reasons.append(f"{len(g)} execution(s) of {_jobs(t['job'][g], _job)} pending on "
                       f"nodes that are not back: {where}")
    for miss, g in t.groups(cls == "unknown", "missing"):
        jobs_of = t["job"][g]
        of = ", ".join(sorted({_job(j) for j in C.unique(jobs_of[C.is_str(jobs_of)])}))
        reasons.append(f"{len(g)} execution(s){f' of {of}' if of else ''} cannot be judged — {miss} ({t.some(g)})")
    if stuck:
        heads = [f"job {_job(job)}: {len(g)} execution(s) stuck ({c})"
                 for (job, c), g in t.groups(stuck_col, "job", "class")]
        return Verdict("reproduced", stuck, reasons, classes, tab, "; ".join(heads))
    bad = [j for j in jobs if j.get("state") not in OK_JOB_STATES]
    missing = unsupported(jobs, executions)
    if not bad and not n and not missing:
        return Verdict("not_reproduced", [], ["every job that should run has a running (or completed) execution"],
                       classes, tab)
    reasons += missing
    pending_jobs = set(C.unique(t["job"])) if n else set()
    reasons += [f"job {_job(j['name'])} is {j.get('state')}" for j in bad if j["name"] not in pending_jobs]
    return Verdict("inconclusive", [], reasons or ["no job is running and nothing is pending"], classes, tab)


def _jobs(jobs: np.ndarray, name: Any) -> str:
    """The distinct jobs, as their labels, sorted and joined."""
    return ", ".join(sorted({name(j) for j in C.unique(jobs)}))


def _node_names(events: pd.DataFrame) -> dict[str, str]:
    """node id -> edge name from node and fault rows (``name=`` / ``target=`` in detail), the first that
    names it: :func:`~.timeline.node_names` by columns."""
    sub = events.loc[events["kind"].isin(["node", "fault"]).to_numpy(dtype=bool) & events["node"].notna().to_numpy(),
                     ["node", "detail"]]  # the two columns read
    if not len(sub):
        return {}
    found = C.extract(C.text(sub["detail"]), r"(?:^|\s)(?:name|target)=(?P<name>[^\s]+)", ["name"])["name"]
    named = np.flatnonzero(~C.isnull(found))
    nodes = C.obj(sub["node"])[named]
    first = C.first_in_order(nodes)
    return dict(zip(map(str, nodes[first]), found[named][first], strict=True))


@paused
def verdict_of(snap: Snapshot, timings: Timings, events: pd.DataFrame | None = None, *,
               fix: list[str] | str | None = None) -> Verdict:
    """The verdict for the state in ``snap`` (usually the run's final snapshot), judged from the
    events (each execution's delivery history); ``fix`` — the run's fixes — bounds the remedies
    a live run may still apply (the sim's snapshot carries the model's own)."""
    if events is None:
        from repro_lib.events import COLUMNS
        events = pd.DataFrame(columns=list(COLUMNS))
    tab = delivery_table(events, snapshot=snap, timings=timings, fix=fix)
    names = _node_names(events) if len(events) else {}
    ids, said = C.dict_column(snap.nodes, "id"), C.dict_column(snap.nodes, "name")
    unnamed = ~np.fromiter(map(bool, said), dtype=bool, count=len(said))
    said[unnamed] = ids[unnamed]
    names.update(zip(ids, said, strict=True))
    on = C.dict_column(snap.executions, "node_name")
    has = np.flatnonzero(np.fromiter(map(bool, on), dtype=bool, count=len(on)))
    nodes = C.dict_column(snap.executions, "node")[has]
    first = C.first_in_order(nodes)  # setdefault: a name the events or the node list gave stays
    names = dict(zip(nodes[first], on[has][first], strict=True)) | names
    return verdict_from_table(tab, snap.jobs, names=names, timings=timings, t_end=snap.t_s,
                              executions=snap.executions)

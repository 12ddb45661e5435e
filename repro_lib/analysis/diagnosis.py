"""Diagnosis: what happened to each pending execution, honest about the evidence behind it.

Built on the per-execution delivery table (:mod:`.delivery`), so it is linear in the events: the
sentences, evaluations and evidence rows are worked out only for the findings that are shown
(the first few of each class, or every one with ``all=True``). A cause the evidence cannot show
is marked: without an edge log that speaks for the node, a publish is only a *probable* loss
("delivery not checked — pass the edge logs").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from repro_lib.analysis import _columns as C
from repro_lib.analysis import timeline as tl
from repro_lib.analysis._near import NodeTimes
from repro_lib.analysis.delivery import (
    CLASSES,
    NOT_EDGE_SOURCES,
    delivery_table,
    edge_nodes,
    relevant,
    source_roles,
    stuck_after,
)
from repro_lib.analysis.verdict import NO_VERDICT, OK_JOB_STATES, Verdict, how_lost, job_label, verdict_from_table
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Finding", "Diagnosis", "diagnose", "job_names", "NO_DISPATCH_HINT", "CAUSE_LOST", "CAUSE_PROBABLE_LOST",
           "CAUSE_REFUSED", "CAUSE_NEVER_RETURNED", "CAUSE_NOT_DISPATCHED", "CAUSE_RECOVERING",
           "CAUSE_RETRYING", "CAUSE_BLOCKED", "SHOW_PER_CLASS", "SHOW_ALL_UP_TO"]

NO_DISPATCH_HINT = ("no dispatch events found — was the orchestrator started with --log-level=debug "
                    "and the instrumented build?")
CAUSE_LOST = "lost dispatch (published into the void; nothing re-sends it)"
CAUSE_PROBABLE_LOST = "probable lost dispatch — delivery not checked: pass the edge logs"
CAUSE_REFUSED = "refused dispatch (ErrNodeNotConnected, dropped by RetryStrategySkip)"
CAUSE_NEVER_RETURNED = "node never returned"
CAUSE_NOT_DISPATCHED = "never dispatched"
CAUSE_RECOVERING = "recovering (a re-dispatch is due)"
CAUSE_RETRYING = "refused dispatch, being retried (RetryStrategyBlock)"
CAUSE_BLOCKED = "not dispatched yet: the dispatcher is blocked behind another event (head-of-line)"
SHOW_PER_CLASS = 3     # findings shown per class in a summary
SHOW_ALL_UP_TO = 12    # up to this many findings, every one is shown
_EVAL_ID = re.compile(r"eval_id=(\S+)")


@dataclass
class Finding:
    """What happened to one pending execution, with the evidence rows behind it."""

    execution: str
    job: str | None
    node: str | None
    name: str | None
    created_s: float | None
    dispatch: str            # delivered | lost | refused | retrying | published | none
    node_up_at_dispatch: bool | None
    believed_at_dispatch: str | None
    returned_s: float | None  # when the edge came back (None: never / unknown)
    evals_after: list[tuple[float, str, str]]  # (t, trigger, what it did)
    redispatches: int
    cause: str
    evidence: list[int] = field(default_factory=list)  # row labels in the events table
    cls: str = "unknown"     # the class (see repro_lib.analysis.delivery)
    confidence: str = "certain"  # certain | probable | not checked
    due_s: float | None = None
    actual_at_dispatch: str | None = None  # up | down | partitioned (None: not in the logs)
    evals_after_count: int | None = None   # all of them (``evals_after`` holds the first four)
    edge_log: str = ""       # how an edge log covers the send: covers | ends_before | starts_after | ""
    rejoined_s: float | None = None  # when the orchestrator last marked the node connected (None: not in the logs)
    booting_since: float | None = None  # its edge was (re)started then and had not handshaked by the send
    job_name: str | None = None  # the job's name where the logs give it apart from its id

    def sentence(self) -> str:
        job = job_label(self.job, {self.job: self.job_name} if self.job and self.job_name else None)
        who = f"[{self.cls}] {job} execution {self.execution} on {self.name or self.node or '(node unknown)'}"
        parts = [f"{who}: created at {self.created_s:.1f}s" if self.created_s is not None else who]
        if self.booting_since is not None:
            parts.append(f"while {self.name} was still starting (started at {self.booting_since:.1f}s, "
                         f"no handshake yet) but believed {self.believed_at_dispatch}")
        elif self.node_up_at_dispatch is False:
            how = "cut off (partitioned)" if self.actual_at_dispatch == "partitioned" else "down"
            parts.append(f"while {self.name} was actually {how} but believed {self.believed_at_dispatch}")
        elif self.node_up_at_dispatch is None and self.believed_at_dispatch:
            parts.append(f"while the orchestrator believed {self.name} {self.believed_at_dispatch} "
                         "(whether it was really up is not in the logs)")
        parts.append({
            "lost": "its RunExecutionRequest was published (connection_exists=true connection_alive=true) "
                    "and NATS dropped it: nobody was subscribed" if self.actual_at_dispatch != "partitioned" else
                    "its RunExecutionRequest was published and NATS dropped it: the edge was cut off",
            "refused": "its dispatch was refused (node not connected) and dropped",
            "retrying": "its dispatch was refused and RetryStrategyBlock keeps retrying it",
            "published": how_lost("published", self.edge_log),
            "delivered": "its RunExecutionRequest was delivered to the edge",
            "none": "no dispatch of it appears in the logs",
        }[self.dispatch])
        if self.returned_s is not None:
            back = f"{self.name} was started again at {self.returned_s:.1f}s"
            if self.rejoined_s is not None and self.rejoined_s >= self.returned_s:
                back += f" and was connected again at {self.rejoined_s:.1f}s"
            parts.append(back)
        elif self.rejoined_s is not None and self.created_s is not None and self.rejoined_s > self.created_s:
            parts.append(f"{self.name} was connected again at {self.rejoined_s:.1f}s")
        rejoined_later = self.rejoined_s is not None and self.created_s is not None and self.rejoined_s > self.created_s
        after = ("after it came back" if self.returned_s is not None else
                 "after it was connected again" if rejoined_later else "after it was created")
        if self.evals_after:
            n = max(self.evals_after_count or 0, len(self.evals_after))
            runs = ", ".join(f"{trig} at {t:.1f}s: {did}" for t, trig, did in self.evals_after[:4])
            more = f" (+{n - 4} more)" if n > 4 else ""
            parts.append(f"{n} evaluation(s) of its job ran {after} ({runs}{more})")
        elif self.created_s is not None and self.job:
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
    table: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # every pending execution
    shown_all: bool = True   # False: ``findings`` holds the first few of each class only
    alarms: list[str] = field(default_factory=list)  # panics and fatal errors in the evidence: read first
    no_verdict: str = ""     # why no verdict can be given (when ``verdict`` is None)
    # [I] per source: dispatch rows that named no job and took the job of the nearest job line before them
    jobs_inferred: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str] = field(repr=False, default_factory=dict)  # each source's role (delivery.source_roles)
    edges: pd.DataFrame | None = field(repr=False, default=None)  # the edge logs per node (delivery.edge_nodes)

    @property
    def causes(self) -> dict[str, str]:
        return {f.execution: f.cause for f in self.findings}

    def frame(self) -> pd.DataFrame:
        """One row per pending execution: execution, job, node, class, created_s (when it was created),
        rejoined_s (when the orchestrator last marked its node connected, if after that), next_try_s (when
        a retry or a fix's re-dispatch is due; the column is left out when nothing is due), detail."""
        cols = ["execution", "job", "node", "class", "created_s", "rejoined_s", "detail"]
        if self.table.empty:
            return pd.DataFrame(columns=cols)
        t = self.table
        names = tl.node_names(self.events) if len(self.events) else {}
        # per distinct (outcome, edge log, class, missing, remedy), not per execution
        key = C.obj(list(zip(t["outcome"], t["edge_log"], t["class"], t["missing"], t["remedy"].fillna(""),
                             strict=True)))
        codes, uniq = pd.factorize(key)
        said = [how_lost(str(o), str(e)) if c in ("lost", "refused", "unknown") else (m or r or "")
                for o, e, c, m, r in uniq]
        detail = C.obj(said)[codes]
        node = C.obj(t["node"])
        label = C.per_value(node, lambda n: names.get(str(n), n), object, None)
        label[C.isnull(node)] = node[C.isnull(node)]
        rejoined = t["rejoined_s"].where(t["rejoined_s"] > t["created_s"])
        out = pd.DataFrame({"execution": t["execution"], "job": t["job"].fillna("(unknown)"),
                            "node": label, "class": t["class"],
                            "created_s": t["created_s"].round(1), "rejoined_s": rejoined.round(1),
                            "next_try_s": t["due_s"].round(1), "detail": detail})
        return out if out["next_try_s"].notna().any() else out.drop(columns=["next_try_s"])

    def counts(self) -> pd.DataFrame:
        """Pending executions per job and class."""
        if self.table.empty:
            return pd.DataFrame()
        c = pd.crosstab(self.table["job"].fillna("(unknown)"), self.table["class"])
        return c[[k for k in CLASSES if k in c.columns]]

    def evidence(self) -> pd.DataFrame:
        """The event rows behind every finding."""
        idx = sorted({i for f in self.findings for i in f.evidence})
        return self.events.loc[idx] if idx else self.events.iloc[0:0]

    def text(self) -> str:
        lines = []
        if self.verdict is not None:
            lines.append(self.verdict.line())
            lines += [f"  {r}" for r in self.verdict.reasons]
        else:  # never a blank where the verdict goes: one line saying why there is none
            lines.append(f"VERDICT: {NO_VERDICT} — {self.no_verdict or 'nothing in the evidence to judge'}")
        if self.alarms:
            lines += ["", "Errors in the evidence (they may explain more than any class below):"]
            lines += [f"  ! {a}" for a in self.alarms]
        n = len(self.table)
        if n and not self.shown_all:
            lines += ["", f"{n} pending executions, per job and class:"]
            lines += ["  " + ln for ln in self.counts().to_string().splitlines()]
        if self.findings:
            lines.append("")
            if self.shown_all:
                lines.append("What happened to each pending execution:")
            else:
                lines.append(f"The first {SHOW_PER_CLASS} of each class ({len(self.findings)} of {n}; "
                             "`repro inspect --all` lists every one):")
            lines += [f"- {f.sentence()}" for f in self.findings]
        if self.notes:
            lines.append("")
            lines += [f"Note: {x}" for x in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(f.sentence())}</li>" for f in self.findings)
        notes = "".join(f"<li><i>{html.escape(n)}</i></li>" for n in self.notes)
        head = ""
        if self.verdict is not None:
            why = "".join(f"<li>{html.escape(r)}</li>" for r in self.verdict.reasons)
            more = f" — {html.escape(self.verdict.headline)}" if self.verdict.headline else ""
            head = f"<b>VERDICT: {html.escape(self.verdict.verdict)}</b>{more}<ul>{why}</ul>"
        else:
            head = (f"<b>VERDICT: {NO_VERDICT}</b> — "
                    f"{html.escape(self.no_verdict or 'nothing in the evidence to judge')}")
        frame = self.frame()
        if not self.shown_all:  # a big log: counts per job and class, then the rows of the findings shown
            shown = {f.execution for f in self.findings}
            frame = frame[frame["execution"].isin(shown)]
            head += (f"<p>{len(self.table):,} pending executions, per job and class:</p>"
                     + self.counts().to_html(border=0)
                     + f"<p>The first {SHOW_PER_CLASS} of each class (<code>repro inspect --all</code> lists "
                       "every one):</p>")
        table = frame.to_html(index=False, na_rep="—", border=0) if len(frame) else ""
        return f"<div class='repro-diagnosis'>{head}{table}<ul>{items}</ul><ul>{notes}</ul></div>"


def _cause(cls: str, outcome: str, belief: str, down: bool, remedy: str | None, due: float,
           missing: str, age: float, threshold: float, edge_log: str) -> tuple[str, str]:
    """(cause, confidence) for one execution."""
    if cls == "lost":
        if outcome == "none":
            return CAUSE_NOT_DISPATCHED, "certain"
        if edge_log == "ends_before":
            return f"probable {CAUSE_LOST} — its edge's log had gone quiet before the send", "probable"
        return CAUSE_LOST, "certain"
    if cls == "refused":
        return CAUSE_REFUSED, "certain"
    if cls == "awaiting_node":
        if down or belief in ("disconnected", "lost"):
            return CAUSE_NEVER_RETURNED, "certain"
        return f"node not back yet (it is {belief})", "certain"
    if cls == "retrying":
        return f"{CAUSE_RETRYING}, next attempt at t={due:.1f}s", "certain"
    if cls == "blocked":
        return CAUSE_BLOCKED, "certain"
    if cls == "scheduled":
        return f"recovering: {remedy} due at t={due:.1f}s", "certain"
    if cls == "in_flight":
        return "in flight (sent or created moments ago)", "certain"
    if cls == "delivered":
        if age < threshold:
            return "delivered; the edge's running report is on its way", "certain"
        return "delivered but not reported running (edge→orchestrator loss?)", "certain"
    if outcome in ("published", "sent"):
        return (f"probable lost dispatch — {missing}" if missing else CAUSE_PROBABLE_LOST), "not checked"
    return f"unknown — {missing}", "not checked"


def _debug_seen(events: pd.DataFrame) -> bool:
    """Whether the orchestrator's debug lines were captured (``EVAL: processed``, ``DISPATCH: …``)."""
    if events.empty or "level" not in events:
        return False
    levels = events["level"].unique()  # per distinct level: a missing one reads "nan", no level
    return any(str(x).upper() == "DEBUG" for x in levels)


def _unplaced_jobs(events: pd.DataFrame, debug: bool = True) -> list[str]:
    """A job left pending or queued without a single execution: what the events show about its
    evaluation (processed or not) and any orchestrator restart after its deploy. Evaluation lines are
    debug-level: without ``debug`` their absence proves nothing, and the note says so."""
    if events.empty:
        return []
    kind = events["kind"]
    # every row of the table here: the columns read, chunk by chunk (pandas' take of a chunked column joins its chunks)
    jobs = C.rows(events, ((kind == "state") & events["execution"].isna() & events["job"].notna()).to_numpy(dtype=bool),
                  ["job", "state", "t_s"])
    last = jobs.groupby("job", sort=False)["state"].last()
    waiting = last[last.isin(["pending", "queued"]).to_numpy()]
    if waiting.empty:
        return []
    # the jobs with an execution, as one object array (iterating an Arrow column yields its values one by one)
    with_execs = set(C.obj(C.rows(events, events["execution"].notna().to_numpy(dtype=bool), ["job"])["job"]
                           .dropna().unique()))
    waiting = waiting[~C.isin(C.obj(waiting.index), with_execs)]
    # the evaluation and restart rows, once: each job below reads those after its deploy
    all_evals = C.rows(events, (kind == "eval").to_numpy(dtype=bool), ["job", "t_s"])
    all_restarts = events.loc[(kind == "fault") & (events["state"] == "restart"), ["t_s"]]
    notes = []
    for job, state in waiting.items():  # per job left pending or queued with no execution
        rows = jobs[jobs["job"] == job]
        t0 = float(rows["t_s"].iloc[0])
        evals = all_evals[(all_evals["t_s"] >= t0) & (all_evals["job"] == job)]
        restarts = all_restarts[all_restarts["t_s"] >= t0]
        text = f"{job} is {state} with no execution: it was stored at {t0:.1f}s and "
        text += (f"{len(evals)} evaluation line(s) of it follow" if len(evals) else
                 "no evaluation of it appears afterwards" if debug else
                 "whether it was evaluated is not in these logs (evaluation lines are debug-level; none was captured)")
        if len(restarts):
            tr = float(restarts["t_s"].iloc[0])
            text += f"; the orchestrator was restarted at {tr:.1f}s ({tr - t0:.1f}s after it was stored)"
        notes.append(text)
    return notes


def _labels(nodes: pd.Series, names: dict[str, str]) -> list[str]:
    """The distinct edge names of ``nodes`` (missing ones left out), in order of first appearance: per
    distinct node, not per row."""
    return list(dict.fromkeys(names.get(str(x), str(x)) for x in pd.unique(nodes.dropna())))


_EVAL_ID_RE2 = rf"eval_id=(?P<id>[^{C.PY_SPACE[1:-1]}]+)"


def _eval_outcomes(detail: pd.Series, wanted: set[str]) -> dict[str, str]:
    """eval id -> what its processing did (``produced an empty plan`` / ``changed the plan``) for the ids in
    ``wanted``, from the ``processed`` lines' ``detail``; the last line of an id decides. By Arrow's kernels:
    Python strings only for the lines of those ids."""
    import pyarrow.compute as pc

    from repro_lib.capture.zones import arrow_strings

    d = arrow_strings(detail)
    if not wanted or not len(d):
        return {}
    ids = pc.struct_field(pc.extract_regex(d, _EVAL_ID_RE2), "id")
    rows = pa.array(np.flatnonzero(C.as_bool(pc.is_in(ids, value_set=pa.array(sorted(wanted), type=ids.type)))),
                    type=pa.int64())
    did = np.where(C.contains(d.take(rows), "empty=true"), "produced an empty plan", "changed the plan")
    return dict(zip(ids.take(rows).to_pylist(), did.tolist(), strict=True))  # the last line of an id wins


class _Eval(NamedTuple):
    """One evaluation of a finding's job, as the findings loop reads it."""

    t_s: float
    trigger: object
    detail: object


def _pick(tab: pd.DataFrame, all_: bool) -> pd.DataFrame:
    """Every row (small tables, or ``all``), else the first few of each class, classes in order."""
    if all_ or len(tab) <= SHOW_ALL_UP_TO:
        return tab
    order = {c: i for i, c in enumerate(CLASSES)}
    head = tab.groupby("class", sort=False).head(SHOW_PER_CLASS)
    return head.iloc[np.argsort([order.get(c, 99) for c in head["class"]], kind="stable")]


def _from_banner(events: pd.DataFrame) -> tuple[list[str] | None, Timings | None]:
    """The fix and the timings an orchestrator's start banner names (``ORCHESTRATOR: started … fix=…
    preset=…``, the emulator's and the sim's first line): what a diagnosis of those logs should judge by."""
    if "msg" not in events.columns or not len(events):
        return None, None
    said = C.series_startswith(events["msg"], "ORCHESTRATOR: started")
    if not said.any():  # the usual case: no banner, and no row taken from the frame
        return None, None
    rows = events.loc[said, ["detail"]]
    rows = rows[C.series_contains(rows["detail"], "fix=")]
    if rows.empty:
        return None, None
    import re

    from repro_lib.durations import parse_duration
    from repro_lib.errors import ReproError
    from repro_lib.timings import PRESETS, timings_from

    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', str(rows["detail"].iloc[0])))
    kv = {k: v.strip('"') for k, v in kv.items()}
    fix = [f for f in kv.get("fix", "").split("+") if f] or ["none"]
    spec: dict[str, object] = {"preset": kv["preset"] if kv.get("preset") in PRESETS else "repro"}
    for k in ("heartbeat_interval", "disconnect_timeout", "reeval_batch_delay"):
        try:
            if k in kv:
                spec[k] = parse_duration(kv[k])
        except ReproError:
            pass
    try:
        return fix, timings_from(spec)
    except ReproError:
        return fix, None


def diagnose(events: pd.DataFrame, snapshot: Snapshot | None = None, timings: Timings | None = None, *,
             fix: list[str] | str | None = None, all: bool = False) -> Diagnosis:  # noqa: A002 - the CLI's --all
    """Explain every pending execution from the events (and the final snapshot, if known).

    The verdict is given when the final state is known: from ``snapshot``, or from execution and
    job state lines in the events."""
    notes: list[str] = []
    if fix is None and timings is None and snapshot is None:
        fix, timings = _from_banner(C.bare(events))
    t_end = snapshot.t_s if snapshot is not None else (float(events["t_s"].max()) if len(events) else 0.0)
    full = events
    # the rows that can bear on the verdict, without the table's attrs (pandas deep-copies them into every
    # column and slice taken: a condensed reading's counts per source, a thousand sources of a fleet)
    events = relevant(C.bare(full))
    events = _jobs_filled(events)
    jnames = job_names(events)
    roles = source_roles(full, events)
    edges = edge_nodes(full, roles)
    tab = delivery_table(events, snapshot=snapshot, timings=timings, fix=fix, t_end=t_end, edges=edges)
    names = tl.node_names(events) if len(events) else {}
    if snapshot is not None:
        names.update({n["id"]: n.get("name") or n["id"] for n in snapshot.nodes})
    verdict = None
    kinds = events["kind"]
    sent = ((kinds == "dispatch") & events["execution"].notna()).any()
    warned = ((kinds == "reconcile") & (events["state"] == "stuck")).any()
    if snapshot is not None:
        verdict = verdict_from_table(tab, snapshot.jobs, names=names, timings=timings, t_end=t_end,
                                     executions=snapshot.executions, job_names=jnames)
    elif ((kinds == "state") & events["execution"].notna()).any() or sent or warned:
        jobs, executions = _final_from_logs(events, tab)
        verdict = verdict_from_table(tab, jobs, names=names, timings=timings, t_end=t_end, executions=executions,
                                     job_names=jnames)
    if verdict is not None and (story := _headline(tab, events, jnames, names, roles)):
        verdict.headline = story
    plain = C.bare(full)  # every row, without the attrs each slice would deep-copy
    debug = _debug_seen(plain)
    if not events["kind"].isin(["dispatch", "publish"]).any() and (events["execution"].notna().any() or not debug):
        # executions but not one send of them, or no debug line at all: the debug lines are missing. (Debug
        # lines, jobs, no execution: nothing was dispatched, and _unplaced_jobs says what the events show.)
        notes.append(NO_DISPATCH_HINT)
    notes += _unplaced_jobs(plain, debug)
    # liveness is known where the stack logged its own start (``ACTION: up``) or faults were captured
    has_faults = bool((events["kind"] == "fault").any() or
                      ((events["kind"] == "action") & (events["state"] == "up")).any())
    alive_known = snapshot is not None and any("alive" in n for n in snapshot.nodes)
    if not has_faults and not alive_known:
        notes.append("no fault events (kills/starts) were captured, so whether an edge was really up "
                     "cannot be determined — only what the orchestrator believed")
    unchecked = tab[tab["class"] == "unknown"]
    if len(unchecked) and (unchecked["missing"].str.startswith("delivery not checked")).any():
        nodes = ", ".join(_labels(unchecked["node"], names))
        notes.append(f"delivery not checked for {nodes}: no edge log in these files speaks for them — pass "
                     "the edge logs (docker logs --timestamps <edge container>); until then a lost dispatch "
                     "is only probable")

    threshold = stuck_after(timings)
    shown = _pick(tab, all)
    findings: list[Finding] = []
    if len(shown):
        ids = set(shown["execution"])
        is_own = events["execution"].isin(ids).to_numpy(dtype=bool)
        own = events.index[is_own]
        own_rows = C.rows(events, is_own, list(events.columns))  # chunk by chunk, not pandas' take of the chunks
        rows_of = pd.Series(own, index=own_rows["execution"].to_numpy()).groupby(level=0).agg(list)
        shown_nodes = set(shown["node"].dropna().astype(str))
        # the intervals, faults and evaluations of the shown findings' nodes and jobs only
        near = C.rows(events, events["node"].isin(shown_nodes).to_numpy(dtype=bool), ["kind", "node", "state", "t_s"])
        actual = tl.actual_intervals(events, t_end) if has_faults else pd.DataFrame(columns=["node", "state"])
        belief = tl.belief_intervals(near, t_end, names)
        near_by = NodeTimes(events, actual, belief, has_faults)  # each finding's node: its rows, grouped once
        marks = tl.dispatch_marks(own_rows) if len(own) else pd.DataFrame(columns=["execution",
                                                                                             "outcome"])
        redispatched = marks.loc[marks["outcome"] == "redispatched", "execution"].value_counts()
        shown_jobs = set(shown["job"].dropna().astype(str))
        evals = tl.eval_marks(C.rows(events, (events["kind"] == "eval").to_numpy(dtype=bool)
                                     & events["job"].isin(shown_jobs).to_numpy(dtype=bool), list(events.columns)))
        # per job, its evaluations' times, triggers and details as arrays: a finding reads its job's from them
        ev_job = {j: (g["t_s"].to_numpy(dtype=float), g["trigger"].to_numpy(dtype=object),
                      g["detail"].to_numpy(dtype=object)) for j, g in evals.groupby("job", sort=False)}
        processed = C.rows(events, ((events["kind"] == "eval") & (events["state"] == "processed")).to_numpy(dtype=bool),
                           ["job", "t_s", "detail"])
        pdetail = processed["detail"].fillna("")
        outcome_of: list[tuple[list[tuple[float, str, str]], int, str]] = []  # resolved after the loop, at once
        counted = pd.Series(list(names.values()), dtype=object).value_counts()
        dup = set(counted.index[counted.to_numpy() > 1])
        for r in shown.rename(columns={"class": "cls"}).itertuples(index=False):
            node = None if r.node is None or r.node != r.node else str(r.node)
            name = names.get(str(node), node) if node else None
            if name in dup:
                name = f"{name} ({node})"
            t_disp = float(r.last_send_s) if r.last_send_s == r.last_send_s else float(r.created_s)
            up_state = near_by.actual_at(node, t_disp) if has_faults else None
            returned = booting = None
            if has_faults and node is not None:
                booting = near_by.booting(node, t_disp)
                returned = near_by.returned(node, t_disp)
            job = None if r.job is None or r.job != r.job else str(r.job)
            ev_after: list[tuple[float, str, str]] = []
            n_after = 0
            if job is not None and job in ev_job:
                rejoin = float(r.rejoined_s) if r.rejoined_s == r.rejoined_s else 0.0
                # "after it came back / was connected again / was created": never an earlier event
                since = max(float(r.created_s), returned or (rejoin if rejoin > float(r.created_s) else 0.0))
                ev_t, ev_trigger, ev_detail = ev_job[job]
                later = np.flatnonzero(ev_t >= since)
                n_after = len(later)
                for k in later[:4]:  # the sentence names four, and counts the rest
                    e = _Eval(ev_t[k], ev_trigger[k], ev_detail[k])
                    m = _EVAL_ID.search(str(e.detail or ""))
                    if m:
                        outcome_of.append((ev_after, len(ev_after), m.group(1)))
                        did = ""
                    else:
                        p = processed[(processed["job"] == job) & (processed["t_s"] >= e.t_s)
                                      & pdetail.str.contains(f"trigger={e.trigger}", regex=False)].head(1)
                        did = ("changed the plan" if "empty=false" in str(p["detail"].iloc[0])
                               else "produced an empty plan") if len(p) else "(outcome not logged)"
                    ev_after.append((float(e.t_s), str(e.trigger), did))
            down = r.alive is not None and r.alive == r.alive and not bool(r.alive)
            cause, conf = _cause(str(r.cls), str(r.outcome), str(r.belief), down, r.remedy,
                                 float(r.due_s) if r.due_s == r.due_s else float("nan"), str(r.missing),
                                 float(r.age_s), threshold, str(r.edge_log))
            dispatch = {"sent": "published", "nats_ok": "delivered"}.get(str(r.outcome), str(r.outcome))
            findings.append(Finding(
                str(r.execution), job, node, name, float(r.created_s), dispatch,
                None if up_state is None else up_state == "up",
                near_by.belief_at(node, t_disp), returned,
                ev_after, int(redispatched.get(r.execution, 0)), cause, sorted(rows_of.get(r.execution, [])),
                str(r.cls), conf, float(r.due_s) if r.due_s == r.due_s else None, up_state, n_after,
                str(r.edge_log), float(r.rejoined_s) if r.rejoined_s == r.rejoined_s else None, booting,
                jnames.get(job) if job else None))
        if outcome_of:  # what each named evaluation did: one pass over the processed lines for all of them
            did_of = _eval_outcomes(pdetail, {k for *_, k in outcome_of})
            for evs, i, k in outcome_of:
                evs[i] = (evs[i][0], evs[i][1], did_of.get(k, "(outcome not logged)"))
    if tab.empty and verdict is None:
        notes.append("no pending execution found in these logs")
    speaking = set(edges["source"].unique()) if len(edges) else set()
    mute = sorted(x for x, role in roles.items() if x not in NOT_EDGE_SOURCES and
                  (role == "other" or (role == "edge" and x not in speaking)))
    if mute:
        notes.append(f"{', '.join(mute)}: no line of it reads as an edge's (an unknown format, or no node id "
                     "in it), so it cannot show what an edge received")
    why = "" if verdict is not None else _why_no_verdict(plain, events)
    return Diagnosis(verdict, findings, notes, full, tab, shown_all=len(shown) == len(tab), alarms=alarms(plain),
                     no_verdict=why, jobs_inferred=_inferred_jobs(events), roles=roles, edges=edges)


def _inferred_jobs(events: pd.DataFrame) -> dict[str, int]:
    """Per source, the dispatch rows whose job :func:`repro_lib.capture.logs.fill_jobs` inferred."""
    from repro_lib.capture.logs import JOB_BY_NOTE

    if events.empty:
        return {}
    disp = C.rows(events, (events["kind"] == "dispatch").to_numpy(dtype=bool), ["source", "detail"])
    hit = C.series_contains(disp["detail"], JOB_BY_NOTE)
    return {str(k): int(v) for k, v in disp.loc[hit, "source"].value_counts(sort=False).items()}


def job_names(events: pd.DataFrame) -> dict[str, str]:
    """job id -> job name, where a job line or a reconciler warning gives the name apart from the id
    (``name=`` in its ``detail``: the seed-style ``job deployed job_name=… job_id=j-…``)."""
    if events.empty:
        return {}
    rows = C.rows(events, (events["kind"].isin(["state", "reconcile"]) & events["execution"].isna()
                           & events["job"].notna()).to_numpy(dtype=bool), ["job", "detail"])
    if rows.empty:
        return {}
    from repro_lib.capture._common import unquote
    from repro_lib.capture.zones import arrow_strings

    name = C.extract(arrow_strings(rows["detail"]), _JOB_NAME_RE2, ["name"], r"(?:^| )name=(?P<name>\S+)")["name"]
    got = np.flatnonzero(C.is_str(name))
    if not len(got):
        return {}
    jobs = C.obj(rows["job"])[got]
    first = C.first_in_order(jobs)  # each job's first name, unquoted once per job
    return {j: n for j, n in zip(map(str, jobs[first]), map(unquote, map(str, name[got][first])), strict=True)
            if n != j}


_JOB_NAME_RE2 = rf"(?:^| )name=(?P<name>[^{C.PY_SPACE[1:-1]}]+)"


def _of_executions(execution: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The rows whose execution is one of those of ``rows``: Arrow's ``is_in`` on an Arrow column (pandas' ``isin``
    makes a Python object per value looked for: 143,158 executions, 0.5 s), pandas' elsewhere."""
    if isinstance(execution.array, pd.arrays.ArrowStringArray):
        import pyarrow.compute as pc

        arr = pa.array(execution)
        wanted = pc.unique(C.take_rows(arr, np.flatnonzero(rows)).drop_null())
        return C.as_bool(pc.is_in(arr, value_set=wanted))
    return execution.isin(C.obj(execution[rows].dropna().unique())).to_numpy(dtype=bool)


def _jobs_filled(events: pd.DataFrame) -> pd.DataFrame:
    """The relevant rows with :func:`repro_lib.capture.logs.fill_jobs` applied once more: a condensed reading
    parses block by block, so a dispatch whose job line is in an earlier block is given its job here."""
    if events.empty:
        return events
    need = (events["kind"] == "dispatch") & events["execution"].notna() & events["job"].isna()
    if not need.any():
        return events
    from repro_lib.capture.logs import fill_jobs

    # the rows fill_jobs reads for these dispatches: theirs, the job lines (a state row with a job and no execution,
    # a deploy action: fill_jobs picks them among these) and the other rows of their executions; a named row of
    # another execution changes nothing for them. The columns it reads, taken chunk by chunk; the rows it sets put back
    job_line = events["job"].notna() & events["execution"].isna() & events["kind"].isin(["state", "action"])
    read = (need | job_line).to_numpy(dtype=bool) | _of_executions(events["execution"], need.to_numpy(dtype=bool))
    sub = C.rows(events, read, [c for c in events.columns if c in ("source", "kind", "job", "execution", "state",
                                                                      "detail")])
    fill_jobs(sub)
    out = events.copy(deep=False)  # copy on write: only the columns set below are copied
    at = need.to_numpy(dtype=bool)[read]
    for c in ("job", "detail"):
        if c in sub.columns:
            out.loc[sub.index[at], c] = sub[c].to_numpy()[at]
    return out


def _final_from_logs(events: pd.DataFrame, tab: pd.DataFrame) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The final jobs and executions the logs show (no snapshot): each execution's last state line, and [I] the
    executions a reconciler warning calls stuck (pending); each job's last state line, where [I] a job line's
    ``pending`` (the seed-style ``job deployed`` line gives the deploy, not the end) is ``running`` once every
    execution of the job runs, and ``deploying`` when a reconciler warning calls it stuck. The executions are
    a table (``id job state desired``), built by group-bys: Python runs per job, not per execution."""
    kind = events["kind"]
    # the columns a group-by reads, then the rows (never every column of half a million rows)
    has_ex = events["execution"].notna()
    ex_rows = C.rows(events, ((kind == "state") & has_ex).to_numpy(dtype=bool), ["execution", "job", "state"])
    last = ex_rows.groupby("execution", sort=False)[["job", "state"]].last()
    job = C.obj(last["job"])
    other = ~C.is_str(job)
    if other.any():  # no job on its state lines: the job another row of it names
        ex_job = C.rows(events, (has_ex & events["job"].notna()).to_numpy(dtype=bool), ["execution", "job"]).groupby(
            "execution", sort=False)["job"].first()
        job[other] = C.take(C.obj(ex_job), C.positions(C.obj(ex_job.index), C.obj(last.index)[other]))
    # object columns, missing values as the rows have them (NaN), as a reason prints them
    execs = pd.DataFrame({"id": last.index.to_numpy(dtype=object), "job": job,
                          "state": last["state"].to_numpy(dtype=object),
                          "desired": np.full(len(last), None, dtype=object)}, dtype=object)
    if len(tab):  # pending on a reconciler's word, with no state line of their own
        warned = tab[tab["reconciler_s"].notna().to_numpy()
                     & ~C.isin(C.obj(tab["execution"]), last.index.to_numpy(dtype=object))]
        execs = pd.concat([execs, pd.DataFrame({"id": warned["execution"].to_numpy(dtype=object),
                                                "job": warned["job"].to_numpy(dtype=object),
                                                "state": np.full(len(warned), "pending", dtype=object),
                                                "desired": np.full(len(warned), "running", dtype=object)},
                                               dtype=object)], ignore_index=True)
    flagged = set(C.rows(events, ((kind == "reconcile") & (events["state"] == "stuck")).to_numpy(dtype=bool),
                         ["job"])["job"].dropna().unique())
    jobs_rows = C.rows(events, ((kind == "state") & ~has_ex & events["job"].notna()).to_numpy(dtype=bool),
                       ["job", "state"])
    final = jobs_rows.groupby("job", sort=False)["state"].last()  # one per job
    # per job: whether every execution of it runs (str of a missing state is no job state)
    ok = C.isin(C.per_value(C.obj(execs["state"]), str, object, "nan"), OK_JOB_STATES)
    keyed = C.is_str(C.obj(execs["job"]))
    all_ok = pd.Series(ok[keyed]).groupby(C.obj(execs["job"])[keyed], sort=False).all()
    states = final.to_numpy(dtype=object)
    jid = C.obj(final.index)
    runs = C.take(C.obj(all_ok), C.positions(C.obj(all_ok.index), jid), False).astype(bool)
    deploying = C.isin(jid, flagged) & C.isin(states, ("pending", "queued"))
    running = ~deploying & (states == "pending") & runs
    states = np.where(deploying, "deploying", np.where(running, "running", states))
    jobs = [{"name": j, "state": st} for j, st in zip(jid.tolist(), states.tolist(), strict=True)]
    return jobs, execs


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _headline(tab: pd.DataFrame, events: pd.DataFrame, jnames: dict[str, str], names: dict[str, str],
              roles: dict[str, str]) -> str:
    """The VERDICT line's words for each stuck job (stuck executions, or a reconciler warning): its name and
    id, the dispatches sent while the orchestrator believed the node connected, the node-join evaluations that
    created no new dispatch, the reconciler's warning, and what the logs cannot show."""
    if tab.empty:
        return ""
    flagged = tab[tab["stuck"].astype(bool) | tab["reconciler_s"].notna()]
    if flagged.empty:  # no proof either way: the jobs whose run requests are not known to have arrived
        flagged = tab[tab["class"].isin(["lost", "refused", "unknown"])]
    if flagged.empty:
        return ""
    kind = events["kind"]
    created = ((kind == "eval") & (events["state"] == "created")).to_numpy(dtype=bool)
    evals = C.rows(events, created, ["job", "t_s", "detail"])
    evals = evals[C.series_contains(evals["detail"], "trigger=node-join")]
    sends = C.rows(events, ((kind == "dispatch") & events["state"].isin(["attempt", "redispatch"])).to_numpy(
        dtype=bool), ["job", "t_s"])
    closes = C.rows(events, (kind == "fault").to_numpy(dtype=bool), list(events.columns))  # what nats_close_near reads
    nats = "nats" in roles or ("msg" in events and bool(C.series_startswith(events["msg"], "NATS:").any()))
    out = []
    # per job, its evaluations and sends in time order (one group-by each, not a pass per job)
    evals_of = evals.groupby("job", sort=False).indices
    sends_of = sends.groupby("job", sort=False).indices
    e_t, s_t = evals["t_s"].to_numpy(dtype=float), sends["t_s"].to_numpy(dtype=float)
    none = np.zeros(0, dtype=np.int64)
    for job, g in flagged.groupby("job", sort=False, dropna=False):
        label = job_label(job, jnames)
        nodes = _labels(g["node"], names)
        where = ", ".join(nodes) or "its node"
        them = _plural(len(nodes), "it", "them")
        st = g[g["stuck"].astype(bool)]
        if len(st):
            counts = g["class"].where(g["stuck"].astype(bool), "not judged").value_counts(sort=False)
            head = f"job {label} stuck: " + ", ".join(f"{n} execution(s) {c}" for c, n in counts.items())
        elif g["reconciler_s"].notna().any():
            head = f"job {label} stuck in deploying (the reconciler says so)"
        else:
            desc = {"lost": "lost (whether still pending is not in these logs)", "refused": "refused (whether still "
                    "pending is not in these logs)", "unknown": "not known to have arrived"}
            counts = g["class"].value_counts(sort=False)
            head = f"job {label} may be stuck: " + ", ".join(f"{n} execution(s) {desc.get(c, c)}"
                                                              for c, n in counts.items())
        bits = []
        pub = g[g["outcome"].isin(["published", "sent"]) | (g["class"] == "lost") & (g["outcome"] != "none")]
        if len(pub):
            believed = (pub["outcome"] == "published").any() or (pub["belief"] == "connected").any()
            n = f"{len(pub)} execution(s) dispatched to {where}"
            bits.append(f"{n} while the orchestrator believed {them} connected"
                        + (" (PUBLISH: connection_exists=true connection_alive=true)"
                           if (pub["outcome"] == "published").any() else "") if believed else n)
        if (g["outcome"] == "refused").any():
            bits.append(f"{int((g['outcome'] == 'refused').sum())} refused (node not connected) and dropped")
        t_send = float(np.nanmin(g["last_send_s"].to_numpy(dtype=float))) if g["last_send_s"].notna().any() \
            else float(g["created_s"].min())
        mine = evals_of.get(job, none) if isinstance(job, str) else none
        later = mine[e_t[mine] >= t_send]
        if len(later):
            t_ev = float(e_t[later[0]])
            sent = sends_of.get(job, none)
            again = sent[s_t[sent] >= t_ev]
            when = f"at {t_ev:.1f}s" if len(later) == 1 else f"{len(later)} of them, the first at {t_ev:.1f}s"
            bits.append(f"the node-join evaluation ({when}) created no new dispatch" if not len(again) else
                        f"{len(again)} dispatch(es) followed the node-join evaluation at {t_ev:.1f}s")
        if g["reconciler_s"].notna().any():
            bits.append(f"reconciler warning at {float(g['reconciler_s'].max()):.1f}s")
        unchecked = g[(g["class"] == "unknown") & g["missing"].astype(str).str.startswith("delivery not checked")]
        if len(unchecked):
            un = _labels(unchecked["node"], names)
            bits.append(f"whether the run request(s) reached {', '.join(un) or 'the edge'} is not in these logs "
                        f"(no edge log speaks for {_plural(len(un), 'it', 'them')}"
                        + ("" if nats else ", and no NATS log") + ")")
        if (cite := nats_close_near(closes, [str(x) for x in pd.unique(g["node"].dropna())], t_send)):
            bits.append(cite)
        covered = g[(g["class"] == "lost") & (g["edge_log"] == "covers")]
        if len(covered):
            cn = _labels(covered["node"], names)
            bits.append(f"the edge log of {', '.join(cn)} goes on past the send and shows no receipt")
        out.append(head + (": " + "; ".join(bits) if bits else ""))
    return " | ".join(out)


#: how near a nats-server close must be to a lost send to explain it: the server's write deadline and ping interval
#: (2 min, 2 pings out: a stale close lands up to ~4 min after the partition) bound it; our window [I]
NATS_CLOSE_WINDOW_S = 300.0
_NATS_CLOSE_SAYS = {
    "slow_consumer": "nats-server closed its connection as a slow consumer{at}: what the server still held for it "
                     "was dropped",
    "stale_close": "nats-server closed its connection as stale (PINGs unanswered){at}: what was published after the "
                   "close, until it reconnected and re-subscribed, was lost",
}


def nats_close_near(events: pd.DataFrame, nodes: list[str], t_s: float) -> str:
    """The nats-server slow-consumer or stale-connection close on one of ``nodes`` nearest a lost send at ``t_s``
    (within :data:`NATS_CLOSE_WINDOW_S`), as a clause citing its line; empty when there is none. A close names its
    node by the client name Bacalhau gives its NATS connection (the node id) or by the row's node."""
    if not nodes or not len(events) or not np.isfinite(t_s) or "state" not in events:
        return ""
    ev = events[(events["kind"] == "fault") & events["state"].isin(list(_NATS_CLOSE_SAYS))]
    if ev.empty or "t_s" not in ev:
        return ""
    detail = ev["detail"].astype("object").fillna("")
    mine = ev["node"].isin(nodes) | detail.str.contains(
        "|".join(rf'client="?{re.escape(n)}\b' for n in nodes), regex=True)
    near = ev[mine & ((ev["t_s"] - t_s).abs() <= NATS_CLOSE_WINDOW_S)]
    if near.empty:
        return ""
    row = near.loc[(near["t_s"] - t_s).abs().idxmin()]
    at = f" at {float(row['t_s']):.1f}s ({float(row['t_s']) - t_s:+.1f}s from the send)"
    line = str(row.get("line", "")).split("\n", 1)[0].strip()
    return _NATS_CLOSE_SAYS[str(row["state"])].format(at=at) + (f" — {line[:160]}" if line else "")


def _why_no_verdict(full: pd.DataFrame, events: pd.DataFrame) -> str:
    """One line for a diagnosis without a verdict: what the evidence lacks."""
    if full.empty:
        return "no events: nothing to judge"
    jobs = ((events["kind"] == "state") & events["execution"].isna() & events["job"].notna()).any() \
        if len(events) else False
    lacks = ("no execution state, dispatch or reconciler line in these logs, so no execution's fate can be judged — "
             "pass the orchestrator's log at --log-level=debug (the instrumented build), or `job list` and "
             "`execution list` output")
    return ("job lines but " + lacks) if jobs else lacks


#: what must not stay buried in a log: a crash, a node that could not be created, an execution the
#: system lost track of (each a finding of its own, whatever the verdict says); case-insensitive substrings,
#: matched by Arrow's kernels (a million lines in well under a second)
_ALARMS = (
    ("panic", ("panic:", "fatal error:")),
    ("error creating node", ("error creating node",)),
    ("execution not found", ("execution not found",)),
)


def alarms(events: pd.DataFrame, most: int = 3) -> list[str]:
    """One line per kind of alarm in ``events``: how many, and the first (source, time, text)."""
    import pyarrow.compute as pc

    if events.empty or "line" not in events:
        return []
    from repro_lib.capture.zones import arrow_strings

    text = arrow_strings(events["line"])
    level = events["level"] if "level" in events else pd.Series("", index=events.index)
    # one case-blind pass for every needle; each alarm's own needles only on the lines it found
    any_rx = "|".join(re.escape(n) for _, needles in _ALARMS for n in needles)
    cand = np.flatnonzero(pc.fill_null(pc.match_substring_regex(text, any_rx, ignore_case=True), False).to_numpy(
        zero_copy_only=False))
    sub = C.take_rows(text, cand)  # chunk by chunk: Arrow's take of a chunked column joins every chunk first
    out = []
    for name, needles in _ALARMS:
        hit = np.zeros(len(events), dtype=bool)
        for needle in needles:
            hit[cand] |= pc.fill_null(pc.match_substring(sub, needle, ignore_case=True), False).to_numpy(
                zero_copy_only=False)
        if name == "panic":
            hit |= level.isin(["PANIC", "FATAL"]).to_numpy()
        at = np.flatnonzero(hit)
        if not len(at):
            continue
        first = events.iloc[int(at[0])]  # one row read, not every column of the hits taken
        when = "" if pd.isna(first.get("t")) else f" at {pd.Timestamp(first['t']).strftime('%H:%M:%S')}"
        line = str(first["line"]).split("\n", 1)[0].strip()
        more = f" (and {len(at) - 1} more)" if len(at) > 1 else ""
        out.append(f"{name}: {len(at)} line(s){more} — first in {first['source']}{when}: {line[:160]}")
    return out[:most]

"""Conformance: where the model's replay of a reconstructed scenario and the real logs disagree
(docs/incident-to-scenario.md, "Conformance"); the replay itself is :func:`repro_lib.incident.conformance`
(running the sim is a driver's job, not analysis').

Both sides are read by the same :func:`observe` from the same events schema, so a row compares like
with like: per edge the disconnect and return (re-handshake) times, per job its last state, per
execution (matched by job, node name and order) its last state and whether it ever ran, per job the
node-join evaluations and re-dispatches, and the verdict. A row that cannot be compared (the logs do
not show it) is kept with ``agree=None`` and a note: a disagreement is never hidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from repro_lib.analysis.reconstruct import Reconstruction

__all__ = ["agreement", "COLUMNS", "Observed", "observe", "compare", "tolerance", "summary", "disagreements", "row"]

COLUMNS = ["what", "subject", "real", "model", "agree", "note"]
_NAME = re.compile(r"\bname=(\S+)")
_TRIGGER = re.compile(r"\btrigger=(\S+)")
_EDGE_SOURCES = {"orchestrator"}
_RAN = {"running", "completed", "Running", "Completed", "Publishing"}


@dataclass
class Observed:
    """What one side shows, keyed by edge name and job."""

    disconnects: dict[str, list[float]] = field(default_factory=dict)
    returns: dict[str, list[float]] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    executions: dict[tuple[str, str, int], tuple[str, bool]] = field(default_factory=dict)
    join_evals: dict[str, int] = field(default_factory=dict)
    redispatches: dict[str, int] = field(default_factory=dict)
    started: dict[tuple[str, str, int], float] = field(default_factory=dict)  # first running report
    verdict: str | None = None
    #: whether this side logs execution states / job state changes at all (seed-style debug logs may not)
    sees_executions: bool = True
    sees_jobs: bool = True
    only_deploys: bool = False  # its job lines are deploys only (seed-style "job deployed")


def observe(events: pd.DataFrame, names: dict[str, str] | None = None, verdict: str | None = None) -> Observed:
    """Read one side's events. ``names`` maps node ids (and logged names) to edge names; the ``name=``
    fields of the node lines fill in the rest."""
    ev = events[events["t_s"].notna()].sort_values("t_s", kind="stable")
    names = dict(names or {})
    for r in ev[(ev["kind"] == "node") & ev["node"].notna()].itertuples():
        m = _NAME.search(str(r.detail or ""))
        if m and str(r.node) not in names:
            names[str(r.node)] = names.get(m.group(1), m.group(1))

    def edge(n: object) -> str:
        return names.get(str(n), str(n))

    ob = Observed(verdict=verdict)
    from repro_lib.analysis.delivery import source_roles

    roles = source_roles(ev)
    orch = ev["source"].map(lambda s: roles.get(str(s)) == "orchestrator" or s == "orchestrator")
    nodes = ev[(ev["kind"] == "node") & ev["node"].notna() & orch]
    for r in nodes[nodes["state"].isin(["disconnected"])].itertuples():
        ob.disconnects.setdefault(edge(r.node), []).append(float(r.t_s))
    shakes = nodes[nodes["state"] == "handshake"]
    if shakes.empty:  # logs that only say "node connected": each such line is a (re)connection
        shakes = nodes[nodes["state"] == "connected"]
    for nm, rows in shakes.groupby(shakes["node"].map(edge), sort=False):
        ob.returns[str(nm)] = [float(t) for t in rows["t_s"].iloc[1:]]
    jl = ev[(ev["kind"] == "state") & ev["job"].notna() & ev["execution"].isna()]
    ob.sees_jobs = bool((jl["state"] != "pending").any())  # only "deployed" lines: no job state is logged
    ob.only_deploys = bool(len(jl)) and not ob.sees_jobs
    if ob.sees_jobs:
        for job, rows in jl.groupby("job", sort=False):
            ob.jobs[str(job)] = str(rows["state"].iloc[-1])
    ex = ev[(ev["kind"] == "state") & ev["execution"].notna() & ev["job"].notna() & orch]
    ob.sees_executions = bool(len(ex))
    order: dict[tuple[str, str], list[str]] = {}
    for r in ex.itertuples():
        key = (str(r.job), edge(r.node))
        ids = order.setdefault(key, [])
        if r.execution not in ids:
            ids.append(str(r.execution))
    for (job, nm), ids in order.items():
        for k, e in enumerate(ids):
            rows = ex[ex["execution"] == e]
            ran = rows[rows["state"].isin(_RAN)]
            ob.executions[(job, nm, k + 1)] = (str(rows["state"].iloc[-1]), bool(len(ran)))
            if len(ran):
                ob.started[(job, nm, k + 1)] = float(ran["t_s"].iloc[0])
    created = ev[(ev["kind"] == "eval") & (ev["state"] == "created") & ev["job"].notna()]
    for r in created.itertuples():
        m = _TRIGGER.search(str(r.detail or ""))
        if m and m.group(1) == "node-join":
            ob.join_evals[str(r.job)] = ob.join_evals.get(str(r.job), 0) + 1
    red = ev[(ev["kind"] == "dispatch") & (ev["state"] == "redispatch") & ev["job"].notna()]
    for job, rows in red.groupby("job"):
        ob.redispatches[str(job)] = len(rows)
    return ob


def tolerance(rec: Reconstruction) -> float:
    """How far a disconnect or return time may differ: one health-check period + one heartbeat
    interval (the heartbeat's phase and the check's phase are not in the logs)."""
    t = rec.timings_obj()
    return t.health_check + t.heartbeat_interval


def row(what: str, subject: str, real: Any, model: Any, agree: bool | None, note: str = "") -> dict[str, Any]:
    return {"what": what, "subject": subject, "real": real, "model": model, "agree": agree, "note": note}


def _times(what: str, real: dict[str, list[float]], model: dict[str, list[float]], tol: float,
           edges: list[str]) -> list[dict[str, Any]]:
    rows = []
    for e in edges:
        r, m = real.get(e, []), model.get(e, [])
        for i in range(max(len(r), len(m))):
            a = round(r[i], 3) if i < len(r) else None
            b = round(m[i], 3) if i < len(m) else None
            subject = f"{e} #{i + 1}"
            if a is None:
                rows.append(row(what, subject, None, b, False, "the model has it, the logs do not"))
            elif b is None:
                rows.append(row(what, subject, a, None, False, "the logs show it, the model does not"))
            else:
                ok = abs(a - b) <= tol
                rows.append(row(what, subject, a, b, ok, f"Δ {b - a:+.3f}s (tolerance {tol:g}s)"))
    return rows


def compare(real: Observed, model: Observed, tol: float, edges: list[str]) -> pd.DataFrame:
    """The comparison table (``COLUMNS``): every subject either side shows."""
    rows = []
    rows += _times("disconnect", real.disconnects, model.disconnects, tol, edges)
    rows += _times("return (re-handshake)", real.returns, model.returns, tol, edges)
    for job in dict.fromkeys([*real.jobs, *model.jobs]):
        a, b = real.jobs.get(job), model.jobs.get(job)
        if a is None:
            rows.append(row("job final state", job, None, b, None,
                            "the logs log no job state change (only deploys): not comparable"
                            if real.only_deploys else "no job state line in the logs"))
        else:
            rows.append(row("job final state", job, a, b, a == b))
    for key in dict.fromkeys([*real.executions, *model.executions]):
        subject = f"{key[0]} on {key[1]} #{key[2]}"
        a, b = real.executions.get(key), model.executions.get(key)
        if a is None and not real.sees_executions:
            rows.append(row("execution", subject, None, b[0], None,
                            "the logs log no execution state: not comparable"))
            continue
        if a is None or b is None:
            rows.append(row("execution", subject, a and a[0], b and b[0], False,
                             "only the model has it" if a is None else "only the logs have it"))
            continue
        rows.append(row("execution final state", subject, a[0], b[0], a[0] == b[0]))
        rows.append(row("execution ever ran", subject, a[1], b[1], a[1] == b[1],
                         "the logs show it running, the model leaves it pending" if a[1] and not b[1] else
                         "the model runs it, the logs never show it running" if b[1] and not a[1] else ""))
        ta, tb = real.started.get(key), model.started.get(key)
        if ta is not None and tb is not None:
            rows.append(row("execution running at", subject, round(ta, 3), round(tb, 3), abs(ta - tb) <= tol,
                             f"Δ {tb - ta:+.3f}s (tolerance {tol:g}s)"))
    for job in dict.fromkeys([*real.jobs, *model.jobs, *real.join_evals, *model.join_evals]):
        a, b = real.join_evals.get(job, 0), model.join_evals.get(job, 0)
        rows.append(row("node-join evaluations", job, a, b, a == b))
        ra, rb = real.redispatches.get(job, 0) > 0, model.redispatches.get(job, 0) > 0
        rows.append(row("re-dispatched", job, ra, rb, ra == rb,
                         "a node-join eval re-dispatched in the logs, not in the model" if ra and not rb else
                         "the model re-dispatches, the logs never do" if rb and not ra else ""))
    if real.verdict is None:
        rows.append(row("verdict", "run", None, model.verdict, None, "the logs give no verdict"))
    else:
        rows.append(row("verdict", "run", real.verdict, model.verdict, real.verdict == model.verdict))
    return pd.DataFrame(rows, columns=COLUMNS)


def disagreements(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that disagree or cannot be compared (agree is False or None)."""
    return table[table["agree"].map(lambda a: a is not True)]


def agreement(table: pd.DataFrame) -> dict[str, object]:
    """The counts and the disagreeing rows, as a scenario's ``incident.conformance`` records them."""
    bad = table[table["agree"].map(lambda a: a is not True)]
    rows = [f"{'cannot compare' if r.agree is None else 'disagrees'}: {r.what} {r.subject}: logs {r.real}, "
            f"model {r.model}" + (f" ({r.note})" if r.note else "") for r in bad.itertuples()]
    return {"agree": int(table["agree"].map(lambda a: a is True).sum()),
            "disagree": int(table["agree"].map(lambda a: a is False).sum()),
            "cannot_compare": int(table["agree"].map(lambda a: a is None).sum()),
            "disagreeing": rows[:20]}


def summary(table: pd.DataFrame) -> str:
    agree = int(table["agree"].map(lambda a: a is True).sum())
    dis = int(table["agree"].map(lambda a: a is False).sum())
    unk = int(table["agree"].map(lambda a: a is None).sum())
    tol = table.attrs.get("tolerance")
    return (f"conformance: {len(table)} comparisons — {agree} agree, {dis} disagree, {unk} cannot be compared"
            + (f" (times within {tol:g}s: one health-check period + one heartbeat interval)" if tol else ""))

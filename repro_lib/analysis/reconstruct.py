"""Incident → scenario: the fault schedule an events table shows, as an ordinary scenario.

:func:`reconstruct` reads the one events table (``repro_lib.events``) that ``repro inspect`` builds from
logs and proposes the steps that would have produced it — edges killed and started, partitions,
orchestrator restarts, deploys, updates and stops of jobs — each with the log line it came from and
its ``basis``: ``logged`` (a line says it), ``inferred`` (a rule read it from other lines; the rule is
given) or ``default`` (nothing in the evidence; a preset's value). Where the evidence cannot place a
step it says so (``unplaced``) and invents nothing. docs/incident-to-scenario.md lists the rules.

Pure: a DataFrame in, a :class:`Reconstruction` out. Writing it is :func:`write_scenario`
(through :mod:`repro_lib.output`); finding each evidence line's file and line number is
:func:`locate` (reads the files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from repro_lib.durations import MAX_SECONDS, format_duration
from repro_lib.errors import ReproError
from repro_lib.redact import redact
from repro_lib.timings import PRESETS, Timings, timings_from

__all__ = ["Evidence", "RStep", "Guess", "JobGuess", "Reconstruction", "reconstruct", "locate",
           "write_scenario", "safe_edge_name", "HEADER_MARK", "EXACT_SOURCES", "one_incident"]

#: the first line of every file this module writes (how :func:`repro_lib.output.is_ours` knows them)
HEADER_MARK = "# reconstructed by: repro inspect"
#: sources whose FAULT/ACTION rows are the kit's own record of what it did (exact when present)
EXACT_SOURCES = frozenset({"sim", "stack", "docker"})
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_ALIVE_EXEC = {"running", "completed", "Running", "Completed", "Publishing"}
_TEARDOWN = {"EDGE: shutting down", "ORCHESTRATOR: shutting down"}
#: an edge process's own start banner (the kit's ``EDGE: starting`` and the ways other builds say it)
_EDGE_START = (r"^(?:EDGE: starting|starting (?:the )?(?:edge|compute)(?: node)?\b"
               r"|(?:edge|compute) node start(?:ing|ed)\b|starting bacalhau\b)")
#: an edge's words for losing its orchestrator (the start of a fault, never a sign of life)
_LOSS = r"connection lost|lost connection|disconnected|reconnect|timed? ?out|no responders|unreachable|closed"
#: the transport faults the kit's sim logs as ``FAULT:`` lines (scenario steps; a nats-server's own close lines
#: are their consequences, not steps)
_TRANSPORT = ("stale_close", "slow_consumer", "reconnect")
_OP_ORDER = {"restart_orchestrator": 0, "join": 0.5, "kill": 1, "partition": 2, "stale_close": 2.5,
             "slow_consumer": 2.5, "reconnect": 2.5, "heal": 3, "start": 4, "deploy": 6, "stop_job": 7}


@dataclass(frozen=True)
class Evidence:
    """One log line behind a step (redacted); ``file``/``lineno`` are filled by :func:`locate`."""

    source: str
    t: float
    text: str
    file: str | None = None
    lineno: int | None = None

    def where(self) -> str:
        return f"{self.file or self.source}:{self.lineno if self.lineno is not None else '?'}"


@dataclass
class RStep:
    """A reconstructed step at ``t`` seconds after the first event."""

    t: float
    op: str
    args: Any
    basis: str                       # logged | inferred | default
    rule: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    #: for an inferred step, the interval the evidence allows (seconds from the first event)
    window: tuple[float, float] | None = None

    def step(self) -> dict[str, Any]:
        return {self.op: self.args}

    def label(self) -> str:
        return self.basis if self.basis != "inferred" else f"inferred: {self.rule}"


@dataclass
class Guess:
    """A timing: its value in seconds, where it came from."""

    value: float
    basis: str
    rule: str = ""
    evidence: Evidence | None = None


@dataclass
class JobGuess:
    """What the logs say about one job: its name, type and versions (its spec is never in them)."""

    name: str
    type: str
    type_basis: str
    versions: list[int] = field(default_factory=lambda: [1])
    run_for: float | None = None
    #: the edges it ran on when the logs show it skipped a connected edge (a selector the logs imply) [I]
    only_on: list[str] | None = None


@dataclass
class Reconstruction:
    """The schedule the evidence shows. ``names`` maps every node id (and logged name) to the edge
    name used in the scenario; ``identities`` lists each edge's node ids in order."""

    edges: list[str]
    names: dict[str, str]
    identities: dict[str, list[str]]
    steps: list[RStep]
    timings: dict[str, Guess]
    preset: Guess
    fix: Guess
    jobs: dict[str, JobGuess]
    verdict: str | None
    end: float
    unplaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name: str = "incident"
    #: the logs' diagnosis: pending executions per class (the premise a what-if stands on)
    classes: dict[str, int] = field(default_factory=dict)
    #: a job's id in the logs -> the name the scenario uses (when a job line names it: ``name=``)
    job_ids: dict[str, str] = field(default_factory=dict)
    #: the jobs the logs show stuck (the diagnosis' stuck executions, a reconciler's warning)
    stuck_jobs: list[str] = field(default_factory=list)
    #: the NATS semantics the logs were written under (``timings.nats_semantics``): ``nats`` unless they show the
    #: kit's drop-at-once reading (its banner, or its ``NATS: partitioned - message dropped`` lines)
    transport: Guess | None = None
    #: conformance of the no-fix replay with the logs, as written into the file (``incident.conformance``)
    agreement: dict[str, Any] | None = None
    sources: list[str] = field(default_factory=list)

    def basis(self) -> dict[str, list[str]]:
        """Which steps and timings are inferred or default (how sure the replay is)."""
        steps = [f"{_describe(s)} at t={s.t:.3f}s" + (f" (the evidence allows {s.window[0]:.3f}s … {s.window[1]:.3f}s)"
                                                     if s.window else "") for s in self.steps if s.basis == "inferred"
                 and s.op != "up"]
        inferred = [f"{k} = {format_duration(g.value)} ({g.rule})" for k, g in self.timings.items()
                    if g.basis == "inferred"]
        default = [k for k, g in self.timings.items() if g.basis == "default"]
        return {"inferred steps": steps, "inferred timings": inferred, "default timings": default}

    def incident_doc(self) -> dict[str, Any]:
        """The ``incident:`` block: what the logs show, which the replay must reproduce before any what-if."""
        doc: dict[str, Any] = {"logs": list(self.sources), "verdict": self.verdict or "unknown",
                               "classes": dict(self.classes), "stuck_jobs": list(self.stuck_jobs),
                               "fix": str(self.fix.value)}
        if self.job_ids:
            doc["job_ids"] = dict(self.job_ids)
        if self.agreement is not None:
            doc["conformance"] = self.agreement
        b = self.basis()
        doc["inferred_steps"] = b["inferred steps"]
        doc["inferred_timings"] = b["inferred timings"]
        doc["default_timings"] = b["default timings"]
        return doc

    def table(self) -> pd.DataFrame:
        """One row per step: t, step, basis, evidence."""
        rows = [{"t": round(s.t, 3), "step": _describe(s), "basis": s.label(),
                 "evidence": "; ".join(e.where() for e in s.evidence) or "—"} for s in self.steps]
        return pd.DataFrame(rows, columns=["t", "step", "basis", "evidence"])

    def text(self) -> str:
        lines = [f"reconstructed schedule ({len(self.steps)} steps, edges {', '.join(self.edges) or 'none'}):"]
        for r in self.table().itertuples():
            lines.append(f"  t={r.t:>9.3f}s  {r.step:<40} [{r.basis}] {r.evidence}")
        lines += [f"  could not place: {u}" for u in self.unplaced]
        return "\n".join(lines)

    def timings_doc(self) -> dict[str, Any]:
        preset = self.preset.value if isinstance(self.preset.value, str) else "repro"
        base = timings_from({"preset": preset})
        doc: dict[str, Any] = {"preset": preset}
        for k, g in self.timings.items():
            if g.basis != "default" and abs(getattr(base, k) - g.value) > 1e-9:
                doc[k] = format_duration(g.value)
        if self.transport is not None and self.transport.basis != "default" and self.transport.value != "nats":
            doc["nats_semantics"] = str(self.transport.value)
        return doc

    def timings_obj(self) -> Timings:
        return timings_from(self.timings_doc())

    def job_file(self, stem: str, job: str, version: int) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job)[:60]
        return f"{stem}.{safe}{'' if version == 1 else f'.v{version}'}.yaml"

    def scenario_doc(self, stem: str = "incident") -> dict[str, Any]:
        """The scenario as a YAML-ready mapping (job files named ``<stem>.<job>[.vN].yaml``)."""
        steps: list[dict[str, Any]] = []
        clock = 0.0
        for s in self.steps:
            gap = round(s.t - clock, 3)
            if gap > 0:  # before a wait_for too: it then only guards (the replay keeps the logs' clock)
                steps.append({"sleep": format_duration(gap)})
            clock = max(clock, s.t)
            if s.op == "deploy":
                job, version = s.args
                steps.append({"deploy": self.job_file(stem, job, version)})
            else:
                steps.append(s.step())
            if s.op == "restart_orchestrator":  # the step itself takes its downtime
                from repro_lib.durations import parse_duration

                clock += parse_duration(s.args["downtime"])
        settle = round(self.end - clock, 3)
        if settle > 0:
            steps.append({"sleep": format_duration(settle)})
        steps.append({"snapshot": {}})
        doc: dict[str, Any] = {"name": self.name, "description": "reconstructed from logs by repro inspect --scenario",
                               "timings": self.timings_doc(), "fix": self.fix.value, "edges": list(self.edges),
                               "steps": steps}
        labels: dict[str, dict[str, str]] = {}
        for g in self.jobs.values():
            for e in g.only_on or []:
                labels.setdefault(e, {})[_selector_key(g.name)] = "selected"
        if labels:
            doc["labels"] = {e: labels[e] for e in sorted(labels, key=_natural)}
        if self.verdict:
            doc["expect"] = {"verdict": self.verdict, "classes": dict(self.classes)}
        doc["incident"] = self.incident_doc()
        return doc

    def job_doc(self, job: JobGuess, version: int) -> dict[str, Any]:
        interval = "10s"
        count = 0
        if job.type == "query":
            count = max(1, round(job.run_for)) if job.run_for else 10
            interval = "1s"
        mapping = f'root = {{"job": "{job.name}", "version": {version}}}'
        doc: dict[str, Any] = {"name": job.name, "type": job.type,
                               "description": "written by repro inspect --scenario: the job's spec is not in the "
                                              "evidence"}
        if job.only_on:
            doc["selector"] = {"match_labels": {_selector_key(job.name): "selected"}}
        doc["config"] = {"input": {"generate": {"mapping": mapping, "interval": interval, "count": count}},
                         "output": {"stdout": {"codec": "lines"}}}
        return doc


def _selector_key(job: str) -> str:
    """The label an inferred selector matches: one per job (``runs-<job>: selected``)."""
    return "runs-" + re.sub(r"[^A-Za-z0-9_.-]", "_", job)[:50]


def _describe(s: RStep) -> str:
    if s.op == "deploy":
        return f"deploy {s.args[0]} (v{s.args[1]})"
    if s.op in ("kill", "start", "partition", "heal", *_TRANSPORT):
        a = s.args
        names = a["edges"] if isinstance(a, dict) else a
        return f"{s.op} {', '.join(names)}" + (" (new identity)" if isinstance(a, dict) and a.get("new_identity")
                                               else "")
    if s.op == "join":
        return f"join {s.args}"
    if s.op == "stop_job":
        return f"stop_job {s.args}"
    if s.op == "wait_for":
        return f"wait_for {s.args['count']} nodes connected"
    return s.op + (f" {s.args}" if s.args else "")


# -- helpers ------------------------------------------------------------------------------------------
def _fields(detail: object) -> dict[str, str]:
    if not isinstance(detail, str):
        return {}
    return {k: v.strip('"') for k, v in _KV.findall(detail)}


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def _text(line: object, fallback: str) -> str:
    text = line if isinstance(line, str) and line else fallback
    first = _ANSI.sub("", text.split("\n", 1)[0]).strip()  # colours and control characters: not YAML
    return redact(first[:300])


def _ev(row: Any) -> Evidence:
    fb = f"{row.msg or row.kind} {row.detail or ''}".strip() if hasattr(row, "msg") else str(row.kind)
    return Evidence(str(row.source), float(row.t_s), _text(row.line, fb))


def safe_edge_name(name: str) -> str:
    """An edge name the scenario accepts: reserved words and odd characters are mapped."""
    from repro_lib.events import EDGE_NAME_RE as _EDGE_NAME
    from repro_lib.events import RESERVED_EDGE_NAMES as RESERVED_NAMES

    out = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-._")[:60] or "edge"
    if not out[0].isalnum():
        out = "e" + out
    if out.lower() in RESERVED_NAMES:
        out = f"edge-{out}"
    assert _EDGE_NAME.fullmatch(out)
    return out


def _parse_seconds(v: str | None) -> float | None:
    from repro_lib.durations import parse_duration

    try:
        return parse_duration(v) if v else None
    except ReproError:
        return None


# -- the reconstruction ----------------------------------------------------------------------------------
def reconstruct(events: pd.DataFrame, *, verdict: str | None = None, name: str = "incident",
                classes: dict[str, int] | None = None, stuck_jobs: Iterable[str] | None = None) -> Reconstruction:
    """The schedule ``events`` show. ``verdict`` and ``classes`` are the diagnosis' (computed when not
    given). Raises :class:`ReproError` when nothing at all can be reconstructed."""
    if events is None or events.empty or not (events["kind"] != "raw").any():
        raise ReproError("nothing could be reconstructed: the evidence has no parsed log events",
                         hint="pass the orchestrator's and the edges' logs")
    ev = events.copy()
    if "msg" not in ev.columns:
        ev["msg"] = None
    ev, sanity = one_incident(ev)
    timed = ev[ev["t_s"].notna()].sort_values("t_s", kind="stable").reset_index(drop=True)
    b = _Builder(timed, ev)
    b.notes += sanity
    rec = b.build(name)
    span = float(timed["t_s"].max() - timed["t_s"].min()) if len(timed) else 0.0
    if span > MAX_SECONDS:  # a scenario's sleep is at most a year (schema): one file over a year is no one incident
        raise ReproError(f"these logs are not one incident: their lines span {format_duration(span)}, more than a "
                         "scenario can replay (365d)",
                         hint="reconstruct one incident at a time: pass the lines of one period")
    longest = max((s.t for s in rec.steps), default=0.0)
    if longest > span + 3600.0:  # a guard: every step lies inside the evidence (+ the settle)
        raise ReproError(f"nothing could be reconstructed: a step at {format_duration(longest)} lies outside the "
                         f"evidence's own span ({format_duration(span)})",
                         hint="pass the logs of one incident (one cluster, one period)")
    if len(rec.steps) <= 1 and not rec.jobs and not rec.edges and not rec.unplaced:
        raise ReproError("nothing could be reconstructed: no node, job or fault is named in the evidence",
                         hint="pass the orchestrator's and the edges' logs (lines about nodes and jobs)")
    if verdict is None or classes is None or stuck_jobs is None:
        from repro_lib.analysis import diagnose

        v = diagnose(events).verdict
        verdict = verdict if verdict is not None else v.verdict if v is not None else None
        classes = classes if classes is not None else dict(v.classes) if v is not None else {}
        stuck_jobs = stuck_jobs if stuck_jobs is not None else sorted({s.job for s in v.stuck}) if v else []
    rec.verdict = verdict
    rec.classes = dict(classes)
    warned = ev[(ev["kind"] == "reconcile") & (ev["state"] == "stuck") & ev["job"].notna()]["job"].astype(str)

    def _plain(label: str) -> str:  # the diagnosis labels a named job "name (id)"
        m = re.fullmatch(r"(.+) \(([^()]+)\)", label)
        return m.group(1) if m and m.group(2) in rec.job_ids else rec.job_ids.get(label, label)
    rec.stuck_jobs = sorted({_plain(str(j)) for j in list(stuck_jobs) + list(warned)})
    return rec


#: place a restart's kill at the latest time the evidence allows (else the earliest)
_LATEST = True
#: a time before this (1970-01-02) is a time of day with no date: its file named none
_UNDATED_BEFORE = 86400.0
#: sources more than this far apart in time are different incidents, not one
_UNRELATED_GAP = 6 * 3600.0


def one_incident(ev: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one incident. Rows with only a time of day are placed only against dated rows of their own
    file: in a file with no dated row, beside dated files, they are set aside (said in a note). Files whose
    dated rows lie more than 6 h apart from every other file's are another incident: refused in one line."""
    notes: list[str] = []
    if "t" not in ev.columns or not len(ev):
        return ev, notes
    stamp = pd.to_datetime(ev["t"], utc=True, errors="coerce")
    ev = ev.assign(_abs=(stamp - pd.Timestamp(0, tz="UTC")).dt.total_seconds())
    t = ev["_abs"]
    dated_src = set(ev.loc[t >= _UNDATED_BEFORE, "source"].astype(str))
    undated_only = [s for s in ev.loc[t.notna() & (t < _UNDATED_BEFORE), "source"].astype(str).unique()
                    if s not in dated_src]
    if dated_src and undated_only:
        for s in sorted(undated_only):
            notes.append(f"{s}: its lines carry a time of day and no date, and no line of its own is dated: not "
                         "placed against the other files (pass --date YYYY-MM-DD to date it)")
        ev = ev[~ev["source"].astype(str).isin(undated_only)]
        t = ev["_abs"]
        if t.notna().any():  # the evidence starts at its first remaining line
            ev = ev.assign(t_s=ev["t_s"] - float(ev["t_s"].min()))
    dated = ev[t >= _UNDATED_BEFORE]
    if dated_src and len(dated):
        spans = dated.groupby(dated["source"].astype(str))["_abs"].agg(["min", "max"]).sort_values("min")
        groups: list[list[str]] = []
        end = -float("inf")
        for src, r in spans.iterrows():
            if not groups or r["min"] - end > _UNRELATED_GAP:
                groups.append([])
            groups[-1].append(str(src))
            end = max(end, float(r["max"]))
        if len(groups) > 1:
            def _when(g: list[str]) -> str:
                lo = pd.Timestamp(float(spans.loc[g, "min"].min()), unit="s", tz="UTC")
                hi = pd.Timestamp(float(spans.loc[g, "max"].max()), unit="s", tz="UTC")
                return f"{', '.join(g[:3])}{' …' if len(g) > 3 else ''} ({lo:%Y-%m-%d %H:%M} … {hi:%Y-%m-%d %H:%M} UTC)"

            raise ReproError("these logs are not one incident: " + "; ".join(_when(g) for g in groups[:3])
                             + f" are more than {_UNRELATED_GAP / 3600:g} h apart",
                             hint="reconstruct one incident at a time: pass the files of one period")
    _one_orchestrator(ev)
    return ev.drop(columns=["_abs"]), notes


def _one_orchestrator(ev: pd.DataFrame) -> None:
    """Two orchestrators' logs over the same time are two clusters: refused in one line (one incident has one
    orchestrator; a restarted one writes its logs after the first's, not beside them)."""
    from repro_lib.analysis.delivery import source_roles

    roles = source_roles(ev)
    orch = [s for s, r in roles.items() if r == "orchestrator"]
    if len(orch) < 2:
        return
    spans = ev[ev["source"].astype(str).isin(orch) & ev["t_s"].notna()].groupby(
        ev["source"].astype(str))["t_s"].agg(["min", "max"]).sort_values("min")
    for (a, ra), (b, rb) in zip(spans.iterrows(), list(spans.iterrows())[1:], strict=False):
        if rb["min"] < ra["max"]:
            raise ReproError(f"these logs are not one incident: {a} and {b} are both an orchestrator's log over the "
                             "same time (two clusters)",
                             hint="reconstruct one cluster at a time: pass one orchestrator's logs and its edges'")


class _Builder:
    def __init__(self, ev: pd.DataFrame, untimed: pd.DataFrame) -> None:
        self.ev = ev
        self.untimed = untimed  # CLI tables carry no times: read only for what they cannot place
        self.notes: list[str] = []
        self.unplaced: list[str] = []
        self.steps: list[RStep] = []
        from repro_lib.analysis.delivery import source_roles

        self.roles = source_roles(ev)
        self.exact = ev[ev["source"].isin(EXACT_SOURCES) & ev["kind"].isin(["fault", "action"])]
        self._loss: pd.Series | None = None

    # -- names ------------------------------------------------------------------------------------------
    def _names(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        ev = self.ev
        id_name: dict[str, str] = {}
        for r in ev[ev["kind"].isin(["node", "fault"]) & ev["node"].notna()].itertuples():
            f = _fields(r.detail)
            nm = f.get("name") or (f.get("target") if r.kind == "fault" else None)
            if nm and str(r.node) not in id_name:
                id_name[str(r.node)] = nm
        ids: list[str] = []
        orch_node = ev[(ev["kind"] == "node") & ev["node"].notna()]
        ids += [str(n) for n in orch_node["node"].unique()]
        execs = ev[(ev["kind"] == "state") & ev["execution"].notna() & ev["node"].notna()]
        ids += [str(n) for n in execs["node"].unique()]
        ids += [str(n) for n in self.exact.loc[self.exact["kind"] == "fault", "node"].dropna().unique()]
        from repro_lib.analysis.delivery import edge_nodes

        self.speakers = edge_nodes(ev, self.roles)
        self._edge_starts()
        ev = self.ev
        ids += [str(n) for n in self.speakers["node"]]
        if not ids:  # a log read as neither side's whose every line names one node: that node's own log
            ids += self._single_node_logs()
        first = {}
        for n in dict.fromkeys(ids):
            if n in ("orchestrator", "nats", "sim", "stack", "docker"):
                continue
            t = ev.loc[ev["node"] == n, "t_s"]
            first[n] = float(t.min()) if len(t) else 0.0
        names: dict[str, str] = {}
        identities: dict[str, list[str]] = {}
        for n in sorted(first, key=lambda k: (_natural(id_name.get(k, k)), first[k])):
            logged = id_name.get(n, n)
            safe = safe_edge_name(logged)
            if safe != logged:
                self.notes.append(f"edge {logged!r} is called {safe!r} in the scenario (a name the scenario accepts)")
            if logged == n and n not in id_name:
                self.notes.append(f"node {n} names no edge in the evidence: its id is its edge name")
            names[n] = safe
            names.setdefault(logged, safe)
            identities.setdefault(safe, []).append(n)
        self.first = first
        self._ids_of = identities
        return names, identities

    def _edge_starts(self) -> None:
        """An edge's own start banner in other words ("starting edge node", "Starting compute node", …) reads as
        the kit's ``EDGE: starting``; a banner that names no node belongs to the one node its log speaks for."""
        ev = self.ev
        msg = ev["msg"].astype(str)
        banner = msg.str.contains(_EDGE_START, case=False, regex=True) & (msg != "EDGE: starting")
        if not banner.any():
            return
        own = {}
        for src, rows in self.speakers.groupby("source"):
            nodes = list(dict.fromkeys(rows["node"].astype(str)))
            if len(nodes) == 1:
                own[str(src)] = nodes[0]
        src = ev["source"].astype(str)
        node = ev["node"].where(ev["node"].notna(), src.map(own))
        hit = banner & src.isin(list(own)) & node.notna()
        if hit.any():
            ev = ev.copy()
            ev.loc[hit, "node"] = node[hit]
            ev.loc[hit, "msg"] = "EDGE: starting"
            self.ev = ev
            self._loss = None
            self.notes.append(f"{int(hit.sum())} edge start line(s) in other words read as EDGE: starting [I]")

    def _single_node_logs(self) -> list[str]:
        ev = self.ev
        other = ev[ev["source"].map(lambda x: self.roles.get(str(x), "other") == "other").to_numpy(dtype=bool)
                   & ev["node"].notna().to_numpy(dtype=bool) & (ev["kind"] != "raw").to_numpy(dtype=bool)]
        found: list[str] = []
        for src, rows in other.groupby("source", sort=False):
            nodes = set(map(str, rows["node"]))
            if len(nodes) != 1:
                continue
            n = nodes.pop()
            found.append(n)
            self.notes.append(f"{src}: every parsed line names node {n}: read as that node's own log [I]")
            text = rows["msg"].astype(str) + " " + rows["detail"].fillna("").astype(str)
            timeouts = rows[text.str.contains(r"timeout|timed out|no responders", case=False, regex=True)]
            if len(timeouts):
                t0, t1 = timeouts["t_s"].min(), timeouts["t_s"].max()
                first = _text(timeouts["line"].iloc[0], str(timeouts["msg"].iloc[0]))[:90]
                self.unplaced.append(
                    f"node {n}'s requests failed with a timeout from t={t0:g}s to t={t1:g}s ({first}): its "
                    "orchestrator was unreachable then, but no line says when it went or came back")
        return found

    # -- timings ----------------------------------------------------------------------------------------
    def _timings(self) -> tuple[dict[str, Guess], Guess, Guess]:
        ev = self.ev
        got: dict[str, Guess] = {}
        preset = fix = None
        started = ev[ev["msg"].astype(str).str.startswith("ORCHESTRATOR: started")]
        for r in started.itertuples():
            f = _fields(r.detail)
            e = _ev(r)
            for k in ("heartbeat_interval", "disconnect_timeout", "reeval_batch_delay"):
                if k in f and k not in got and (v := _parse_seconds(f[k])) is not None:
                    got[k] = Guess(v, "logged", evidence=e)
            if "grace" in f and "restart_grace" not in got and (v := _parse_seconds(f["grace"])) is not None:
                got["restart_grace"] = Guess(v, "logged", evidence=e)
            if f.get("preset") in PRESETS and preset is None:
                preset = Guess(f["preset"], "logged", evidence=e)  # type: ignore[arg-type]
            if "fix" in f and fix is None:
                fix = Guess(f["fix"].replace("+", ",") or "none", "logged", evidence=e)  # type: ignore[arg-type]
        hb = ev[ev["msg"].astype(str).str.contains("heartbeat", case=False) & ev["node"].notna()
                & ~ev["kind"].isin(["fault", "action"])]
        if "heartbeat_interval" not in got and len(hb) >= 3:
            gaps = hb.groupby([hb["source"].astype(str), hb["node"].astype(str)])["t_s"].diff().dropna()
            gaps = gaps[gaps > 0.05]
            if len(gaps) >= 2:
                got["heartbeat_interval"] = Guess(round(float(gaps.median()), 1), "inferred",
                                                  "median spacing of heartbeat lines", _ev(hb.iloc[0]))
        for k, d in self._edge_delays().items():
            got.setdefault(k, d)
        reg = self._register_delay()
        if reg is not None:
            got.setdefault("transport_register_delay", reg)
        if "reeval_batch_delay" not in got:
            d = self._batch_delay()
            if d is not None:
                got["reeval_batch_delay"] = d
        if preset is None and "reeval_batch_delay" in got:
            delay = got["reeval_batch_delay"].value
            hit = [p for p in ("fast", "replay") if abs(PRESETS[p].get("reeval_batch_delay", 15.0) - delay) < 0.15]
            if hit:
                preset = Guess(hit[0], "inferred", f"a node-join batch delay of {delay:g}s is preset {hit[0]}'s "
                                                   "(only it has that delay)")  # type: ignore[arg-type]
            elif abs(delay - 15.0) < 0.5:
                connecting = ((ev["kind"] == "node") & (ev["state"] == "connecting")
                              & (ev["msg"] == "NODE: state changed")).any()
                p = "docs" if connecting else "repro"
                preset = Guess(p, "inferred", "batch delay 15s; " + (  # type: ignore[arg-type]
                    "nodes pass through connecting (connected_after): docs" if connecting
                    else "no connecting stage: repro"))
        if preset is None:
            preset = Guess("repro", "default", "no line names the timings")  # type: ignore[arg-type]
        base = timings_from({"preset": str(preset.value)})
        if "disconnect_timeout" not in got and "heartbeat_interval" in got:
            d = self._timeout_from_heartbeats(hb)
            if d is not None:
                got["disconnect_timeout"] = d
        out: dict[str, Guess] = {}
        for k in ("heartbeat_interval", "disconnect_timeout", "reeval_batch_delay", "restart_grace",
                  "connected_after", "lost_timeout", "edge_boot_delay", "execution_start_delay",
                  "edge_reconnect_interval", "transport_register_delay"):
            out[k] = got.get(k) or Guess(float(getattr(base, k)), "default", f"preset {preset.value}")
        if fix is None:
            fix = self._fix_from_marks()
        if fix is None:
            redispatch = ((ev["kind"] == "dispatch") & (ev["state"] == "redispatch")).any()
            fix = Guess("none", "default", "no line names a fix" + (
                "; the logs show re-dispatches, so some fix was on: try --set fix=…" if redispatch else ""))  # type: ignore[arg-type]
            if redispatch:
                self.unplaced.append("which fix was on: the logs show re-dispatches but no line names the fix")
        return out, preset, fix

    def _fix_from_marks(self) -> Guess | None:
        """The fix whose own lines the logs carry (no line names it): A's retries under RetryStrategyBlock,
        B's and E's re-dispatch reasons, C's data planes, D's assignment requests [I: the kit's own lines;
        a build of upstream's design C logs 'Data plane started' and 'publisher reset' the same way]."""
        ev = self.ev
        msg = ev["msg"].astype(str)
        detail = ev["detail"].astype(str)
        marks = [("block", msg.str.contains("Failed to send execution assignment - retrying", regex=False)),
                 ("redispatch-on-join", msg.str.contains("Re-dispatching pending execution", regex=False)
                  & detail.str.contains("reason=node-join", regex=False)),
                 ("sequence-replay", msg.isin(["Data plane started", "publisher reset - clearing pending messages"])),
                 ("edge-reconcile", msg == "API: assignments requested"),
                 ("pending-timeout", msg.str.contains("Re-dispatching pending execution", regex=False)
                  & detail.str.contains("reason=pending-timeout", regex=False))]
        found = [(name, ev[m].iloc[0]) for name, m in marks if bool(m.any())]
        if not found:
            return None
        names = [n for n, _ in found]
        first = found[0][1]
        return Guess(",".join(names), "inferred", "the logs carry its own lines: " + ", ".join(
            f"{n} ({_text(r.msg, str(r.msg))[:60]})" for n, r in found), _ev(first))  # type: ignore[arg-type]

    def _edge_delays(self) -> dict[str, Guess]:
        """edge_boot_delay: an ``EDGE: starting`` line to its node's next handshake; execution_start_delay:
        a received run request to that execution's ``running`` on the edge — the shortest seen (the rest
        is jitter), to 0.1 s."""
        ev = self.ev
        out: dict[str, Guess] = {}
        msg = ev["msg"].astype(str)
        pairs = [("edge_boot_delay", ev[msg == "EDGE: starting"], "node",
                  ev[(ev["kind"] == "node") & (ev["state"] == "handshake")],
                  "an edge's EDGE: starting line to its next handshake (the shortest)"),
                 ("execution_start_delay", ev[msg == "EDGE: Received RunExecutionRequest"], "execution",
                  ev[(msg == "EDGE: execution state") & (ev["state"] == "running")],
                  "a received RunExecutionRequest to that execution running on the edge (the shortest)")]
        for name, first, key, then, rule in pairs:
            gaps = []
            for r in first.itertuples():
                nxt = then[(then[key] == getattr(r, key)) & (then["t_s"] >= r.t_s)]
                if len(nxt):
                    gaps.append(float(nxt["t_s"].iloc[0]) - float(r.t_s))
            if gaps:
                out[name] = Guess(max(0.1, round(min(gaps), 1)), "inferred", rule, _ev(first.iloc[0]))
        return out

    def _register_delay(self) -> Guess | None:
        """transport_register_delay: a publish refused (node not connected in the transport) after the node's
        handshake, while the orchestrator held it connected, shows the delay is longer than that gap; a
        publish accepted after a handshake shows it is no longer than that gap. The middle of the two, or
        the longest refused gap + 1 s when nothing bounds it above [I]."""
        ev = self.ev
        hs = ev[(ev["kind"] == "node") & (ev["state"] == "handshake") & ev["node"].notna()]
        if hs.empty:
            return None
        pub = ev[(ev["kind"] == "publish") & ev["state"].isin(["refused", "published"]) & ev["node"].notna()]
        pub = pub.drop_duplicates(["node", "execution", "t_s", "state"])
        down = ev[(ev["kind"] == "node") & ev["state"].isin(["disconnected", "lost"]) & ev["node"].notna()]
        lo: tuple[float, Any] | None = None
        hi: tuple[float, Any] | None = None
        for node, rows in pub.groupby("node", sort=False):
            h = hs.loc[hs["node"] == node, "t_s"].to_numpy()
            d = down.loc[down["node"] == node, "t_s"].to_numpy()
            for r in rows.itertuples():
                before = h[h <= r.t_s + 1e-9]
                if not len(before) or ((d > before.max()) & (d <= r.t_s)).any():
                    continue  # no handshake yet, or the node was disconnected since: not the transport's delay
                gap = float(r.t_s - before.max())
                if r.state == "refused" and (lo is None or gap > lo[0]):
                    lo = (gap, r)
                elif r.state == "published" and (hi is None or gap < hi[0]):
                    hi = (gap, r)
        if lo is None:
            return None
        if hi is not None and hi[0] <= lo[0]:
            self.notes.append(f"transport_register_delay: a publish was refused {lo[0]:.3f}s after a handshake and "
                              f"one accepted {hi[0]:.3f}s after another: no single delay fits; not inferred")
            return None
        if hi is not None:
            value = round((lo[0] + hi[0]) / 2, 1)
            rule = (f"a publish refused {lo[0]:.3f}s after its node's handshake and one accepted {hi[0]:.3f}s after "
                    f"one: the middle of ({lo[0]:.3f}s, {hi[0]:.3f}s]")
        else:
            value = round(lo[0] + 1.0, 1)
            rule = (f"a publish refused {lo[0]:.3f}s after its node's handshake, none accepted after one: that gap "
                    "+ 1s (nothing bounds it above)")
        return Guess(max(value, 0.1), "inferred", rule, _ev(lo[1]))

    def _batch_delay(self) -> Guess | None:
        ev = self.ev
        q = ev[(ev["kind"] == "eval") & (ev["state"] == "queued") & ev["job"].isna()]
        bt = ev[(ev["kind"] == "eval") & (ev["state"] == "batch")]
        if q.empty or bt.empty:
            return None
        qt = q["t_s"].to_numpy()
        delays = []
        for t in bt["t_s"]:
            before = qt[qt <= t]
            if len(before):
                delays.append(t - before.max())
        if not delays:
            return None
        d = round(float(pd.Series(delays).median()), 1)
        return Guess(d, "inferred", "node-join batch start minus the last node event queued before it (debounce)",
                     _ev(bt.iloc[0])) if d > 0 else None

    def _timeout_from_heartbeats(self, hb: pd.DataFrame) -> Guess | None:
        ev = self.ev
        dis = ev[(ev["kind"] == "node") & (ev["state"] == "disconnected") & ev["node"].notna()]
        vals = []
        for r in dis.itertuples():
            before = hb[(hb["node"] == r.node) & (hb["t_s"] < r.t_s)]
            if len(before):
                vals.append(r.t_s - float(before["t_s"].max()))
        if not vals:
            return None
        return Guess(round(min(vals)), "inferred", "disconnect time minus the node's last heartbeat line",
                     _ev(dis.iloc[0]))

    # -- node lifecycle -----------------------------------------------------------------------------------
    def _alive(self, node: str) -> pd.DataFrame:
        ev = self.ev
        own = self.speakers.loc[self.speakers["node"] == node, "source"].tolist()
        is_node = ev["node"] == node
        orch = is_node & (((ev["kind"] == "node") & ev["state"].isin(["handshake", "connected", "connecting"])
                           & ~ev["source"].isin(own))
                          | ((ev["kind"] == "state") & ev["execution"].notna() & ev["state"].isin(_ALIVE_EXEC))
                          | ((ev["kind"] == "deliver") & (ev["state"] == "delivered")))
        # the edge's own lines that name it (a start banner's "NATS: connected" names no node: not counted);
        # an edge saying it lost its connection is the start of a fault, not a sign of life
        loss = self._loss_lines()
        mine = ev["source"].isin(own) & is_node & (ev["kind"] != "raw") \
            & ~ev["msg"].isin(list(_TEARDOWN)) & ~loss
        hb = is_node & ev["msg"].astype(str).str.contains("heartbeat", case=False) & ~loss
        return ev[orch | mine | hb | (is_node & self._not_stuck_dispatch())]

    def _not_stuck_dispatch(self) -> pd.Series:
        """A run request of a job no later reconciler warning calls stuck reached its node [I]: once the logs
        hold such warnings, a job they leave out had nothing pending. Only where no NATS or edge line says what
        arrived (seed-style orchestrator logs)."""
        ev = self.ev
        warn = ev[(ev["kind"] == "reconcile") & (ev["state"] == "stuck") & ev["job"].notna()]
        if warn.empty or (ev["kind"] == "deliver").any():  # NATS or edge lines say what arrived: they decide
            return pd.Series(False, index=ev.index)
        stuck = set(warn["job"].astype(str))
        last = float(warn["t_s"].max())
        return ((ev["kind"] == "dispatch") & ev["job"].notna() & ~ev["job"].astype(str).isin(stuck)
                & (ev["t_s"] < last))

    def _loss_lines(self) -> pd.Series:
        """Lines that report a lost connection, a failure or a warning: never a sign of life."""
        if self._loss is None:
            ev = self.ev
            text = ev["msg"].astype(str)
            self._loss = text.str.contains(_LOSS, case=False, regex=True)
            if "level" in ev.columns:
                self._loss |= ev["level"].astype(str).str.upper().isin(["ERROR", "WARN", "WARNING", "ERR", "WRN"])
        return self._loss

    def _lifecycle(self, names: dict[str, str], identities: dict[str, list[str]], t: dict[str, Guess],
                   first_step: float) -> list[str]:
        """Steps for the edges; returns the edges that ``up`` starts."""
        ev = self.ev
        hb, timeout = t["heartbeat_interval"].value, t["disconnect_timeout"].value
        check = min(30.0, max(1.0, timeout / 3))
        boot = t["edge_boot_delay"].value
        up_edges: list[str] = []
        msg = ev["msg"].astype(str)
        for edge, ids in identities.items():
            for k, node in enumerate(ids):
                mine = ev["node"] == node
                starts = ev[mine & (msg == "EDGE: starting")]
                hs = ev[mine & (ev["kind"] == "node") & (ev["state"] == "handshake")]
                if hs.empty:  # logs that say only "node connected": each such line is its (re)connection
                    hs = ev[mine & (ev["kind"] == "node") & (ev["state"] == "connected")]
                if len(starts):
                    s0, s0_ev, basis, rule = float(starts["t_s"].iloc[0]), _ev(starts.iloc[0]), "logged", ""
                elif len(hs):
                    s0 = max(0.0, float(hs["t_s"].iloc[0]) - boot)
                    s0_ev, basis, rule = _ev(hs.iloc[0]), "inferred", f"first handshake minus edge_boot_delay {boot:g}s"
                else:
                    s0, s0_ev, basis, rule = self.first.get(node, 0.0), None, "inferred", "first line naming the node"
                ev0 = [s0_ev] if s0_ev else []
                if k == 0:
                    if s0 <= first_step + 1e-9:
                        up_edges.append(edge)
                    else:
                        self.steps.append(RStep(s0, "join", edge, basis, rule, ev0))
                else:
                    prev = ids[k - 1]
                    if not self._is_down(edge, s0):  # a disconnect already placed its kill
                        self._down(edge, prev, s0, hb, timeout, check, ret=s0, reason="replaced by a new identity")
                    self.steps.append(RStep(s0, "start", {"edges": [edge], "new_identity": True}, basis,
                                            rule or "a new node id under the same name", ev0))
                # restarts of the same identity (a disconnect logged in between bounds the kill like any other)
                dis = ev[mine & (ev["kind"] == "node") & ev["state"].isin(["disconnected", "lost"])
                         & ~ev["source"].isin(self.speakers["source"].tolist())]
                prev_t = float(starts["t_s"].iloc[0]) if len(starts) else -1.0
                for r in starts.iloc[1:].itertuples():
                    gone = dis[(dis["t_s"] > prev_t) & (dis["t_s"] <= r.t_s)]
                    if len(gone):
                        d = float(gone["t_s"].iloc[0])
                        self._down(edge, node, d, hb, timeout, check, ret=float(r.t_s), reason="restarted",
                                   lo_bound=d - timeout - check, evidence=[_ev(gone.iloc[0])])
                    else:
                        self._down(edge, node, float(r.t_s), hb, timeout, check, ret=float(r.t_s), reason="restarted")
                    self.steps.append(RStep(float(r.t_s), "start", [edge], "logged", "", [_ev(r)]))
                    prev_t = float(r.t_s)
                # disconnects: a return without a logged start is a partition (edge log present) or kill/start
                self._disconnects(edge, node, starts, hs, hb, timeout, check, boot, last=(k == len(ids) - 1))
                self._silent_returns(edge, node, starts, hs, hb, timeout, check, boot)
                self._unexplained_drops(edge, node, hb, timeout, check)
        return up_edges

    def _disconnects(self, edge: str, node: str, starts: pd.DataFrame, hs: pd.DataFrame, hb: float,
                     timeout: float, check: float, boot: float, last: bool) -> None:
        ev = self.ev
        dis = ev[(ev["node"] == node) & (ev["kind"] == "node") & ev["state"].isin(["disconnected", "lost"])
                 & ~ev["source"].isin(self.speakers["source"].tolist())]
        has_log = bool((self.speakers["node"] == node).any())
        start_times = starts["t_s"].to_numpy()
        done_until = -1.0
        for r in dis.itertuples():
            d = float(r.t_s)
            if d <= done_until:
                continue
            later_hs = hs[hs["t_s"] > d]
            ret = float(later_hs["t_s"].iloc[0]) if len(later_hs) else None
            if ret is not None and ((start_times > d) & (start_times <= ret)).any():
                done_until = ret
                continue  # a logged restart covers it (placed above)
            if any(s.op in ("kill", "partition") and edge in _edges_of(s) and s.t <= d for s in self.steps
                   if s.t > d - timeout - check - hb) or self._is_down(edge, d):
                continue
            if not last and bool(((ev["node"] != node) & (ev["msg"].astype(str) == "EDGE: starting")
                                  & ev["node"].isin(self._ids_of.get(edge, [])) & (ev["t_s"] <= d)).any()):
                continue  # the old identity's disconnect, after its successor started: nothing happened to the edge
            t_lo = d - timeout - check
            talks_after = self._lived_past(node, d)
            op = "partition" if has_log and (ret is not None or talks_after) else "kill"
            rule_op = ("the edge's log goes on with no restart: its process lived, the orchestrator stopped hearing it"
                       if op == "partition" else "its log stops: a dead process" if has_log else
                       "no edge log to tell a dead process from a cut network: kill chosen")
            self._down(edge, node, d, hb, timeout, check, ret=ret, reason=rule_op, op=op, lo_bound=t_lo,
                       evidence=[_ev(r)])
            if ret is None:
                if not last:
                    done_until = d
                continue
            hs_row = later_hs.iloc[0]
            if op == "partition":
                th = max(d, ret - hb)
                self.steps.append(RStep(th, "heal", [edge], "inferred",
                                        f"re-handshake at {ret:.3f}s minus one heartbeat interval ({hb:g}s: the edge "
                                        "re-handshakes at its next heartbeat or reconnect), not before the disconnect",
                                        [_ev(hs_row)], window=(round(d, 3), round(ret, 3))))
            else:
                self.steps.append(RStep(max(d, ret - boot), "start", [edge], "inferred",
                                        f"re-handshake minus edge_boot_delay {boot:g}s", [_ev(hs_row)],
                                        window=(round(d, 3), round(ret, 3))))
            done_until = ret

    def _lived_past(self, node: str, d: float) -> bool:
        """Whether the process behind ``node``'s own log wrote a line after ``d`` (before its log's next
        ``EDGE: starting``, which is a new process, possibly under a new identity)."""
        ev = self.ev
        own = self.speakers.loc[self.speakers["node"] == node, "source"].tolist()
        mine = ev["source"].isin(own)
        nxt = ev[mine & (ev["msg"].astype(str) == "EDGE: starting") & (ev["t_s"] > d)]
        until = float(nxt["t_s"].min()) if len(nxt) else float("inf")
        return bool(((ev["t_s"] > d) & (ev["t_s"] < until) & mine & (ev["kind"] != "raw")
                     & ~ev["msg"].isin(list(_TEARDOWN))).any())

    def _is_down(self, edge: str, at: float) -> bool:
        """Whether the steps placed so far leave ``edge`` killed or partitioned at ``at``."""
        last = None
        for s in sorted((s for s in self.steps if edge in _edges_of(s) and s.t <= at + 1e-9), key=lambda s: s.t):
            last = s.op
        return last in ("kill", "partition")

    def _silent_returns(self, edge: str, node: str, starts: pd.DataFrame, hs: pd.DataFrame, hb: float,
                        timeout: float, check: float, boot: float) -> None:
        """A re-handshake with no disconnect and no start before it: the edge was cut off, or down, for less
        than ``disconnect_timeout`` [I]. With its own log going on it was a partition, else kill + start."""
        ev = self.ev
        dis = ev[(ev["node"] == node) & (ev["kind"] == "node") & ev["state"].isin(["disconnected", "lost"])]
        times = hs["t_s"].to_numpy()
        for i in range(1, len(times)):
            t0, ret = float(times[i - 1]), float(times[i])
            if ((dis["t_s"] > t0) & (dis["t_s"] <= ret)).any() or \
                    ((starts["t_s"] > t0) & (starts["t_s"] <= ret)).any():
                continue
            if any(s.op in ("kill", "partition", "restart_orchestrator", "start", "heal") and s.t > t0 - 1e-9
                   and s.t <= ret + 1e-9 and (edge in _edges_of(s) or s.op == "restart_orchestrator")
                   for s in self.steps):
                continue
            has_log = bool((self.speakers["node"] == node).any())
            op = "partition" if has_log else "kill"
            rule = ("back without a restart or a disconnect, its own log going on: the orchestrator stopped hearing "
                    "it for less than disconnect_timeout" if op == "partition" else
                    "back without a disconnect and no edge log to tell a dead process from a cut network: kill chosen")
            self._down(edge, node, ret, hb, timeout, check, ret=ret, reason=rule, op=op, evidence=[_ev(hs.iloc[i])])
            t0 = max(t0, self.steps[-1].t + 0.001)  # back after it went
            if op == "partition":
                self.steps.append(RStep(max(ret - hb, t0), "heal", [edge], "inferred",
                                        f"re-handshake at {ret:.3f}s minus one heartbeat interval ({hb:g}s)",
                                        [_ev(hs.iloc[i])], window=(max(ret - hb, t0), ret)))
            else:
                self.steps.append(RStep(max(t0, ret - boot), "start", [edge], "inferred",
                                        f"re-handshake minus edge_boot_delay {boot:g}s", [_ev(hs.iloc[i])],
                                        window=(t0, ret)))

    def _transport_closes(self, names: dict[str, str]) -> None:
        """A connection closed by NATS, as its log says (the server's stale or slow-consumer close, a client's
        reconnect): a step at that time. When a cut's ping rule closed it, replaying the close changes nothing."""
        ev = self.ev
        closes = ev[(ev["kind"] == "fault") & ev["state"].isin(list(_TRANSPORT)) & ev["node"].notna()
                    & ~ev["source"].isin(list(EXACT_SOURCES))]
        for r in closes.itertuples():
            edge = names.get(str(r.node))
            if edge is None:
                continue
            self.steps.append(RStep(float(r.t_s), str(r.state), [edge], "logged",
                                    "NATS logged the close", [_ev(r)]))

    def _closed_just_before(self, edge: str, at: float) -> bool:
        """A transport close of ``edge`` shortly before ``at``: its client is still reconnecting (nats.go sleeps
        ReconnectWait, 2 s + jitter, then connects; into a cut, each attempt fails after 2 s)."""
        return any(s.op in _TRANSPORT and edge in _edges_of(s) and s.t - 1e-6 <= at <= s.t + 5.0 for s in self.steps)

    def _unexplained_drops(self, edge: str, node: str, hb: float, timeout: float, check: float) -> None:
        """A message NATS dropped for ``node`` while no placed step has the edge down: it was cut off (the
        drop says partitioned, or its own log goes on) or dead, since its last sign of life [I]. It comes
        back at its next sign of life; with none, the evidence does not show it return."""
        ev = self.ev
        # a message NATS held for it says it was cut off then, as a drop does
        drops = ev[(ev["node"] == node) & (ev["kind"] == "deliver") & ev["state"].isin(["lost", "dropped", "held"])]
        hs = ev[ev["node"].isin(self._ids_of.get(edge, [node])) & (ev["kind"] == "node")
                & ev["state"].isin(["handshake", "connected"])]["t_s"].to_numpy()
        for r in drops.itertuples():
            d = float(r.t_s)
            if self._is_down(edge, d) or any(s.op == "restart_orchestrator" and s.t <= d <= s.t + 60
                                             for s in self.steps) or self._closed_just_before(edge, d):
                continue
            starts = [s.t for s in self.steps if s.op in ("start", "join") and edge in _edges_of(s) and s.t <= d]
            if starts and not ((hs > max(starts)) & (hs <= d)).any():
                continue  # started, not yet subscribed: its boot explains the drop
            said_partition = "partition" in str(r.msg).lower()
            op = "partition" if said_partition or self._lived_past(node, d) else "kill"
            self._down(edge, node, d + 1e-6, hb, timeout, check, ret=None, op=op, evidence=[_ev(r)],
                       reason=("NATS dropped a message to it as partitioned" if said_partition else
                               "NATS dropped a message to it and its own log goes on" if op == "partition" else
                               "NATS had no subscriber for it"))
            alive = self._alive(node)
            back = alive[alive["t_s"] > d]
            ids = self._ids_of.get(edge, [node])
            later = ev[ev["node"].isin(ids) & (ev["t_s"] > d) & ((ev["msg"].astype(str) == "EDGE: starting") | (
                (ev["node"] != node) & (ev["kind"] == "node") & (ev["state"] == "handshake")))]
            if len(later) and (not len(back) or float(later["t_s"].iloc[0]) <= float(back["t_s"].iloc[0])):
                continue  # a later start (or a new identity) brings it back: placed with that start
            if len(back):
                b = float(back["t_s"].iloc[0])
                self.steps.append(RStep(max(d, b - 0.001), "heal" if op == "partition" else "start", [edge],
                                        "inferred", "just before its next sign of life", [_ev(back.iloc[0])],
                                        window=(round(d, 3), round(b, 3))))
            else:  # back just after the last drop of this run: nothing after it shows the edge still cut off
                last = float(drops.loc[drops["t_s"] >= d, "t_s"].max())
                self.steps.append(RStep(last + 0.001, "heal" if op == "partition" else "start", [edge], "inferred",
                                        "nothing after its last dropped message shows it still cut off: back just "
                                        "after it [I]", [_ev(r)],
                                        window=(round(last, 3), round(float(self.ev["t_s"].max()), 3))))

    def _down(self, edge: str, node: str, before: float, hb: float, timeout: float, check: float, *,
              ret: float | None, reason: str, op: str = "kill", lo_bound: float | None = None,
              evidence: list[Evidence] | None = None) -> None:
        """Place the kill (or partition) of ``node`` before ``before``: logged when a line says it,
        else the earliest time consistent with the evidence (docs/incident-to-scenario.md)."""
        ev = self.ev
        alive = self._alive(node)
        alive = alive[alive["t_s"] < before - 1e-9]
        lo = float(alive["t_s"].max()) if len(alive) else self.first.get(node, 0.0)
        # a logged graceful stop of the edge
        stop = ev[(ev["node"] == node) & (ev["msg"] == "EDGE: shutting down") & (ev["t_s"] >= lo - 1e-9)
                  & (ev["t_s"] <= before)]
        if len(stop):
            self.steps.append(RStep(float(stop["t_s"].iloc[0]), op, [edge], "logged", "", [_ev(stop.iloc[0])]))
            return
        dead = ev[(ev["node"] == node) & (ev["kind"] == "deliver") & ev["state"].isin(["lost", "dropped"])
                  & (ev["t_s"] > lo) & (ev["t_s"] <= before)]
        own = self.speakers.loc[self.speakers["node"] == node, "source"].tolist()
        noticed = ev[self._loss_lines() & ev["source"].isin(own) & (ev["node"] == node) & (ev["t_s"] > lo)
                     & (ev["t_s"] <= before)]
        # a dropped message was published a NATS hop (1 ms in the model) before its drop line
        hi = min([before] + ([float(dead["t_s"].iloc[0]) - 0.002] if len(dead) else [])
                 + ([float(noticed["t_s"].iloc[0])] if len(noticed) else []))
        why = [f"after its last sign of life at {lo:.3f}s"]
        if lo_bound is not None and lo_bound > lo:
            lo = lo_bound
            why = [f"disconnected at {before:.3f}s: its last heartbeat was at most disconnect_timeout "
                   f"{timeout:g}s + health check {check:g}s earlier"]
        if lo_bound is None and ret is not None:
            # no disconnect logged before it came back: it was down for less than the timeout
            no_dc = ret - timeout + hb  # late enough that no heartbeat phase gives a disconnect before ret
            if no_dc > hi:  # the evidence says earlier: the health check's phase let it be back in time
                no_dc = ret - timeout - check
            if no_dc > lo:
                lo = no_dc
                why = [f"back at {ret:.3f}s with no disconnect logged: down for less than disconnect_timeout "
                       "(+ a health-check period when the evidence needs it)"]
        if len(dead):
            why.append(f"before NATS dropped a message to it at {float(dead['t_s'].iloc[0]):.3f}s")
        if len(noticed):
            why.append(f"before its own log said it lost the connection at {float(noticed['t_s'].iloc[0]):.3f}s")
        # a restart with no disconnect logged: the process died just before the evidence shows it gone (its
        # restart, or the first message lost to it); else the earliest time the evidence allows [I]
        late = _LATEST and reason == "restarted" and lo_bound is None
        if late:  # before any deploy in the window too: the message a deploy sends must find it gone
            deploys = [s.t for s in self.steps if s.op in ("deploy", "stop_job") and lo < s.t <= hi]
            t = max(lo + 0.001, min([hi, *deploys]) - 0.001)
        else:
            t = lo + 0.001
        if t > hi:
            self.notes.append(f"{op} of {edge}: the evidence gives an empty window ({lo:.3f}s … {hi:.3f}s); "
                              f"placed at {hi:.3f}s")
            t = hi
        evs = list(evidence or [])
        if len(alive):
            evs.insert(0, _ev(alive.iloc[-1]))
        if len(dead):
            evs.append(_ev(dead.iloc[0]))
        if len(noticed):
            evs.append(_ev(noticed.iloc[0]))
        self.steps.append(RStep(round(t, 3), op, [edge], "inferred",
                                f"{reason}; {'latest' if late else 'earliest'} time consistent: " + ", ".join(why)
                                + f" (window ends {hi:.3f}s)",
                                evs, window=(round(min(lo, hi), 3), round(hi, 3))))

    # -- exact rows (the kit's own FAULT/ACTION lines) ----------------------------------------------------------
    def _exact_faults(self, names: dict[str, str]) -> tuple[list[str], set[str]]:
        """Fault rows as steps; returns (edges started by ``up``, edges these rows cover)."""
        covered: set[str] = set()
        up: list[str] = []
        fx = self.exact[self.exact["kind"] == "fault"]
        for r in fx.itertuples():
            f = _fields(r.detail)
            target = f.get("target") or ""
            state = str(r.state)
            if target == "orchestrator" or state == "restart":
                down = _parse_seconds(f.get("downtime")) or 5.0
                self.steps.append(RStep(float(r.t_s), "restart_orchestrator", {"downtime": format_duration(down)},
                                        "logged", "", [_ev(r)]))
                continue
            edge = names.get(str(r.node)) or names.get(target) or safe_edge_name(target or str(r.node))
            covered.add(edge)
            if state == "start" and edge not in up and not any(edge in _edges_of(s) for s in self.steps):
                if r.t_s <= self._first_step + 1e-9:
                    up.append(edge)
                else:  # its first start, well after the stack's: it joins then
                    self.steps.append(RStep(float(r.t_s), "join", edge, "logged", "", [_ev(r)]))
                continue
            if state == "start":
                args: Any = {"edges": [edge], "new_identity": True} if f.get("new_identity") == "true" else [edge]
            elif state == "join":
                self.steps.append(RStep(float(r.t_s), "join", edge, "logged", "", [_ev(r)]))
                continue
            elif state in ("kill", "partition", "heal", *_TRANSPORT):
                args = [edge]
            else:
                continue
            self.steps.append(RStep(float(r.t_s), state, args, "logged", "", [_ev(r)]))
        return up, covered

    # -- jobs ------------------------------------------------------------------------------------------
    def _jobs(self) -> dict[str, JobGuess]:
        ev = self.ev
        jobs: dict[str, JobGuess] = {}
        jl = ev[(ev["kind"] == "state") & ev["job"].notna() & ev["execution"].isna()]
        acts = self.exact[(self.exact["kind"] == "action") & self.exact["state"].isin(["deploy", "stop_job"])]
        seen: set[tuple[str, int]] = set()
        for r in jl.itertuples():
            f = _fields(r.detail)
            job = str(r.job)
            v = int(f["version"]) if str(f.get("version", "")).isdigit() else 1
            g = jobs.get(job)
            if g is None:
                typ = f.get("type")
                g = jobs[job] = JobGuess(job, typ if typ in ("pipeline", "query") else "pipeline",
                                         "logged" if typ in ("pipeline", "query") else "inferred")
            if (job, v) not in seen:
                seen.add((job, v))
                if v not in g.versions:
                    g.versions.append(v)
                act = acts[(acts["job"] == job) & (acts["state"] == "deploy") & (acts["t_s"] <= r.t_s + 1e-6)]
                act = act[act["t_s"] > max([s.t for s in self.steps if s.op == "deploy" and s.args[0] == job],
                                           default=-1.0)]
                if len(act):
                    self.steps.append(RStep(float(act["t_s"].iloc[-1]), "deploy", (job, v), "logged", "",
                                            [_ev(act.iloc[-1]), _ev(r)]))
                else:
                    self.steps.append(RStep(float(r.t_s), "deploy", (job, v), "logged", "",
                                            [_ev(r)]) if v == 1 or str(r.state) == "pending" else
                                      RStep(float(r.t_s), "deploy", (job, v), "inferred",
                                            f"first line of version {v}: an update", [_ev(r)]))
            if str(r.state) == "stopped" and not any(s.op == "stop_job" and s.args == job for s in self.steps):
                act = acts[(acts["job"] == job) & (acts["state"] == "stop_job") & (acts["t_s"] <= r.t_s + 1e-6)]
                first = ev[(ev["job"] == job) & (ev["kind"] == "state") & (ev["t_s"] <= r.t_s)
                           & ev["detail"].astype(str).str.contains("desired=stopped")]
                if len(act):
                    self.steps.append(RStep(float(act["t_s"].iloc[-1]), "stop_job", job, "logged", "",
                                            [_ev(act.iloc[-1]), _ev(r)]))
                else:
                    t0 = float(first["t_s"].min()) if len(first) else float(r.t_s)
                    t0 = t0 if t0 > r.t_s - 1.0 else float(r.t_s)
                    self.steps.append(RStep(t0, "stop_job", job, "logged", "", [_ev(r)]))
        # jobs only named by executions or evaluations: the deploy is before their first line
        other = ev[ev["job"].notna() & ~ev["job"].isin(list(jobs)) & ev["kind"].isin(["state", "eval", "dispatch"])]
        for job, rows in other.groupby("job", sort=False):
            first = rows.iloc[0]
            jobs[str(job)] = JobGuess(str(job), "pipeline", "inferred")
            self.steps.append(RStep(float(first["t_s"]), "deploy", (str(job), 1), "inferred",
                                    "no job line: deployed at the first line naming it", [_ev(first)]))
        for g in jobs.values():
            if g.type == "query":
                ex = ev[(ev["job"] == g.name) & (ev["kind"] == "state") & ev["execution"].notna()]
                run = ex[ex["state"].isin(["running", "Running"])]
                done = ex[ex["state"].isin(["completed", "Completed"])]
                if len(run) and len(done):
                    g.run_for = max(1.0, float(done["t_s"].min() - run["t_s"].min()))
        return jobs

    def _restarts(self) -> None:
        ev = self.ev
        msg = ev["msg"].astype(str)
        started = ev[msg.str.startswith("ORCHESTRATOR: started")]
        orch_src = [s for s, r in self.roles.items() if r == "orchestrator"]
        for r in started.itertuples():
            f = _fields(r.detail)
            if f.get("restart", "").lower() != "true" and not (
                    len(ev[ev["source"].isin(orch_src) & (ev["t_s"] < r.t_s)]) and r.t_s > 5.0):
                continue
            before = ev[ev["source"].isin(orch_src) & (ev["t_s"] < r.t_s - 1e-9)]
            stop = before[before["msg"] == "ORCHESTRATOR: shutting down"]
            if len(stop):
                t0, basis, rule, e = float(stop["t_s"].iloc[-1]), "logged", "", [_ev(stop.iloc[-1]), _ev(r)]
            else:  # it was alive at its last line: down just after it
                t0 = float(before["t_s"].max()) + 0.001 if len(before) else max(0.0, r.t_s - 5.0)
                basis, rule = "inferred", "just after the orchestrator's last line before it started again"
                e = ([_ev(before.iloc[-1])] if len(before) else []) + [_ev(r)]
            down = max(0.001, float(r.t_s) - t0)
            self.steps.append(RStep(t0, "restart_orchestrator", {"downtime": format_duration(round(down, 3))},
                                    basis, rule, e))

    # -- the whole -------------------------------------------------------------------------------------------
    def build(self, name: str) -> Reconstruction:
        ev = self.ev
        names, identities = self._names()
        timings, preset, fix = self._timings()
        self._t = timings
        jobs = self._jobs()
        job_steps = [s.t for s in self.steps]
        # `up` starts the edges that start with the stack (within the slack of a boot); an edge that starts
        # later — a slow container, an edge added by hand — joins when the logs show it start
        slack = max(2.0, 2 * timings["edge_boot_delay"].value)
        self._first_step = min(job_steps + [slack])
        if not self.exact.empty and (self.exact["kind"] == "fault").any():
            up_edges, covered = self._exact_faults(names)
            self.notes.append("faults from the capture's own FAULT lines (" +
                              ", ".join(sorted(set(self.exact["source"]))) + "): exact")
            rest = {e: ids for e, ids in identities.items() if e not in covered}
            up_edges += self._lifecycle(names, rest, timings, self._first_step)
        else:
            self._restarts()
            self._transport_closes(names)
            up_edges = self._lifecycle(names, identities, timings, self._first_step)
        up_edges = [e for e in identities if e in up_edges]
        teardown = ev[ev["msg"].isin(list(_TEARDOWN)) | ((ev["kind"] == "action") & (ev["state"] == "down"))]
        body = ev[(ev["kind"] != "raw")]
        last_step = max([s.t for s in self.steps], default=0.0)
        if len(teardown) and float(teardown["t_s"].min()) > last_step:
            body = body[body["t_s"] < float(teardown["t_s"].min())]
            self.notes.append(f"the stack was taken down at {float(teardown['t_s'].min()):.3f}s: the end of the "
                              "schedule")
        snaps = self.exact[(self.exact["kind"] == "action") & (self.exact["state"] == "snapshot")]
        end = float(snaps["t_s"].max()) if len(snaps) else float(body["t_s"].max()) if len(body) else last_step
        if not len(snaps):  # the capture's end is not logged: its last event is a lower bound; the replay's
            # edges boot with some jitter, so a batch the logs show at their very end may come that much later
            end += max(1.0, timings["edge_boot_delay"].value)
        end = max(end, last_step)
        self.steps.sort(key=lambda s: (round(s.t, 6), _OP_ORDER.get(s.op, 9)))
        steps = _merge(self.steps)
        # up at t=0, then wait for the nodes the logs show connected before the first step
        first_t = min([s.t for s in steps], default=end)
        up_ev = ev[ev["msg"].astype(str).str.startswith("ORCHESTRATOR: started")
                   & ~ev["detail"].astype(str).str.contains("restart=true", case=False)]
        up_step = RStep(0.0, "up", {}, "logged" if len(up_ev) and float(up_ev["t_s"].iloc[0]) < 5.0 else "inferred",
                        "the evidence starts here: the stack is up", [_ev(up_ev.iloc[0])] if len(up_ev) else [])
        if len(snaps) or (ev["kind"] == "action").any():
            acts = ev[(ev["kind"] == "action") & (ev["state"] == "up")]
            if len(acts):
                up_step = RStep(0.0, "up", {}, "logged", "", [_ev(acts.iloc[0])])
        head = [up_step]
        hs = ev[(ev["kind"] == "node") & (ev["state"].isin(["connected", "handshake"]))
                & ev["node"].isin([n for e in up_edges for n in identities[e][:1]]) & (ev["t_s"] <= first_t + 1e-6)]
        n_up = hs["node"].nunique()
        if n_up:
            # a node is connected at its first "connected" line (after a connecting stage, connected_after later),
            # else at its handshake: wait_for waits for the state, so the replay keeps the logs' clock
            conn = hs[hs["state"] == "connected"].groupby("node")["t_s"].min()
            first = hs.groupby("node")["t_s"].min()
            t_conn = float(max(conn.get(n, first[n]) for n in first.index))
            head.append(RStep(t_conn, "wait_for", {"nodes": "connected", "count": int(n_up), "timeout": "2m"},
                              "inferred", f"the logs show {n_up} node(s) connected by then",
                              [_ev(hs.sort_values("t_s").iloc[-1])]))
        if up_edges != list(identities) and not up_edges and identities:
            self.notes.append("no edge was up at the start of the evidence")
        self._selectors(jobs, names, identities)
        job_ids = self._job_names(jobs, steps)
        joined = {s.args for s in steps if s.op == "join"}
        edges = [e for e in identities if e not in joined]
        unplaced = list(self.unplaced) + self._unplaced_tables()
        for g in jobs.values():
            self.notes.append(f"job {g.name}: its spec is not in the evidence; a stand-in is written from its name "
                              f"and type ({g.type}, {g.type_basis}) with no selector")
        return Reconstruction(edges=edges, names=names, identities=identities, steps=head + steps,
                              timings=timings, preset=preset, fix=fix, jobs=jobs, verdict=None, end=end,
                              unplaced=unplaced, notes=self.notes, name=name, job_ids=job_ids,
                              transport=self._transport())

    def _transport(self) -> Guess:
        """``nats`` (as nats-server behaves) unless the logs show the kit's drop-at-once reading [I]: its banner
        names it, or a sim's bus logged a message to a cut-off edge as dropped at once."""
        ev = self.ev
        msg = ev["msg"].astype(str)
        for r in ev[msg.str.startswith("ORCHESTRATOR: started")].itertuples():
            f = _fields(r.detail)
            if f.get("nats") in ("nats", "drop"):
                return Guess(f["nats"], "logged", evidence=_ev(r))  # type: ignore[arg-type]
        dropped = ev[msg == "NATS: partitioned - message dropped"]
        if len(dropped):
            return Guess("drop", "inferred", "a message to a cut-off edge was dropped at once: the sim's drop "  # type: ignore[arg-type]
                         "reading, not NATS's", _ev(dropped.iloc[0]))
        return Guess("nats", "default", "as nats-server 2.14.5 behaves")  # type: ignore[arg-type]

    def _job_names(self, jobs: dict[str, JobGuess], steps: list[RStep]) -> dict[str, str]:
        """Jobs whose line names them (``job deployed job_name=… job_id=j-…``: ``name=`` beside the id) go
        by that name in the scenario; returns id -> name for those renamed."""
        ev = self.ev
        jl = ev[(ev["kind"] == "state") & ev["job"].notna() & ev["execution"].isna()]
        ids: dict[str, str] = {}
        for job, det in zip(jl["job"].astype(str), jl["detail"], strict=True):
            nm = _fields(det).get("name")
            if nm and nm != job and job in jobs and job not in ids:
                ids[job] = nm
        taken = set(jobs) - set(ids)
        for job, nm in list(ids.items()):
            if nm in taken:  # two jobs by one name, or a name that is another job's id: keep the id
                del ids[job]
                continue
            taken.add(nm)
        if not ids:
            return {}
        renamed: dict[str, JobGuess] = {}
        for k, g in jobs.items():
            g.name = ids.get(k, g.name)
            renamed[ids.get(k, k)] = g
        jobs.clear()
        jobs.update(renamed)
        for st in steps:
            if st.op == "deploy" and st.args[0] in ids:
                st.args = (ids[st.args[0]], st.args[1])
            elif st.op == "stop_job" and st.args in ids:
                st.args = ids[st.args]
        self.notes.append("jobs go by the names their job lines give: "
                          + ", ".join(f"{v} ({k})" for k, v in ids.items()))
        return ids

    def _selectors(self, jobs: dict[str, JobGuess], names: dict[str, str], identities: dict[str, list[str]]) -> None:
        """A job whose executions skip an edge the orchestrator held connected when it was deployed has a
        selector the logs imply: its stand-in runs only on the edges it ran on (labelled) [I]."""
        ev = self.ev
        ex = ev[(ev["kind"] == "state") & ev["execution"].notna() & ev["node"].notna() & ev["job"].notna()]
        node_ev = ev[(ev["kind"] == "node") & ev["node"].notna()]
        up = node_ev[node_ev["state"].isin(["handshake", "connected"])]
        down = node_ev[node_ev["state"].isin(["disconnected", "lost"])]
        deploys = {s.args[0]: s.t for s in self.steps if s.op == "deploy" and s.args[1] == 1}
        for g in jobs.values():
            rows = ex[ex["job"] == g.name]
            if rows.empty or g.name not in deploys:
                continue
            ran = {names.get(str(n), str(n)) for n in rows["node"].unique()}
            t = deploys[g.name]
            skipped = []
            for n in up["node"].unique():
                h = up.loc[(up["node"] == n) & (up["t_s"] <= t + 1e-6), "t_s"]
                if not len(h) or ((down["node"] == n) & (down["t_s"] > h.max()) & (down["t_s"] <= t)).any():
                    continue
                edge = names.get(str(n), str(n))
                if edge not in ran and edge in identities:
                    skipped.append(edge)
            if skipped:
                g.only_on = sorted(ran & set(identities), key=_natural)
                self.notes.append(f"job {g.name} ran only on {', '.join(g.only_on)} though "
                                  f"{', '.join(sorted(skipped))} was connected when it was deployed: its stand-in "
                                  f"selects those edges by a label ({_selector_key(g.name)}) [I]")

    def _unplaced_tables(self) -> list[str]:
        """CLI tables (node list) show states but no times: they place nothing."""
        ev = self.untimed
        out = []
        cli = ev[(ev["kind"] == "cli") & ev["node"].notna() & ev["execution"].isna()
                 & ev["state"].isin(["disconnected", "lost"])]
        for n in cli["node"].dropna().unique():
            out.append(f"node {n} shows DISCONNECTED in a node list, but no line says when it went: no kill placed")
        runs = ev[(ev["kind"] == "cli") & ev["execution"].notna()]
        if len(runs):
            out.append(f"{runs['execution'].nunique()} execution(s) in CLI progress tables name no job and no "
                       "orchestrator line: no deploy placed for them")
        return out


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _edges_of(s: RStep) -> list[str]:
    a = s.args
    if isinstance(a, dict):
        return list(a.get("edges", []))
    if isinstance(a, list):
        return list(a)
    return [a] if isinstance(a, str) and s.op == "join" else []


def _merge(steps: list[RStep]) -> list[RStep]:
    """Kills/starts/partitions/heals of several edges at the same time (to the ms) become one step."""
    out: list[RStep] = []
    for s in steps:
        p = out[-1] if out else None
        if (p is not None and p.op == s.op and s.op in ("kill", "start", "partition", "heal", *_TRANSPORT)
                and abs(p.t - s.t) < 0.0005 and p.basis == s.basis and type(p.args) is type(s.args)
                and (not isinstance(s.args, dict) or p.args.get("new_identity") == s.args.get("new_identity"))):
            if isinstance(p.args, dict):
                p.args = {**p.args, "edges": list(dict.fromkeys(p.args["edges"] + s.args["edges"]))}
            else:
                p.args = list(dict.fromkeys(p.args + s.args))
            p.evidence += s.evidence
            continue
        out.append(s)
    return out


# -- evidence locations -----------------------------------------------------------------------------------
def locate(rec: Reconstruction, paths: Iterable[str | Path]) -> Reconstruction:
    """Fill each evidence's file and line number by finding its text in ``paths`` (one pass per file)."""
    wanted: dict[str, list[Evidence]] = {}
    for s in rec.steps:
        for e in s.evidence:
            wanted.setdefault(e.text, []).append(e)
    for g in rec.timings.values():
        if g.evidence is not None:
            wanted.setdefault(g.evidence.text, []).append(g.evidence)
    found: dict[str, tuple[str, int]] = {}
    for p in paths:
        p = Path(p)
        try:
            with p.open("r", errors="replace") as f:
                for i, raw in enumerate(f, 1):
                    key = redact(_ANSI.sub("", raw.rstrip("\r\n")).strip()[:300])
                    if key in wanted and key not in found:
                        found[key] = (p.name, i)
        except OSError:
            continue
    for s in rec.steps:
        s.evidence = [_placed(e, found) for e in s.evidence]
    for g in rec.timings.values():
        if g.evidence is not None:
            g.evidence = _placed(g.evidence, found)
    return rec


def _placed(e: Evidence, found: dict[str, tuple[str, int]]) -> Evidence:
    hit = found.get(e.text)
    return Evidence(e.source, e.t, e.text, hit[0], hit[1]) if hit else e


# -- writing ---------------------------------------------------------------------------------------------
def _header(rec: Reconstruction, sources: list[str]) -> str:
    lines = [f"{HEADER_MARK} {' '.join(sources)}".rstrip(),
             "# Each step: the log line it came from and its basis — logged (a line says it), inferred (the rule),",
             "# default (not in the evidence). Rules: docs/incident-to-scenario.md.",
             "# Times are seconds from the first event."]
    for i, s in enumerate(rec.steps, 1):
        ev = s.evidence[0] if s.evidence else None
        where = f' ← {ev.where()} "{ev.text}"' if ev else " ← (no line)"
        lines.append(f"# step {i} (t={s.t:.3f}s): {_describe(s)}{where} [{s.label()}]")
        if s.window is not None:
            lines.append(f"#     the evidence allows t={s.window[0]:.3f}s … {s.window[1]:.3f}s")
        for extra in s.evidence[1:3]:
            lines.append(f'#     also {extra.where()} "{extra.text}"')
    lines.append(f"# settle: until t={rec.end:.3f}s [inferred: the capture's end is not logged — its last event "
                 "plus max(1s, edge_boot_delay), unless a snapshot line says when it ended]")
    lines.append(f"# verdict: {rec.verdict or 'unknown'} — what the logs' diagnosis gives (expect)")
    lines.append("# timings:")
    rule = f": {rec.preset.rule}" if rec.preset.rule else ""
    lines.append(f"#   preset {rec.preset.value} [{rec.preset.basis}{rule}]")
    for k, g in rec.timings.items():
        src = f" ← {g.evidence.where()}" if g.evidence is not None and g.basis != "default" else ""
        rule = f": {g.rule}" if g.rule else ""
        lines.append(f"#   {k} = {format_duration(g.value)} [{g.basis}{rule}]{src}")
    if rec.transport is not None and rec.transport.basis != "default":
        rule = f": {rec.transport.rule}" if rec.transport.rule else ""
        src = f" ← {rec.transport.evidence.where()}" if rec.transport.evidence is not None else ""
        lines.append(f"#   nats_semantics = {rec.transport.value} [{rec.transport.basis}{rule}]{src}")
    lines.append("#   every other timing: preset default")
    lines.append(f"# fix: {rec.fix.value} [{rec.fix.basis}{': ' + rec.fix.rule if rec.fix.rule else ''}]")
    if rec.unplaced:
        lines.append("# could not place:")
        lines += [f"#   - {u}" for u in rec.unplaced]
    if rec.notes:
        lines.append("# notes:")
        lines += [f"#   - {n}" for n in rec.notes]
    return "\n".join(_ANSI.sub("", redact(x).replace("\n", " ")) for x in lines) + "\n"


def write_scenario(rec: Reconstruction, path: str | Path, *, sources: list[str] | None = None) -> list[Path]:
    """Write the scenario (and a job file per job and version beside it) through the kit's one
    writer; returns the paths written. Every destination is checked before anything is written."""
    from repro_lib.output import check_file, write_file

    out = check_file(path, "--scenario", suffixes=(".yaml", ".yml"))
    stem = out.stem
    jobs = [(g, v, out.parent / rec.job_file(stem, g.name, v)) for g in rec.jobs.values() for v in sorted(g.versions)]
    for _, _, p in jobs:
        check_file(p, "job file")
    if sources is not None:
        rec.sources = list(sources)
    doc = rec.scenario_doc(stem)
    text = _header(rec, sources or []) + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=200)
    written = []
    for g, v, p in jobs:
        body = (f"{HEADER_MARK}: stand-in for job {g.name} (version {v}); its spec is not in the evidence.\n"
                f"# name from the logs; type {g.type} [{g.type_basis}]; no selector (runs on every node)\n")
        written.append(write_file(p, body + yaml.safe_dump(rec.job_doc(g, v), sort_keys=False), what="job file"))
    written.insert(0, write_file(out, text, what="--scenario"))
    return written

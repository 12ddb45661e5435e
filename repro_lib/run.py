"""A Run: events + snapshots + manifest, the same shape from every stack (DESIGN.md)."""

from __future__ import annotations

import html
import json
import platform
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from repro_lib.analysis import Verdict, verdict_of
from repro_lib.capture.records import EPOCH, records_frame
from repro_lib.events import COLUMNS
from repro_lib.logfmt import LogRecord, format_record
from repro_lib.redact import redact, redact_data, redact_frame, redact_yaml
from repro_lib.snapshot import Snapshot
from repro_lib.timings import Timings

__all__ = ["Run", "EPOCH", "records_frame", "load_run", "ScenarioInfo"]

_VERSION = "0.1.0"
#: the label of the stand-in final state of a run folder that kept no snapshot
NO_SNAPSHOT = "no snapshot kept: the final state is what the events show"


@dataclass
class Run:
    """Everything one scenario run produced."""

    scenario: Any                    # scenario.Scenario
    backend: str
    seed: int
    timings: Timings
    fix: list[str]
    records: list[LogRecord]
    snapshots: list[Snapshot]
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    epoch: datetime = EPOCH
    raw_logs: Path | None = None     # a folder of captured log files (live stacks): copied as logs/
    stack: dict[str, Any] = field(default_factory=dict)  # what a live stack ran on (nats-server version, path…)
    _events: pd.DataFrame | None = field(default=None, repr=False)
    _verdict: Verdict | None = field(default=None, repr=False)
    _checks: list[Any] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the dataclass default would print every record
        end = f"{self.final.t_s:.1f}s" if self.snapshots else "no snapshot"
        return (f"Run(scenario={self.scenario.name!r}, backend={self.backend!r}, fix={'+'.join(self.fix)!r}, "
                f"seed={self.seed}, t_end={end}, records={len(self.records)}, "
                f"error={self.error!r})")

    # -- tables -------------------------------------------------------------------------------
    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            self._events = records_frame(self.records, self.epoch)
        return self._events

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]

    @property
    def verdict(self) -> Verdict:
        """The verdict on the final snapshot; ``inconclusive`` whenever the run stopped early."""
        if self._verdict is None:
            v = verdict_of(self.final, self.timings, self.events, fix=self.fix)
            if self.error:
                v = Verdict("inconclusive", [], [f"the run stopped early: {self.error}",
                                                 f"(at that point it looked {v.verdict})"])
            self._verdict = v
        return self._verdict

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.scenario.params)

    @property
    def executions_over_time(self) -> pd.DataFrame:
        """One row per execution per state interval (execution, job, node, name, state, desired, t0, t1)."""
        from repro_lib.analysis.timeline import executions_over_time
        return executions_over_time(self.events, self.final.t_s)

    def snapshots_frame(self, table: str = "executions") -> pd.DataFrame:
        """Every snapshot's ``nodes``/``jobs``/``executions`` table stacked, with ``snapshot`` and ``t_s``."""
        frames = []
        for i, s in enumerate(self.snapshots):
            df = s.frame(table)
            df.insert(0, "t_s", s.t_s)
            df.insert(0, "snapshot", s.label or str(i))
            frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def log_lines(self, pattern: str = "DISPATCH|PUBLISH|REEVALUATOR|leave", *, fmt: str = "text") -> pd.DataFrame:
        """``docker logs … | grep -E PATTERN`` over every source: t_s, source and the log line."""
        import re

        rx = re.compile(pattern)
        if self.records:
            rows = [(r.t, r.source, format_record(r, self.epoch, fmt)) for r in self.records]
        else:
            ev = self.events
            lines = ev["line"].where(ev["line"].notna(), ev["msg"].fillna("") + " " + ev["detail"].fillna(""))
            rows = list(zip(ev["t_s"], ev["source"], lines, strict=False))
        hits = [r for r in rows if rx.search(str(r[2]))]
        return pd.DataFrame(hits, columns=["t_s", "source", "line"])

    def grep(self, pattern: str = "DISPATCH|PUBLISH|REEVALUATOR|leave", *, fmt: str = "text") -> str:
        """The matching log lines as text, prefixed by their source — like grepping ``docker logs``."""
        hits = self.log_lines(pattern, fmt=fmt)
        width = max((len(s) for s in hits["source"]), default=0)
        return "\n".join(f"{src:<{width}} | {line}" for src, line in zip(hits["source"], hits["line"], strict=False))

    def plot(self, **kw: Any) -> Any:
        """The combined timeline figure (:func:`repro_lib.analysis.plots.plot_run`)."""
        from repro_lib.analysis.plots import plot_run
        return plot_run(self, **kw)

    def diagnose(self) -> Any:
        """The evidence-based diagnosis (:func:`repro_lib.analysis.diagnose`)."""
        from repro_lib.analysis import diagnose
        return diagnose(self.events, self.final, self.timings, fix=self.fix)

    def event_counts(self) -> dict[str, int]:
        """Dispatch attempts (first attempts), retries, lost, refused (one per refusal), skipped,
        re-sends and node-join evaluations (:func:`repro_lib.analysis.counts.event_counts`)."""
        from repro_lib.analysis.counts import event_counts
        return event_counts(self.events)

    def matches_expect(self) -> tuple[bool, list[str]]:
        """Compare with the scenario's ``expect``: verdict, job states, stuck count."""
        exp = self.scenario.expect
        problems: list[str] = []
        if self.error:
            problems.append(f"run failed: {self.error}")
        if "verdict" in exp and exp["verdict"] != self.verdict.verdict:
            problems.append(f"verdict {self.verdict.verdict}, expected {exp['verdict']}")
        for job, state in (exp.get("jobs") or {}).items():
            got = (self.final.job(job) or {}).get("state")
            if got != state:
                problems.append(f"job {job} is {got}, expected {state}")
        if "classes" in exp and dict(exp["classes"]) != dict(self.verdict.classes):
            problems.append(f"classes {_classes(self.verdict.classes)}, expected {_classes(exp['classes'])}")
        if "stuck" in exp and int(exp["stuck"]) != len(self.verdict.stuck):
            problems.append(f"{len(self.verdict.stuck)} stuck executions, expected {exp['stuck']}")
        if exp.get("violates"):
            failed = {v.check for v in self.checks}
            for check in exp["violates"]:
                if check not in failed:
                    problems.append(f"check {check} holds, expected it to fail")
        return not problems, problems

    @property
    def checks(self) -> list[Any]:
        """Every failed liveness and safety check of this run (:mod:`repro_lib.analysis.checks`)."""
        if self._checks is None:
            from repro_lib.analysis.checks import check_run

            self._checks = check_run(self)
        return self._checks

    # -- outputs --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        snap = self.final
        names = {n["id"]: n["name"] for n in snap.nodes}
        v = self.verdict
        return {
            "written_by": f"repro_lib {_VERSION}",
            "scenario": self.scenario.name,
            "backend": self.backend,
            "seed": self.seed,
            "verdict": v.verdict,
            "reasons": v.reasons,
            "expected": self.scenario.expect,
            "matches_expect": self.matches_expect()[0],
            "error": self.error,
            "params": self.params,
            "timings": self.timings.describe(),
            "fix": self.fix,
            "t_end_s": snap.t_s,
            "nodes": [{"name": n["name"], "id": n["id"], "state": n["state"]} for n in snap.nodes],
            "jobs": [{"name": j["name"], "type": j["type"], "state": j["state"]} for j in snap.jobs],
            "executions": [{"id": e["id"], "job": e["job"], "node": names.get(e["node"], e["node"]),
                            "node_id": e["node"], "state": e["state"], "desired": e["desired"]}
                           for e in snap.executions],
            "stuck": [{"execution": s.execution, "job": s.job, "node": s.node, "pending_s": s.pending_s,
                       "cause": s.cause} for s in v.stuck],
            "classes": v.classes,
            "pending": ([{"execution": str(x), "job": None if j != j else j, "class": str(c)}
                         for x, j, c in zip(v.table["execution"], v.table["job"], v.table["class"], strict=True)]
                        if v.table is not None else []),
            "counts": self.event_counts(),
        }

    def _cured_sentence(self) -> str | None:
        """A fixed run of a scenario that expects the bug: say plainly that the fix cured it."""
        from repro_lib.model.types import FIX_LETTERS

        fixes = [f for f in self.fix if f != "none"]
        if not fixes or self.scenario.expect.get("verdict") != "reproduced" or \
                self.verdict.verdict != "not_reproduced" or self.scenario.expect.get("violates"):
            return None
        named = " + ".join(f"fix {FIX_LETTERS.get(f, '?')} ({f})" for f in fixes)
        return (f"{named} cures it: the scenario expects reproduced without a fix, and with it every job that should "
                "run is running (verdict not_reproduced, so not the scenario's expect)")

    def summary(self) -> str:
        """The short human summary ``repro run`` prints."""
        v = self.verdict
        snap = self.final
        ok, problems = self.matches_expect()
        lines = [f"scenario {self.scenario.name} on {self.backend} (seed {self.seed}, fix "
                 f"{'+'.join(self.fix)}, timings {self.timings.preset}) — t={snap.t_s:.1f}s",
                 f"VERDICT: {v.verdict}"]
        lines += [f"  {r}" for r in v.reasons]
        lines.append("")
        lines.append(f"{'JOB':<18}{'TYPE':<10}{'STATE':<10}EXECUTIONS (state/desired)")
        for j in snap.jobs:
            states = ", ".join(f"{e['state']}/{e['desired']}" for e in snap.executions_of(j["name"]))
            lines.append(f"{j['name']:<18}{j['type']:<10}{j['state']:<10}{states}")
        if v.stuck:
            lines.append("")
            lines.append("STUCK EXECUTIONS (desired=running, state=pending; nothing will re-send them)")
            for s in v.stuck:
                since = snap.t_s - s.pending_s
                lines.append(f"  {s.execution}  {s.job:<16} on {s.node:<8} pending since t={since:.1f}s "
                             f"({s.pending_s:.1f}s at the end)  {s.cause}")
        if self.scenario.expect.get("violates"):
            lines.append("")
            lines.append("CHECKS (liveness after the settle; safety at every moment)")
            if self.error:  # a partial run proves nothing either way
                lines.append("  not judged: the run stopped early")
            else:
                lines += [f"  FAILED {v}" for v in self.checks] or ["  all hold"]
        lines.append("")
        if self.error:
            lines.append("DOES NOT match expect: the run stopped early (see above)")
        else:
            cured = self._cured_sentence()
            if not ok and cured:
                lines.append(cured)
            else:
                lines.append("matches expect" if ok else "DOES NOT match expect: " + "; ".join(problems))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        v = self.verdict
        colour = {"reproduced": "#b00020", "not_reproduced": "#1b7f3b"}.get(v.verdict, "#a66b00")
        esc = html.escape
        rows = "".join(f"<tr><td>{esc(j['name'])}</td><td>{esc(j['type'])}</td><td>{esc(j['state'])}</td></tr>"
                       for j in self.final.jobs)
        stuck = "".join(f"<tr><td>{esc(s.execution)}</td><td>{esc(s.job)}</td><td>{esc(s.node)}</td>"
                        f"<td>since t={self.final.t_s - s.pending_s:.1f}s ({s.pending_s:.1f}s at the end)</td></tr>"
                        for s in v.stuck)
        reasons = "".join(f"<li>{esc(r)}</li>" for r in v.reasons)
        return (
            f"<div class='repro-run'><b>{esc(self.scenario.name)}</b> on {esc(self.backend)} · fix "
            f"{esc('+'.join(self.fix))} · timings {esc(self.timings.preset)} · seed {self.seed}"
            f"<div style='font-size:1.2em;color:{colour}'><b>VERDICT: {esc(v.verdict)}</b></div>"
            f"<ul>{reasons}</ul>"
            f"<table><tr><th>job</th><th>type</th><th>state</th></tr>{rows}</table>"
            + (f"<p><b>Stuck executions</b></p><table><tr><th>execution</th><th>job</th><th>node</th>"
               f"<th>pending</th></tr>{stuck}</table>" if stuck else "")
            + "</div>"
        )

    def write(self, out_dir: str | Path, *, log_format: str = "text") -> Path:
        """Write the run folder through :func:`repro_lib.output.folder`: into a temporary sibling,
        renamed into place at the end; ``out_dir`` must be missing, empty or a run folder the kit
        wrote. Every text file is redacted on its way to disk. A finished run is kept: Ctrl-C, SIGTERM
        or SIGHUP during the write take effect once the folder is in place."""
        import yaml

        from repro_lib.jsontext import dumps
        from repro_lib.output import defer_signals, folder

        with defer_signals(), folder(out_dir, "run folder") as tmp:
            (tmp / "events.jsonl").write_text(
                redact_frame(self.events.drop(columns=["line"])).to_json(
                    orient="records", lines=True, date_format="iso", date_unit="ns"))
            logs = tmp / "logs"
            if self.raw_logs is not None and Path(self.raw_logs).is_dir():
                shutil.copytree(self.raw_logs, logs, symlinks=True,
                                ignore=lambda _d, names: [n for n in names if n.startswith(".")])
                for f in logs.rglob("*"):  # captured by a live stack: masked once more by shape
                    if f.is_file() and not f.is_symlink():
                        f.write_bytes(redact(f.read_bytes().decode(errors="replace")).encode())
            else:
                logs.mkdir()
            by_source: dict[str, list[str]] = {}
            for r in self.records:
                by_source.setdefault(r.source, []).append(format_record(r, self.epoch, log_format))
            for source, lines in by_source.items():
                (logs / f"{source}.log").write_text(redact("\n".join(lines) + "\n"))
            # values redacted before they are serialised (a secret in a string holding JSON), the text after
            (tmp / "snapshots.json").write_text(  # jsontext.dumps: json.dumps(…, indent=N)'s text, sooner
                redact(dumps(redact_data([s.to_dict() for s in self.snapshots]), indent=1)))
            (tmp / "scenario.yaml").write_text(redact_yaml(yaml.safe_dump(
                redact_data(yaml.safe_load(self.scenario.resolved_yaml())), sort_keys=False, allow_unicode=True)))
            (tmp / "result.json").write_text(redact(dumps(redact_data(self.to_json()))))
            (tmp / "manifest.json").write_text(redact(json.dumps(redact_data(self.manifest()), indent=2)))
        return Path(out_dir)

    def manifest(self) -> dict[str, Any]:
        import matplotlib
        import yaml
        return {
            "written_by": f"repro_lib {_VERSION}",
            "repro_lib": _VERSION,
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "matplotlib": matplotlib.__version__,
            "pyyaml": yaml.__version__,
            "backend": self.backend,
            "seed": self.seed,
            "scenario": self.scenario.name,
            "scenario_path": str(self.scenario.path or ""),
            "fix": self.fix,
            "params": self.params,
            "timings": self.timings.as_dict(),
            "epoch": self.epoch.isoformat(),
            "steps": self.steps,
            "error": self.error,
            "records": len(self.records),
            "stack": self.stack,
        }


@dataclass
class ScenarioInfo:
    """What a stored run remembers of its scenario (enough for summaries and checks)."""

    name: str
    expect: dict[str, Any]
    params: dict[str, Any]
    path: str | None = None
    text: str = ""

    def resolved_yaml(self) -> str:
        return self.text


def load_run(path: str | Path) -> Run:
    """Open a run folder written by :meth:`Run.write` (or captured from a real stack)."""
    from repro_lib.errors import ReproError

    try:
        return _load_run(Path(path))
    except ReproError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError, yaml_error()) as e:
        raise ReproError(f"{path}: a damaged run folder ({type(e).__name__}: {str(e)[:120]})",
                         hint="re-run the scenario with --out, or inspect the log files in logs/") from None


def yaml_error() -> type[Exception]:
    import yaml

    return yaml.YAMLError


def _load_run(path: Path) -> Run:
    from repro_lib.errors import ReproError
    from repro_lib.schema import load_yaml_text
    from repro_lib.timings import timings_from

    p = Path(path)
    if not (p / "events.jsonl").is_file():
        raise ReproError(f"{p} is not a run folder (no events.jsonl)",
                         hint="pass a folder written by `repro run --out` or a log file")
    manifest = json.loads((p / "manifest.json").read_text()) if (p / "manifest.json").is_file() else {}
    text = (p / "scenario.yaml").read_text() if (p / "scenario.yaml").is_file() else ""
    doc = load_yaml_text(text, str(p / "scenario.yaml")).data if text else {}  # bounded: one line, not a traceback
    tim = dict(manifest.get("timings") or {})
    preset = tim.pop("preset", "repro")
    timings = timings_from({"preset": preset}, **{k: v for k, v in tim.items() if v is not None})
    events = pd.read_json(p / "events.jsonl", lines=True, dtype={"node": str, "job": str, "execution": str,
                                                                 "state": str, "detail": str})
    if len(events):
        events["t"] = pd.to_datetime(events["t"], utc=True)
        for c in ("node", "job", "execution", "state", "detail"):
            events[c] = events[c].where(events[c].notna() & (events[c] != "None"), None)
    for c in COLUMNS:
        if c not in events.columns:
            events[c] = None
    snaps = [Snapshot.from_dict(d) for d in json.loads((p / "snapshots.json").read_text())] \
        if (p / "snapshots.json").is_file() else []
    if not snaps:  # none kept (or an empty list): the end of the events stands in for the final state
        snaps = [Snapshot(float(events["t_s"].max()) if len(events) and "t_s" in events else 0.0,
                          label=NO_SNAPSHOT)]
    info = ScenarioInfo(name=manifest.get("scenario") or (doc or {}).get("name") or p.name,
                        expect=(doc or {}).get("expect") or {}, params=manifest.get("params") or {},
                        path=str(p), text=text)
    epoch = datetime.fromisoformat(manifest["epoch"]) if manifest.get("epoch") else EPOCH
    return Run(scenario=info, backend=manifest.get("backend", "?"), seed=int(manifest.get("seed", 0)),
               timings=timings, fix=list(manifest.get("fix") or ["none"]), records=[], snapshots=snaps,
               steps=list(manifest.get("steps") or []), error=manifest.get("error"), epoch=epoch,
               _events=events)


def _classes(c: dict[str, int]) -> str:
    """``{lost: 2, refused: 1}`` as ``lost 2, refused 1`` (``none`` when empty)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

"""What breaks a fix: search fault schedules on the sim, shrink every failure to a minimal scenario.

    from repro_lib.search import search
    report = search("scenarios/core-395.yaml", fixes=["redispatch-on-join"], runs=2000, seed=1, out="found")
    print(report.matrix_markdown())

- :mod:`.grammar` — the schedule grammar and the duration ladder;
- :mod:`.oracle` — one schedule on the sim, judged by :mod:`repro_lib.analysis.checks`;
- :mod:`.explore` — Hypothesis generation and shrinking in shards, on any ``concurrent.futures``
  executor (a process pool, or ``dask.distributed``'s ``client.get_executor()``);
- this module — the search as a whole: budgets, counterexample files, the fix matrix.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro_lib.analysis.checks import CHECKS
from repro_lib.errors import ReproError
from repro_lib.model.types import FIXES
from repro_lib.redact import redact
from repro_lib.search.explore import Counterexample, ShardResult, explore
from repro_lib.search.grammar import FAULTS, parse_faults, scenario_doc
from repro_lib.search.oracle import Context

__all__ = ["search", "SearchReport", "Counterexample", "Choice", "FAULTS", "FIXES", "KEEP", "short_steps"]

#: counterexample files kept per (fix, check): the smallest distinct ones
KEEP = 3


@dataclass
class Choice:
    """The counterexample shown for one fix (:meth:`SearchReport.telling`) and why it was chosen."""

    fix: str
    name: str                       # its file stem, <fix>-<check>-<n>
    counterexample: Counterexample
    also_fails: list[str]           # the other fixes it fails under (the baseline "none" counted only for "none")
    reason: str                     # one sentence: why this one

    def markdown(self) -> str:
        c = self.counterexample
        return (f"### {self.fix}: `{self.name}` fails `{c.check}` in {len(c.schedule.steps)} step(s), "
                f"{c.schedule.edges} edge(s)\n\n{self.reason}\n\n"
                + "\n".join(f"1. `{step}`" for step in describe_steps(c)))


@dataclass
class SearchReport:
    """What a search found: per fix, the runs made and the minimal counterexamples per check."""

    fixes: list[str]
    runs: dict[str, int]
    found: dict[str, list[Counterexample]]
    seed: int
    complete: bool
    seconds: float
    files: list[Path] = field(default_factory=list)
    command: str = ""
    contexts: dict[str, Context] = field(default_factory=dict, repr=False)
    distinct: dict[str, int] = field(default_factory=dict)  # per fix: distinct schedules among the runs
    interrupted: str | None = None  # the signal that stopped it early (SIGINT, SIGTERM, SIGHUP), if one did

    @property
    def failed(self) -> bool:
        return any(self.found.values())

    def matrix(self) -> list[dict[str, str]]:
        """One row per fix: per check, "found: N (min K steps)" or "none in N runs"."""
        rows = []
        for fix in self.fixes:
            row = {"fix": fix}
            for check in CHECKS:
                hits = [c for c in self.found.get(fix, []) if c.check == check]
                row[check] = (f"**{len(hits)}** (min {min(len(c.schedule.steps) for c in hits)} steps)" if hits
                              else f"none in {self.runs.get(fix, 0)} runs")
            rows.append(row)
        return rows

    def matrix_frame(self) -> Any:
        """:meth:`matrix` as a DataFrame indexed by fix (for a notebook); plain text in the cells."""
        import pandas as pd

        rows = [{k: v.replace("**", "") for k, v in r.items()} for r in self.matrix()]
        return pd.DataFrame(rows, columns=["fix", *CHECKS]).set_index("fix")

    def smallest(self, fix: str) -> Counterexample | None:
        """The fix's simplest counterexample over every check: fewest steps, then the first check in
        :data:`CHECKS` (``stuck`` — issue 395 itself — before the others), then fewest edges and seconds asleep."""
        found = self.found.get(fix) or []
        return min(found, key=lambda c: (len(c.schedule.steps), CHECKS.index(c.check), c.schedule.key())) \
            if found else None

    def scenario_doc(self, c: Counterexample, *, job_dir: str | None = None, name: str | None = None) -> dict[str, Any]:
        """The counterexample as a scenario document: what :func:`write_counterexamples` writes."""
        ctx = self.contexts.get(c.fix)
        if ctx is None:
            raise ReproError(f"this report has no search context for fix {c.fix!r}",
                             hint=f"replay a counterexample of one of {', '.join(self.contexts) or 'its fixes'}")
        expect: dict[str, Any] = {"violates": [c.check]}
        if c.check == "stuck":
            expect = {"verdict": "reproduced", **expect}
        return scenario_doc(c.schedule, ctx.timings_spec, c.fix, name=name or f"{c.fix}-{c.check}",
                            settle=ctx.settle, expect=expect, description=_description(c, self),
                            job_dir=ctx.job_dir if job_dir is None else job_dir)

    def replay(self, c: Counterexample, *, backend: str = "sim", seed: int = 0, **options: Any) -> Any:
        """Run the counterexample again (on the sim by default, or a live ``backend``) and return the
        :class:`~repro_lib.run.Run`: its timeline, diagnosis and checks."""
        from repro_lib.scenario import parse_scenario, run_live, run_scenario

        sc = parse_scenario(self.scenario_doc(c))
        return run_scenario(sc, seed=seed) if backend == "sim" else run_live(sc, backend, seed=seed, **options)

    def names(self) -> list[tuple[str, Counterexample]]:
        """Every kept counterexample with its file stem (``<fix>-<check>-<n>``), in file order."""
        out = []
        for fix in self.fixes:
            n: dict[str, int] = {}
            for c in self.found.get(fix, []):
                n[c.check] = n.get(c.check, 0) + 1
                out.append((f"{fix}-{c.check}-{n[c.check]}", c))
        return out

    def cross_check(self, fixes: Sequence[str] = FIXES) -> Any:
        """Every kept counterexample re-run on the sim under every fix: a DataFrame, one row per
        counterexample, one column per fix, each cell the checks that fail (``—`` when all hold). A
        schedule found for one fix often breaks others too; "none in N runs" in :meth:`matrix` is only
        what that fix's own search drew."""
        import pandas as pd

        from repro_lib.search.oracle import Context, evaluate

        rows = []
        for name, c in self.names():
            base = self.contexts[c.fix]
            row: dict[str, str] = {"counterexample": name}
            for fix in fixes:
                ctx = Context(base.timings_spec, fix, base.job_dir, base.max_edges, base.max_steps, base.faults)
                failed = list(dict.fromkeys(v.check for v in evaluate(c.schedule, ctx)))
                row[fix] = ", ".join(failed) if failed else "—"
            rows.append(row)
        return pd.DataFrame(rows, columns=["counterexample", *fixes]).set_index("counterexample")

    @staticmethod
    def window(c: Counterexample, run: Any) -> tuple[float, float]:
        """The time axis that shows a replayed counterexample's action: from the start to a little after
        the schedule's last step (and its violation, if that came earlier than the end of the settle)."""
        t = run.timings
        settle_from = next((float(s["t_start_s"]) for s in reversed(run.steps) if s["op"] == "sleep"),
                           float(run.final.t_s))
        end = float(run.final.t_s)
        at = c.violation.t_s if c.violation.t_s < end - 1e-6 else settle_from
        return 0.0, max(settle_from, at) + 3 * t.reeval_batch_delay + 4 * t.heartbeat_interval

    @staticmethod
    def describe(c: Counterexample) -> list[str]:
        """The counterexample's steps, one string each (see :func:`describe_steps`)."""
        return describe_steps(c)

    def telling(self, fix: str, cross: Any = None) -> Choice | None:
        """The fix's most telling counterexample: the one that fails under the fewest *other* fixes in
        :meth:`cross_check` (ideally under this fix alone; for ``none``: the one the most fixes cure — the
        baseline is not counted against a fix), then ``stuck`` before the other checks, then the smallest
        (:meth:`Schedule.key`; the checks' order breaks an exact tie).
        ``cross``: a :meth:`cross_check` already computed (it re-runs every file under every fix)."""
        mine = [(n, c) for n, c in self.names() if c.fix == fix]
        if not mine:
            return None
        cross = self.cross_check() if cross is None else cross
        others = [f for f in cross.columns if f != fix and (fix == "none" or f != "none")]

        def also(name: str) -> list[str]:
            return [f for f in others if str(cross.loc[name, f]) != "—"]

        def rank(nc: tuple[str, Counterexample]) -> tuple[Any, ...]:
            n, x = nc
            return (len(also(n)), x.check != "stuck", x.schedule.key(), CHECKS.index(x.check))

        name, c = min(mine, key=rank)
        more = also(name)
        if not more:
            why = ("it fails only without a fix: every fix cures it" if fix == "none" else
                   f"among the fixes it fails under {fix} alone: every other fix cures it"
                   + (f" (without a fix: {cross.loc[name, 'none']})" if "none" in cross.columns else ""))
        elif len(more) == len(others):
            why = f"every counterexample found for {fix} fails under every other fix too"
        else:
            why = (f"none of the {len(mine)} found for {fix} fails under it alone; this one also fails under "
                   f"{', '.join(more)} — the fewest other fixes")
        ties = [x for n, x in mine if len(also(n)) == len(more)]
        size = f"the smallest ({len(c.schedule.steps)} steps)"
        if len(ties) == 1:
            tie = ""
        elif c.check == "stuck":
            stuck = sum(1 for x in ties if x.check == "stuck")
            tie = "; of those it fails `stuck` (issue 395's own check)" + (f" and is {size}" if stuck > 1 else "")
        else:
            tie = f"; of those none fails `stuck`, and it is {size}"
        return Choice(fix, name, c, more, f"Chosen because {why}{tie}.")

    def cross_check_table(self, cross: Any = None) -> Any:
        """:meth:`cross_check` with each row's schedule (its steps, short) beside its file name."""
        cross = self.cross_check() if cross is None else cross
        steps = dict((n, short_steps(c)) for n, c in self.names())
        out = cross.copy()
        out.insert(0, "steps", [steps.get(str(n), "") for n in out.index])
        return out

    def matrix_cross_checked(self, cross: Any = None) -> Any:
        """:meth:`matrix_frame`, where a "none in N runs" cell is contradicted by :meth:`cross_check` (a
        counterexample another fix's search drew fails that check under this fix) marked so:
        ``none drawn in N runs; fails on <file> (cross-check)``."""
        cross = self.cross_check() if cross is None else cross
        frame = self.matrix_frame()
        for fix in frame.index:
            if fix not in cross.columns:
                continue
            for check in frame.columns:
                if not str(frame.loc[fix, check]).startswith("none in "):
                    continue
                hits = [str(n) for n in cross.index if check in str(cross.loc[n, fix]).split(", ")]
                if hits:
                    more = f" and {len(hits) - 1} more" if len(hits) > 1 else ""
                    frame.loc[fix, check] = (f"none drawn in {self.runs.get(fix, 0)} runs; fails on {hits[0]}{more} "
                                             "(cross-check)")
        return frame

    def cross_check_markdown(self, fixes: Sequence[str] = FIXES) -> str:
        """:meth:`cross_check` as a Markdown table ("" when nothing was found)."""
        t = self.cross_check(fixes)
        if t.empty:
            return ""
        head = ["counterexample", *t.columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join([str(i), *map(str, r)]) + " |" for i, r in zip(t.index, t.to_numpy(), strict=True)]
        return "\n".join(lines)

    def matrix_markdown(self) -> str:
        head = ["fix", *CHECKS]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r[k] for k in head) + " |" for r in self.matrix()]
        return "\n".join(lines)

    def text(self) -> str:
        out = [self.matrix_markdown(), ""]
        for fix in self.fixes:
            for c in self.found.get(fix, []):
                out.append(f"{fix} · {c.check}: {len(c.schedule.steps)} steps, {c.schedule.edges} edge(s) — "
                           f"{'; '.join(describe_steps(c))}")
        if self.files:
            out.append(f"wrote {len(self.files)} scenario file(s): " + ", ".join(str(f) for f in self.files))
        out.append("runs per fix (distinct schedules among them; the grammar's simplest draws repeat): "
                   + ", ".join(f"{f} {self.runs.get(f, 0)} ({self.distinct.get(f, 0)})" for f in self.fixes))
        if not self.complete:
            why = "Ctrl-C" if self.interrupted in (None, "SIGINT") else self.interrupted
            out.append(f"STOPPED EARLY ({why}): the table counts only the runs that finished")
        return "\n".join(out)


#: bounds on a search's size: far beyond any useful search, well inside this machine's memory
MAX_RUNS = 10_000_000
MAX_EDGES = 20
MAX_WORKERS = 64


def search(scenario: str | Path = "scenarios/core-395.yaml", *, fixes: Sequence[str] = ("none",), runs: int = 500,
           seed: int = 0, out: str | Path | None = None, workers: int = 1, executor: Executor | None = None,
           faults: str | Sequence[str] | None = "all", edges: int = 3, max_steps: int = 10,
           sets: Sequence[str] = (), progress: Callable[[dict[str, Any]], None] | None = None,
           command: str = "") -> SearchReport:
    """Search ``runs`` schedules per fix; shrink and (with ``out``) write every counterexample.

    ``executor``: any :class:`concurrent.futures.Executor` (e.g. ``dask.distributed``'s
    ``client.get_executor()``); without one, ``workers`` > 1 makes a local process pool.
    The same ``seed`` gives the same counterexamples whatever runs them."""
    import time

    from repro_lib.scenario import load_scenario

    for name, value, low, high in (("--runs", runs, 1, MAX_RUNS), ("--edges", edges, 1, MAX_EDGES),
                                   ("--workers", workers, 1, MAX_WORKERS)):
        if not low <= value <= high:
            raise ReproError(f"{name} {value} is out of range", hint=f"give a whole number from {low} to {high:,}")
    fixes = [str(f).strip() for f in fixes if str(f).strip()]
    fixes = list(FIXES) if "all" in fixes else list(dict.fromkeys(fixes))
    bad = [f for f in fixes if f not in FIXES]
    if bad:
        raise ReproError(f"unknown fix {bad[0]!r}", hint=f"use all or one of {', '.join(FIXES)}")
    try:
        fault_kinds = parse_faults(faults)
    except ValueError as e:
        raise ReproError(str(e)) from None
    _check_sets(sets)
    path = Path(scenario)
    sc = load_scenario(path, sets=list(sets))
    root = _job_root(path)
    timings_spec = dict((sc.raw or {}).get("timings") or {"preset": sc.timings.preset})
    for s in sets:  # --set timings.X=V reaches the written files as well
        k, _, v = s.partition("=")
        if k.startswith("timings."):
            timings_spec[k.split(".", 1)[1]] = v
    contexts = [Context(timings_spec, fix, str(root), edges, max_steps, fault_kinds) for fix in fixes]
    t0 = time.perf_counter()
    own = None
    if executor is None and workers > 1:
        own = executor = ProcessPoolExecutor(workers, initializer=_ignore_sigint)
    try:
        with _signals_seen() as seen:
            shards, complete = explore(contexts, runs=runs, seed=seed, executor=executor, progress=progress)
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    report = SearchReport(fixes, {f: 0 for f in fixes}, {f: [] for f in fixes}, seed, complete,
                          time.perf_counter() - t0, command=command, contexts={c.fix: c for c in contexts})
    if not complete:
        report.interrupted = seen[0] if seen else "SIGINT"
    _collect(report, shards)
    if out is not None:
        report.files = write_counterexamples(report, Path(out), contexts, root)
    return report


def _collect(report: SearchReport, shards: list[ShardResult]) -> None:
    drawn: dict[str, set[str]] = {f: set() for f in report.fixes}
    for r in shards:
        report.runs[r.fix] += r.runs
        report.found[r.fix].extend(r.found)
        drawn[r.fix] |= r.drawn
    report.distinct = {f: len(d) for f, d in drawn.items()}
    for fix, found in report.found.items():
        keep: list[Counterexample] = []
        seen: set[str] = set()
        for c in sorted(found, key=lambda c: (c.key(), c.shard)):
            sig = f"{c.check}|{c.schedule.edges}|{c.schedule.steps!r}"
            if sig in seen or sum(1 for k in keep if k.check == c.check) >= KEEP:
                continue
            seen.add(sig)
            keep.append(c)
        report.found[fix] = keep


def write_counterexamples(report: SearchReport, out: Path, contexts: list[Context], root: Path) -> list[Path]:
    """Each counterexample as ``OUT/<fix>-<check>-<n>.yaml``, runnable with ``repro run``; ``OUT``
    is written whole through :func:`repro_lib.output.folder` (missing, empty or the kit's own)."""
    from repro_lib.output import folder

    out = Path(out)
    job_dir = os.path.relpath(root.resolve(), out.resolve())
    report.contexts.update({c.fix: c for c in contexts if c.fix not in report.contexts})
    names = []
    with folder(out, "--out") as tmp:
        for name, c in report.names():
            doc = report.scenario_doc(c, job_dir=job_dir, name=name)
            (tmp / f"{name}.yaml").write_text(redact(
                f"# found by: {report.command or 'repro search'}\n"
                + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)))
            names.append(name)
    return [out / f"{n}.yaml" for n in names]


def _description(c: Counterexample, report: SearchReport) -> str:
    what = {
        "stuck": "leaves a job stuck in deploying (the verdict is reproduced: issue 395)",
        "not-running": "leaves a job that should run not running after everything is healed and settled",
        "not-stopped": "leaves a job the user stopped not stopped after everything is healed and settled",
        "two-running": "runs two executions of one pipeline job on one node at once",
        "running-on-lost": "keeps an execution running on a node the orchestrator has marked lost",
        "running-without-executions": "shows a job running with no running execution",
    }[c.check]
    return (f"A minimal fault schedule under which fix {c.fix!r} {what}. Shrunk by repro search "
            f"(seed {report.seed}): no step can be removed and no sleep shortened without losing the failure. "
            f"Observed on the sim: {c.violation}.")


def describe_steps(c: Counterexample) -> list[str]:
    """The schedule's steps in scenario words: ``kill edge1``, ``sleep 0.5s``, ``deploy file=… force=True``."""
    parts = []
    for op, a in c.schedule.steps:
        if op == "sleep":
            parts.append(f"sleep {a:g}s")
        elif isinstance(a, dict):
            parts.append(op + " " + " ".join(f"{k}={v}" for k, v in a.items()))
        else:
            parts.append(f"{op} {a if isinstance(a, str) else ','.join(a)}")
    return parts


def short_steps(c: Counterexample) -> str:
    """The schedule in one short line: ``deploy test-job; kill edge1`` (job files by their stem)."""
    out = []
    for step in describe_steps(c):
        words = [Path(w).stem if w.endswith((".yaml", ".yml")) else w for w in step.split(" ")]
        out.append(" ".join(words))
    return "; ".join(out)


def _job_root(path: Path) -> Path:
    """The folder holding pipelines/: the scenario's parent's parent, else the cwd."""
    for cand in (path.resolve().parent.parent, path.resolve().parent, Path.cwd()):
        if (cand / "pipelines").is_dir():
            return cand
    raise ReproError(f"no pipelines/ folder beside {path}", hint="run from the repository root")


def _check_sets(sets: Sequence[str]) -> None:
    """``--set`` in a search reaches the scenario's timings only: the schedules are drawn, the fixes and
    edges have their own options. Anything else is refused (it was silently ignored)."""
    own = {"fix": "--fix", "edges": "--edges"}
    for s in sets:
        key = str(s).partition("=")[0].strip()
        if key.startswith("timings.") or key == "timings":
            continue
        if key in own:
            raise ReproError(f"--set {s}: a search takes {key} from {own[key]}",
                             hint=f"use {own[key]} {str(s).partition('=')[2] or '…'}")
        raise ReproError(f"--set {s}: a search reaches only timings.<name> and timings.preset",
                         hint="the fault schedules are drawn by the search; set timings, or use --fix/--edges")


@contextlib.contextmanager
def _signals_seen() -> Iterator[list[str]]:
    """The names of the signals that arrive during the block (SIGINT, SIGTERM, SIGHUP), whichever
    Python handler takes them: read from a wakeup pipe the interpreter writes each signal's number to.
    Main thread only; elsewhere the list stays empty."""
    seen: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    os.set_blocking(r, False)
    try:
        old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:
        os.close(r)
        os.close(w)
        yield seen
        return
    try:
        yield seen
    finally:
        signal.set_wakeup_fd(old)
        with contextlib.suppress(BlockingIOError, OSError):
            for num in os.read(r, 1024):
                with contextlib.suppress(ValueError):
                    name = signal.Signals(num).name
                    if name in ("SIGINT", "SIGTERM", "SIGHUP") and name not in seen:
                        seen.append(name)
        os.close(r)
        os.close(w)


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops handing out shards and keeps results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

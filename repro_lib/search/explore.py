"""Exploration: Hypothesis draws schedules and shrinks failures; shards run on any Executor.

A search of N runs is cut into shards of :data:`SHARD` runs. Shard *i* of fix *f* has its own
Hypothesis seed derived from ``(seed, f, i)``, so what a shard finds depends on nothing but those
three — not on the number of workers, the executor, or the order shards finish in. That is what
makes ``--seed`` reproducible byte for byte and lets a ``dask.distributed`` client stand in for
the local process pool.

Inside a shard Hypothesis draws exactly ``SHARD`` schedules from the grammar (its choice sequences
make every draw reproducible from the seed, simplest choices first); each is run and judged, and no
failure stops the pass — Hypothesis left to itself stops drawing soon after its first failure, and
"none in N runs" must count N schedules really drawn. The first failing schedule of each check is
then shrunk by a deterministic greedy pass — merge sleeps, remove any single step, drop an edge,
simplify an argument (fewer edges, no ``--force``, no new identity, a shorter downtime), shorten any
sleep down the duration ladder — until nothing more can go: every reported schedule is 1-minimal.
(Hypothesis's own shrinker, tried first, cost 3.7× the time of this pass for the same step counts
on ``--fix all --runs 300``: measured, so left out.)
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from repro_lib.analysis.checks import CHECKS, Violation
from repro_lib.errors import ReproError
from repro_lib.search.grammar import EDGE_OPS, JOBS, Schedule, draw_schedule, durations_for, is_valid
from repro_lib.search.oracle import Context, evaluate

__all__ = ["SHARD", "ShardResult", "Counterexample", "run_shard", "shard_seed", "explore"]

#: schedules per shard: small enough for live progress and a prompt Ctrl-C
SHARD = 50
#: shards queued on an executor at once (enough for a large cluster; memory flat for any --runs)
WINDOW = 128


@dataclass
class Counterexample:
    """A minimal schedule that fails ``check`` under ``fix``."""

    fix: str
    check: str
    schedule: Schedule
    violation: Violation
    shard: int

    def key(self) -> tuple[Any, ...]:
        return (CHECKS.index(self.check), *self.schedule.key())


@dataclass
class ShardResult:
    fix: str
    shard: int
    runs: int                                   # schedules drawn and judged (shrinking not counted)
    calls: int                                  # every run of the oracle, shrinking included
    found: list[Counterexample] = field(default_factory=list)
    seconds: float = 0.0
    first_found_s: float | None = None          # after the shard's start, once shrunk
    drawn: set[str] = field(default_factory=set)  # a digest of each distinct schedule drawn


def shard_seed(seed: int, fix: str, shard: int) -> int:
    """A seed for one shard from (seed, fix, shard) alone."""
    h = hashlib.sha256(f"{seed}/{fix}/{shard}".encode()).digest()
    return int.from_bytes(h[:8], "big")


@contextlib.contextmanager
def _no_hypothesis_folder() -> Iterator[None]:
    """Hypothesis keeps caches in ``./.hypothesis`` (a folder in the user's current directory): point
    it at a temporary folder of our own for the shard, removed after it."""
    from hypothesis import configuration as hc

    key = "__hypothesis_home_directory"
    before = getattr(hc, key, None)
    home = tempfile.mkdtemp(prefix="repro-hypothesis-")
    hc.set_hypothesis_home_dir(home)
    try:
        yield
    finally:
        hc.set_hypothesis_home_dir(before)
        shutil.rmtree(home, ignore_errors=True)


def run_shard(ctx: Context, seed: int, shard: int, runs: int = SHARD) -> ShardResult:
    """Draw and judge exactly ``runs`` schedules under ``ctx``; shrink the first failure of each check."""
    with _no_hypothesis_folder():
        return _run_shard(ctx, seed, shard, runs)


def _run_shard(ctx: Context, seed: int, shard: int, runs: int) -> ShardResult:
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    t0 = time.perf_counter()
    stats = {"calls": 0, "runs": 0}
    first: dict[str, tuple[Schedule, Violation]] = {}
    drawn: set[str] = set()

    @hseed(shard_seed(seed, ctx.fix, shard))
    @settings(max_examples=runs, database=None, deadline=None, derandomize=False, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck), phases=(Phase.generate,), print_blob=False)
    @given(st.data())
    def explore_prop(data: Any) -> None:
        sched = draw_schedule(data.draw, ctx.timings, faults=ctx.faults, max_edges=ctx.max_edges,
                              max_steps=ctx.max_steps)
        stats["calls"] += 1
        stats["runs"] += 1
        drawn.add(hashlib.sha256(f"{sched.edges}|{sched.steps!r}".encode()).hexdigest()[:16])
        for v in evaluate(sched, ctx):
            first.setdefault(v.check, (sched, v))

    explore_prop()
    found = []
    for check in [c for c in CHECKS if c in first]:
        sched, v = greedy_shrink(*first[check], ctx, stats)
        found.append(Counterexample(ctx.fix, check, sched, v, shard))
    took = time.perf_counter() - t0
    return ShardResult(ctx.fix, shard, stats["runs"], stats["calls"], found, took, took if found else None, drawn)


def greedy_shrink(sched: Schedule, v: Violation, ctx: Context,
                  stats: dict[str, int] | None = None) -> tuple[Schedule, Violation]:
    """Remove single steps, simplify arguments and shorten sleeps while the same check still fails
    (deterministic)."""
    ladder = durations_for(ctx.timings)

    def still(cand: Schedule) -> Violation | None:
        if not is_valid(cand):  # only schedules the grammar could draw
            return None
        if stats is not None:
            stats["calls"] += 1
        try:
            got = [x for x in evaluate(cand, ctx) if x.check == v.check]
        except (RuntimeError, ReproError):  # not a valid schedule (e.g. a start without its kill)
            return None
        return got[0] if got else None

    changed = True
    while changed:
        changed = False
        for i in reversed(range(len(sched.steps) - 1)):  # two sleeps in a row -> one sleep of their sum
            (op1, a1), (op2, a2) = sched.steps[i], sched.steps[i + 1]
            if op1 == op2 == "sleep":
                cand = Schedule(sched.edges, [*sched.steps[:i], ("sleep", round(float(a1) + float(a2), 3)),
                                              *sched.steps[i + 2:]])
                if (got := still(cand)) is not None:
                    sched, v, changed = cand, got, True
        for i in reversed(range(len(sched.steps))):
            cand = Schedule(sched.edges, sched.steps[:i] + sched.steps[i + 1:])
            if cand.steps and (got := still(cand)) is not None:
                sched, v, changed = cand, got, True
        for k in reversed(range(1, sched.edges + 1)) if sched.edges > 1 else ():  # one edge fewer, any of them
            cand = _drop_edge(sched, k)
            if cand is not None and (got := still(cand)) is not None:
                sched, v, changed = cand, got, True
                break
        for i in range(len(sched.steps)):  # a simpler argument: fewer edges, no force, no new identity, ...
            for arg in _simpler(*sched.steps[i], ladder) if i < len(sched.steps) else ():
                cand = Schedule(sched.edges, [*sched.steps[:i], (sched.steps[i][0], arg), *sched.steps[i + 1:]])
                if (got := still(cand)) is not None:
                    sched, v, changed = cand, got, True
                    break
        for i, (op, arg) in enumerate(sched.steps):
            if op != "sleep":
                continue
            for d in ladder:
                if d >= float(arg) or i >= len(sched.steps):
                    break
                cand = Schedule(sched.edges, [*sched.steps[:i], ("sleep", d), *sched.steps[i + 1:]])
                if (got := still(cand)) is not None:
                    sched, v, changed = cand, got, True
                    break
    return sched, v


def _simpler(op: str, arg: Any, ladder: list[float]) -> list[Any]:
    """Simpler variants of one step's argument, simplest first."""
    out: list[Any] = []
    if op == "restart_orchestrator" and isinstance(arg, dict):
        out += [{**arg, "downtime": d} for d in ladder if d < float(arg.get("downtime", 0))]
    edges = arg["edges"] if isinstance(arg, dict) and "edges" in arg else arg
    if op in EDGE_OPS and isinstance(edges, list) and len(edges) > 1:
        for e in edges:
            out.append({**arg, "edges": [e]} if isinstance(arg, dict) else [e])
    if op == "start" and isinstance(arg, dict) and arg.get("new_identity"):
        out.append(list(arg["edges"]))
    if op == "deploy" and isinstance(arg, dict) and arg.get("force"):
        out.append(arg["file"])
    if op == "deploy":  # an earlier job of the grammar's list (test-job first)
        file = arg["file"] if isinstance(arg, dict) else arg
        files = [f for f, _, _ in JOBS]
        for f in files[:files.index(file)] if file in files else []:
            out.append({**arg, "file": f} if isinstance(arg, dict) else f)
    return out


def _drop_edge(sched: Schedule, k: int) -> Schedule | None:
    """The schedule without its initial edge ``edge<k>``: steps naming only it go, the higher edges
    (joined ones included) are renumbered one down."""
    gone = f"edge{k}"

    def rename(e: str) -> str:
        n = int(e[4:])
        return f"edge{n - 1}" if n > k else e

    steps = []
    for op, arg in sched.steps:
        if op == "join":
            steps.append((op, rename(arg)))
            continue
        if op in EDGE_OPS:
            edges = arg["edges"] if isinstance(arg, dict) else arg
            rest = [rename(e) for e in edges if e != gone]
            if not rest:
                continue
            arg = {**arg, "edges": rest} if isinstance(arg, dict) else rest
        steps.append((op, arg))
    return Schedule(sched.edges - 1, steps) if steps else None


def explore(contexts: Iterable[Context], *, runs: int, seed: int, executor: Executor | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> tuple[list[ShardResult], bool]:
    """Run ``runs`` schedules per context, in shards, on ``executor`` (in this process when None).

    Returns the shard results (in a fixed order) and whether it ran to the end (False after
    Ctrl-C: the shards that finished are kept)."""
    contexts = list(contexts)
    per_ctx = -(-runs // SHARD)
    n_tasks = per_ctx * len(contexts)

    def tasks() -> Iterator[tuple[Context, int, int]]:  # lazily: a huge --runs builds no list
        for ctx in contexts:
            for i in range(per_ctx):
                yield ctx, i, min(SHARD, runs - i * SHARD)

    results: dict[tuple[str, int], ShardResult] = {}
    t0 = time.perf_counter()

    def note(r: ShardResult) -> None:
        results[(r.fix, r.shard)] = r
        if progress:
            done = list(results.values())
            progress({"shards": len(done), "of": n_tasks, "runs": sum(x.runs for x in done),
                      "failures": sum(len(x.found) for x in done), "seconds": time.perf_counter() - t0})

    complete = True
    pending: set[Future[ShardResult]] = set()
    try:
        if executor is None:  # a signal sets a flag, read between shards: an exception raised by the handler
            # could land where it is swallowed (hypothesis' engine, a finaliser) and the search would run on
            with _stop_requested() as stop:
                for ctx, i, n in tasks():
                    note(run_shard(ctx, seed, i, n))
                    if stop.is_set():
                        raise KeyboardInterrupt(stop.signame)
        else:
            with _stop_requested() as stop:
                todo = tasks()
                while not stop.is_set():  # at most `window` shards queued: memory flat for any --runs
                    for ctx, i, n in itertools.islice(todo, WINDOW - len(pending)):
                        pending.add(executor.submit(run_shard, ctx, seed, i, n))
                    if not pending:
                        break
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for f in finished:
                        note(f.result())
                if stop.is_set():
                    raise KeyboardInterrupt(stop.signame)
    except KeyboardInterrupt:
        complete = False
        for f in pending:  # shards not started are dropped; the caller's executor stays usable
            f.cancel()
    order = {ctx.fix: k for k, ctx in enumerate(contexts)}
    return sorted(results.values(), key=lambda r: (order.get(r.fix, 0), r.shard)), complete


class _Stop(threading.Event):
    signame = "SIGINT"


@contextlib.contextmanager
def _stop_requested() -> Iterator[_Stop]:
    """While shards run, Ctrl-C and SIGTERM/SIGHUP set a flag the loop polls instead of raising inside
    ``concurrent.futures`` (an exception landing in its locks could leave the pool unable to shut down) or
    inside a shard run in this process (hypothesis' engine could take it for the test's own). Off the main
    thread, signals stay as they are."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_signal(signum: int, _frame: object) -> None:
        stop.signame = signal.Signals(signum).name
        stop.set()

    sigs = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    before = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        if before[s] is not signal.SIG_IGN:
            signal.signal(s, on_signal)
    try:
        yield stop
    finally:
        for s, h in before.items():
            if h is not None:  # None: set outside Python, cannot be put back from here
                signal.signal(s, h)

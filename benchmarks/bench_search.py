"""Benchmark: `repro search` exploration throughput, and time to the first shrunk counterexample.

Usage: ``python benchmarks/bench_search.py [--runs 1000] [--before REV]``

Side by side in one run: 1 worker (in process), a 2-process pool, and a dask ``LocalCluster`` with
2 worker processes (when dask[distributed] is installed). Throughput is schedules drawn and judged
per wall second (every shard draws exactly its share), with fix ``pending-timeout``; the time
includes shrinking the few counterexamples found (``not-stopped``, ``not-running``, ...). The
baseline is the bare oracle — every run of the model, shrinking included — in one shard.
Targets: ≥ 100 schedules/s with 2 workers; for ``--fix redispatch-on-join --seed 1`` the first
counterexample found and shrunk within 60 s, to at most 8 steps. ``--before REV`` also runs the
1-worker search on the kit as committed at REV (``git archive``, read-only), each in a fresh process,
and compares the counterexample files the two write byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repro_lib.search import search
from repro_lib.search.explore import SHARD, run_shard
from repro_lib.search.grammar import FAULTS
from repro_lib.search.oracle import Context

ROOT = Path(__file__).resolve().parent.parent
CORE = str(ROOT / "scenarios" / "core-395.yaml")


def _rate(label: str, **kw: object) -> float:
    t0 = time.perf_counter()
    r = search(CORE, fixes=["pending-timeout"], seed=11, **kw)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    n = sum(r.runs.values())
    found = sum(len(v) for v in r.found.values())
    print(f"  {label:<28} {n:>6} schedules in {dt:6.2f} s = {n / dt:7.1f} schedules/s  (counterexamples {found})")
    return n / dt


_CHILD = r"""
import hashlib, json, sys, time
from pathlib import Path
from repro_lib.search import search
core, runs, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
r = search(core, fixes=["pending-timeout"], seed=11, runs=runs, out=str(out))
dt = time.perf_counter() - t0
h = hashlib.sha256()
for f in sorted(p for p in out.rglob("*") if p.is_file()):
    h.update(f.relative_to(out).as_posix().encode() + b"\0" + f.read_bytes())
print(json.dumps({"rate": sum(r.runs.values()) / dt, "files": sum(1 for p in out.rglob("*") if p.is_file()),
                  "digest": h.hexdigest()}))
"""


def _versus(rev: str, runs: int) -> None:
    """The same 1-worker search on this kit and on the kit at ``rev``, each in its own process."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_sim import _kit_at

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        (Path(tmp) / "old").mkdir()
        old_kit = _kit_at(rev, str(Path(tmp) / "old"))
        got = {}
        for label, kit in (("now", str(ROOT)), (f"at {rev}", old_kit)):
            env = {**os.environ, "PYTHONPATH": kit}
            out = Path(tmp) / f"found-{len(got)}"
            r = subprocess.run([sys.executable, "-c", _CHILD, CORE, str(runs), str(out)], env=env, cwd=tmp,
                               capture_output=True, text=True, check=True)
            got[label] = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"  1 worker, the kit {label:<14} {got[label]['rate']:7.1f} schedules/s, "
                  f"{got[label]['files']} counterexample file(s), sha256 {got[label]['digest'][:16]}")
        now, old = got["now"], got[f"at {rev}"]
        print(f"  now / at {rev}: {now['rate'] / old['rate']:.2f}x; counterexample files "
              f"{'byte-identical' if now['digest'] == old['digest'] else 'DIFFERENT'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--before", metavar="REV", help="also run the 1-worker search on the kit at REV")
    args = ap.parse_args()

    ctx = Context({"preset": "repro"}, "pending-timeout", str(ROOT), faults=FAULTS)
    t0 = time.perf_counter()
    base = run_shard(ctx, 11, 0, SHARD)
    bare = base.calls / (time.perf_counter() - t0)
    print(f"exploration, fix pending-timeout, all faults, {args.runs} schedules (2-core machine):")
    print(f"  {'baseline: one shard, oracle':<28} {base.calls:>6} runs      = {bare:7.1f} runs/s (drawn + shrinking)")
    one = _rate("1 worker (in process)", runs=args.runs)
    two = _rate("2 worker processes", runs=args.runs, workers=2)
    try:
        import distributed
    except ImportError:
        print("  dask LocalCluster: dask[distributed] not installed (pip install -e .[distributed])")
    else:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cl, distributed.Client(cl) as client:
            _rate("dask LocalCluster, 2 workers", runs=args.runs, executor=client.get_executor())
    print(f"  2 workers / 1 worker = {two / one:.2f}x; target >= 100 schedules/s with 2 workers: "
          f"{'met' if two >= 100 else 'MISSED'}")
    import repro_lib.stacks.sim as sim

    sim.LAZY_HEARTBEATS = False  # the sim as it was: every heartbeat a heap event (same counterexamples)
    try:
        old = _rate("1 worker, eager heartbeats", runs=args.runs)
    finally:
        sim.LAZY_HEARTBEATS = True
    print(f"  quiet edges settled lazily / every heartbeat an event (1 worker): {one / old:.2f}x")
    if args.before:
        _versus(args.before, args.runs)

    print("first counterexample, --fix redispatch-on-join --seed 1 (shard 0, one process):")
    ctx = Context({"preset": "repro"}, "redispatch-on-join", str(ROOT), faults=FAULTS)
    t0 = time.perf_counter()
    r = run_shard(ctx, 1, 0, SHARD)
    dt = time.perf_counter() - t0
    smallest = min((c for c in r.found), key=lambda c: len(c.schedule.steps), default=None)
    if smallest is None:
        print(f"  none in the first shard ({r.runs} schedules, {dt:.1f} s)")
        return
    steps = len(smallest.schedule.steps)
    print(f"  found and shrunk in {dt:.1f} s ({r.calls} oracle calls incl. shrinking): {smallest.check}, "
          f"{steps} steps (+ the fixed prologue and epilogue); targets <= 60 s, <= 8 steps: "
          f"{'met' if dt <= 60 and steps <= 8 else 'MISSED'}")


if __name__ == "__main__":
    main()

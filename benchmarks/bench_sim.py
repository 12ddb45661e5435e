"""How fast is the sim? Virtual seconds per wall second, for the core scenario and at scale.

Run: python benchmarks/bench_sim.py [--runs N]
Prints wall time per run and virtual s per wall s for (a) core-395 with 1 h of virtual time
after the edges restart (2 edges, 2 jobs), split into the model run and the verdict, and
(b) 1,000 edges with 100 pipeline jobs (the same story: kill every edge, deploy, restart, 1 h).
Baseline in the same run: (c) the same 2-edge run with a bare heap loop that only schedules
the heartbeats (the floor any DES pays).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import statistics
import time
from pathlib import Path

from repro_lib import load_scenario, run_scenario
from repro_lib.jobs import job_from_dict
from repro_lib.model.types import Policies
from repro_lib.stacks.sim import SimStack
from repro_lib.timings import timings_from

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600.0


_SPLIT: list[tuple[float, float]] = []  # (model run, verdict) seconds of each core_run


def core_run() -> float:
    sc = load_scenario(ROOT / "scenarios/core-395.yaml", ["params.settle=1h"])
    t0 = time.perf_counter()
    run = run_scenario(sc, seed=1)
    t1 = time.perf_counter()
    assert run.verdict.verdict == "reproduced", run.verdict
    _SPLIT.append((t1 - t0, time.perf_counter() - t1))
    return run.final.t_s


def scale_run(n_edges: int, n_jobs: int) -> tuple[float, int]:
    names = [f"edge{i}" for i in range(1, n_edges + 1)]
    s = SimStack(timings_from({}), Policies(), names, seed=1)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n_edges, 120)
    spec = {"type": "pipeline", "config": {"input": {"generate": {"interval": "10s"}}}}
    s.deploy(job_from_dict({"name": "job-0", **spec}))
    s.advance(30)
    s.kill(names)
    s.advance(5)
    for j in range(1, n_jobs):
        s.deploy(job_from_dict({"name": f"job-{j}", **spec}))
    s.advance(30)
    s.start(names)
    s.advance(HOUR)
    pending = s.count_executions("job-1", "pending")
    assert pending == n_edges, pending
    return s.now, len(s.records)


def bare_heap(n_edges: int, virtual: float, interval: float = 15.0) -> int:
    heap: list[tuple[float, int, int]] = []
    seq = itertools.count()
    for e in range(n_edges):
        heapq.heappush(heap, (e * 0.01, next(seq), e))
    n = 0
    while heap and heap[0][0] <= virtual:
        t, _, e = heapq.heappop(heap)
        heapq.heappush(heap, (t + interval, next(seq), e))
        n += 1
    return n


def timed(fn, runs: int) -> tuple[float, object]:
    walls, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--edges", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=100)
    a = ap.parse_args()
    print(f"{'case':<44}{'wall/run':>12}{'virtual s':>12}{'virtual s / wall s':>22}")
    wall, virt = timed(core_run, a.runs)
    print(f"{'core-395, 2 edges, +1 h after restart':<44}{wall * 1000:>10.1f}ms{virt:>12.0f}{virt / wall:>22,.0f}")
    model, judge = (statistics.median(x) for x in zip(*_SPLIT, strict=True))
    print(f"  of which the model run {model * 1000:.1f}ms (target < 10 ms), the verdict {judge * 1000:.1f}ms "
          "(events table + delivery classes)")
    bwall, _ = timed(lambda: bare_heap(2, virt), a.runs)
    print(f"{'baseline: bare heap, 2 heartbeating edges':<44}{bwall * 1000:>10.1f}ms{virt:>12.0f}"
          f"{virt / bwall:>22,.0f}")
    print(f"  -> the full model costs {wall / bwall:.1f}x a bare heartbeat loop")
    swall, (svirt, nrec) = timed(lambda: scale_run(a.edges, a.jobs), 1)
    label = f"{a.edges} edges, {a.jobs} jobs, +1 h after restart"
    print(f"{label:<44}{swall * 1000:>10.0f}ms{svirt:>12.0f}{svirt / swall:>22,.0f}   ({nrec:,} log records)")
    bswall, _ = timed(lambda: bare_heap(a.edges, svirt), 1)
    print(f"{'baseline: bare heap, ' + str(a.edges) + ' heartbeating edges':<44}{bswall * 1000:>10.0f}ms"
          f"{svirt:>12.0f}{svirt / bswall:>22,.0f}")
    print("targets: >= 200,000 virtual s/s for 2 edges; >= 1,000 for 1,000 edges")


if __name__ == "__main__":
    main()

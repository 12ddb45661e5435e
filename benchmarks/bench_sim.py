"""How fast is the sim? Virtual seconds per wall second, for the core scenario and at scale.

Run: python benchmarks/bench_sim.py [--runs N] [--fleet 1000,10000] [--before REV]
Prints wall time per run and virtual s per wall s for (a) core-395 with 1 h of virtual time
after the edges restart (2 edges, 2 jobs), split into the model run and the verdict, (b) the fleet-wide
blip at 1,000 and 10,000 edges with 100 pipeline jobs (kill every edge, deploy, restart, 1 h) and (c) a
quiet day of connected edges — (b) and (c) side by side per fleet size (so the growth shows), each in a
fresh process with its peak RSS: settled lazily (this code), with every heartbeat a heap event (eager,
up to ``--eager-max`` edges) and, with ``--before REV``, the same cases on the kit as committed at REV
(``git archive``, read-only; e.g. ``--before a5a6586``: before issue 20's compact records).
Baselines in the same run: a bare heap loop that only schedules the heartbeats (the floor any
event-per-heartbeat simulation pays).
(d) ``--e2e N[,N…]`` (default 5,000 and 10,000; at most ``repro_lib.schema.MAX_EDGES``, the most a scenario file
may hold): what a user waits for — ``repro run FLEET.yaml --json OUT`` as a whole process on a scenario of N edges,
half of them killed during a deploy and back 30 s later, then 1 h; beside it the model alone (load + run, no events
table, verdict or JSON) in a process of its own. ``--only-e2e --e2e 10000`` prints the 10,000-edge case beside the
5,000-edge one (``--e2e-also``, default 5,000).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from repro_lib import load_scenario, run_scenario
from repro_lib.jobs import job_from_dict
from repro_lib.model.types import Policies
from repro_lib.stacks.sim import SimStack
from repro_lib.timings import timings_from

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600.0
DAY = 86400.0


_SPLIT: list[tuple[float, float]] = []  # (model run, verdict) seconds of each core_run


def core_run() -> float:
    sc = load_scenario(ROOT / "scenarios/core-395.yaml", ["params.settle=1h"])
    t0 = time.perf_counter()
    run = run_scenario(sc, seed=1)
    t1 = time.perf_counter()
    assert run.verdict.verdict == "reproduced", run.verdict
    _SPLIT.append((t1 - t0, time.perf_counter() - t1))
    return run.final.t_s


def scale_run(n_edges: int, n_jobs: int, lazy: bool = True, quiet: float = 0.0) -> tuple[float, int]:
    """The fleet-wide blip: every edge killed during a deploy of ``n_jobs`` pipeline jobs, back 30 s
    later, then 1 h (+ ``quiet`` more seconds in which nothing happens)."""
    names = [f"edge{i}" for i in range(1, n_edges + 1)]
    s = SimStack(timings_from({}), Policies(), names, seed=1, lazy_heartbeats=lazy)
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
    s.advance(HOUR + quiet)
    pending = s.count_executions("job-1", "pending")
    assert pending == n_edges, pending
    return s.now, len(s.records)


def quiet_run(n_edges: int, virtual: float, lazy: bool) -> float:
    """Only the quiet part: ``n_edges`` connected edges, one job, ``virtual`` seconds in which nothing
    happens. Returns the wall seconds of the quiet part alone."""
    names = [f"edge{i}" for i in range(1, n_edges + 1)]
    s = SimStack(timings_from({}), Policies(), names, seed=1, lazy_heartbeats=lazy)
    s.up()
    assert s.wait_for(lambda: s.count_nodes("connected") == n_edges, 120)
    s.advance(60)
    t0 = time.perf_counter()
    s.advance(virtual)
    return time.perf_counter() - t0


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


def _case(kind: str, n: int, jobs: int, lazy: bool, kit: str | None = None) -> tuple[float, float, int, float]:
    """One fleet case in a fresh process (so its peak RSS is its own): wall, virtual, records, peak MB.
    ``kit``: a folder holding another ``repro_lib`` to run instead of this one."""
    env = dict(os.environ)
    if kit:
        env["PYTHONPATH"] = kit + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--case", f"{kind},{n},{jobs},{int(lazy)}"],
                         capture_output=True, text=True, check=True, env=env)
    wall, virt, nrec, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(virt), int(nrec), float(peak)


def _kit_at(rev: str, into: str) -> str:
    """``repro_lib`` as committed at ``rev``, unpacked under ``into`` (git archive: reads the repository only)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "repro_lib"],
                          capture_output=True, check=True).stdout
    tar = Path(into) / "kit.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as tf:
        tf.extractall(into, filter="data")
    return into


def _run_case(spec: str) -> None:
    kind, n, jobs, lazy = spec.split(",")
    t0 = time.perf_counter()
    if kind == "blip":
        virt, nrec = scale_run(int(n), int(jobs), lazy == "1")
        wall = time.perf_counter() - t0
    else:
        virt, nrec, wall = DAY, 0, quiet_run(int(n), DAY, lazy == "1")
    print(json.dumps([wall, virt, nrec, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))


def _fleet_table(sizes: list[int], jobs: int, eager_max: int, kit: str | None, rev: str | None) -> None:
    """The blip and the quiet day, one row per way of running them, the fleet sizes side by side."""
    print(f"the fleet-wide blip (every edge killed during a deploy of {jobs} pipeline jobs, back 30 s later, "
          "then 1 h) and a")
    print("quiet day of connected edges; each case in its own process: wall s, virtual s per wall s, peak RSS MB")
    ways = [("lazy", True, None)] + [("eager heartbeats", False, None)] + ([(f"at {rev}", True, kit)] if kit else [])
    cell = 38
    head = "".join(f"{f'{n:,} edges':>{cell}}" for n in sizes)
    print(f"{'case':<34}{head}" + ("   growth (wall)" if len(sizes) > 1 else ""))
    print(f"{'':<34}" + f"{'wall':>9}{'v-s/s':>11}{'peak MB':>9}{'records':>9}" * len(sizes))
    for kind in ("blip", "quiet"):
        for label, lazy, where in ways:
            walls: list[float] = []
            row = f"{(f'blip x {jobs} jobs, ' if kind == 'blip' else 'quiet day, ') + label:<34}"
            for n in sizes:
                if not lazy and n > eager_max:
                    row += f"{'(--eager-max)':>{cell}}"
                    continue
                wall, virt, nrec, peak = _case(kind, n, jobs, lazy, where)
                walls.append(wall)
                recs = f"{nrec / 1e6:.2f}M" if kind == "blip" else "-"
                shown = f"{wall:.1f}s" if wall >= 0.1 else f"{wall * 1000:.0f}ms"
                row += f"{shown:>9}{virt / wall:>11,.0f}{peak:>9,.0f}{recs:>9}"
            if len(walls) == len(sizes) > 1:
                row += f"   x{walls[-1] / walls[0]:.1f} for x{sizes[-1] / sizes[0]:.3g} edges"
            print(row, flush=True)


def fleet_scenario(path: Path, n_edges: int) -> float:
    """Write the e2e scenario (``n_edges`` edges, the first half killed during a deploy, back 30 s later,
    then 1 h) to ``path``; returns the virtual seconds it covers at least."""
    import yaml

    names = [f"edge{i}" for i in range(1, n_edges + 1)]
    half = names[: n_edges // 2]
    doc = {"name": f"fleet-{n_edges}", "description": f"{n_edges} edges, half killed during a deploy, 1 h after",
           "timings": {"preset": "repro"}, "fix": "none", "edges": names,
           "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": n_edges, "timeout": "2m"}},
                     {"deploy": str(ROOT / "pipelines/test-job.yaml")}, {"sleep": "1m"}, {"kill": half},
                     {"sleep": "5s"}, {"deploy": str(ROOT / "pipelines/new-job.yaml")}, {"sleep": "30s"},
                     {"start": half}, {"sleep": "1h"}, {"snapshot": {}}],
           "expect": {"verdict": "reproduced"}}
    path.write_text(yaml.safe_dump(doc, default_flow_style=None, width=200))
    return HOUR


_MODEL_ONLY = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from repro_lib.scenario import load_scenario, run_scenario
run = run_scenario(load_scenario(sys.argv[1], []), seed=0)
print(json.dumps([time.perf_counter() - t0, run.final.t_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""


def _process(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of ``cmd`` as a whole process (the peak and the CPU are GNU time's:
    a child forked from this process would count its pages as its own). The CPU (user + system) moves less
    than the wall when other processes share the machine."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        gnu = Path("/usr/bin/time").exists()
        timed = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name, *cmd] if gnu else cmd
        t0 = time.perf_counter()
        out = subprocess.run(timed, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                             check=False, env=env).stdout
        wall = time.perf_counter() - t0
        last = (rss.read().strip().splitlines() or [""])[-1].split()
    if len(last) == 3 and last[0].isdigit():
        return wall, float(last[1]) + float(last[2]), int(last[0]) / 1024, out
    return wall, float("nan"), float("nan"), out


def e2e(sizes: list[int], runs: int, keep: Path | None = None) -> None:
    """``repro run … --json`` end to end on the half-killed fleet of each size, beside the model alone; the
    sizes alternate run by run (so a busy moment of the machine does not fall on one size only). ``keep``: a
    folder to leave each size's JSON in (``fleet-N.json``), to compare byte for byte with another version's.

    The processes read their bytecode from a cache, as an installed kit does after its first run: a private
    ``PYTHONPYCACHEPREFIX``, filled by one untimed run first (this machine sets ``PYTHONDONTWRITEBYTECODE``, and
    a checkout that keeps no ``__pycache__`` compiles the kit's modules on every start: about 0.2 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        scs = {n: Path(tmp) / f"fleet-{n}.yaml" for n in sizes}
        outs = {n: (keep or Path(tmp)) / f"fleet-{n}.json" for n in sizes}
        for n in sizes:
            fleet_scenario(scs[n], n)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        run_cmd = {n: [sys.executable, "-m", "repro_lib.cli", "run", str(scs[n]), "--json", str(outs[n]), "--quiet"]
                   for n in sizes}
        _process(run_cmd[sizes[0]], env)  # the bytecode cache, untimed
        _process([sys.executable, "-c", _MODEL_ONLY, str(scs[sizes[0]])], env)
        whole: dict[int, list[tuple[float, float, float, str]]] = {n: [] for n in sizes}
        model: dict[int, list[tuple[float, list[float]]]] = {n: [] for n in sizes}
        for _ in range(runs):
            for n in sizes:
                whole[n].append(_process(run_cmd[n], env))
                wall, _cpu, _peak, text = _process([sys.executable, "-c", _MODEL_ONLY, str(scs[n])], env)
                model[n].append((wall, json.loads(text.strip().splitlines()[-1])))
        print(f"repro run FLEET.yaml --json OUT, half the edges killed during a deploy, back 30 s later, then 1 h "
              f"(whole process, bytecode cached, median of {runs}; CPU = user + system):")
        print(f"{'edges':>8}{'wall':>9}{'CPU':>8}{'virtual s/wall s':>18}{'peak MB':>9}   the model alone: "
              "in-process (import, load and run), its process")
        for n in sizes:
            virt = float(json.loads(outs[n].read_text())["t_end_s"])
            w = statistics.median(x[0] for x in whole[n])
            cpu = statistics.median(x[1] for x in whole[n])
            peak = max(x[2] for x in whole[n])
            m = statistics.median(x[1][0] for x in model[n])
            mp = statistics.median(x[0] for x in model[n])
            walls = ", ".join(f"{x[0]:.2f}" for x in whole[n])
            print(f"{n:>8,}{w:>8.2f}s{cpu:>7.2f}s{virt / w:>18,.0f}{peak:>9,.0f}   {m:.2f}s, {mp:.2f}s"
                  f"   (walls {walls})")
        print("  target: >= 1,000 virtual s per wall s, <= 1 GB")


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
    ap.add_argument("--fleet", default="1000,10000", help="edge counts, comma-separated")
    ap.add_argument("--eager-max", type=int, default=1000, help="largest fleet also run eagerly")
    ap.add_argument("--before", metavar="REV", help="also run the fleet cases on repro_lib as committed at REV")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--e2e", default="10000", help="edges of the end-to-end repro run, comma-separated (0: skip it; "
                    "at most the scenario cap, 10,000)")
    ap.add_argument("--e2e-also", type=int, default=5_000, help="a size run beside --e2e's (0: none)")
    ap.add_argument("--e2e-runs", type=int, default=3)
    ap.add_argument("--e2e-json", metavar="DIR", type=Path, help="keep each size's JSON in DIR as fleet-N.json")
    ap.add_argument("--only-e2e", action="store_true", help="only the end-to-end case")
    a = ap.parse_args()
    if a.case:
        _run_case(a.case)
        return
    sizes = sorted({int(x) for x in a.e2e.split(",") if int(x)} | ({a.e2e_also} if a.e2e_also and a.e2e != "0"
                                                                   else set()))
    if sizes:
        from repro_lib.schema import MAX_EDGES

        if sizes[-1] > MAX_EDGES:
            ap.error(f"--e2e {sizes[-1]:,}: a scenario file holds at most {MAX_EDGES:,} edges; ask for at most that")
        if a.e2e_json:
            a.e2e_json.mkdir(parents=True, exist_ok=True)
        e2e(sizes, a.e2e_runs, a.e2e_json)
        print()
    if a.only_e2e:
        return
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
    print()
    sizes = [int(x) for x in a.fleet.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        kit = _kit_at(a.before, tmp) if a.before else None
        _fleet_table(sizes, a.jobs, a.eager_max, kit, a.before)
    for n in sizes:
        bswall, _ = timed(lambda n=n: bare_heap(n, DAY), 1)
        print(f"{'baseline: bare heap, ' + f'{n:,}' + ' heartbeating edges, a day':<44}{bswall:>9.1f}s{DAY:>12.0f}"
              f"{DAY / bswall:>15,.0f}")
    print("targets: >= 200,000 virtual s/s for 2 edges; 10,000 edges x 100 jobs >= 1,000 v-s/s and <= 1 GB")


if __name__ == "__main__":
    main()

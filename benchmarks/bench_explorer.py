"""Benchmark: the timing explorer's redraw after a slider change — run, verdict, explanation and the
figure rendered to PNG (what the notebook frontend receives) — at 2 and 20 edges.

Usage: ``python benchmarks/bench_explorer.py [--repeat 5]``

Baseline in the same run: the sim run alone (the model, no verdict, no figure). Targets: ≤ 1 s at
2 edges, ≤ 1.5 s at 20 edges.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from repro_lib.analysis.explain import explain  # noqa: E402
from repro_lib.experiments import load_doc, with_edges  # noqa: E402
from repro_lib.scenario import parse_scenario, run_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def redraw(n_edges: int, kill_to_deploy: int) -> tuple[float, float]:
    path = ROOT / "scenarios" / "core-395.yaml"
    sc = parse_scenario(with_edges(load_doc(path), n_edges), path=path,
                        sets=[f"params.kill_to_deploy={kill_to_deploy}s"])
    t0 = time.perf_counter()
    run = run_scenario(sc)
    t1 = time.perf_counter()
    _ = run.verdict  # the delivery classes
    explain(run)
    fig = run.plot(figsize=(11, 7.5))
    fig.savefig(io.BytesIO(), format="png", dpi=72)  # the inline backend's default
    plt.close(fig)
    return t1 - t0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    redraw(2, 5)  # warm imports and caches
    print(f"{'edges':>6}{'sim run s':>11}{'run+verdict+explain+draw s':>29}{'target s':>10}")
    for n, target in ((2, 1.0), (20, 1.5)):
        results = [redraw(n, 5 + 7 * i) for i in range(args.repeat)]
        sim = statistics.median(r[0] for r in results)
        total = statistics.median(r[1] for r in results)
        print(f"{n:>6}{sim:>11.3f}{total:>29.3f}{target:>10.1f}  ({total / max(sim, 1e-9):.0f}x the bare run)")


if __name__ == "__main__":
    main()

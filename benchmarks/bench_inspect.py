"""Benchmark: ``repro inspect`` end to end (parse + verdict + diagnosis + text) against ``grep -cE``.

Usage: ``python benchmarks/bench_inspect.py [--lines 1000000] [--small 100000] [--repeat 2]``

The file is the parse benchmark's mix (:func:`bench_parse.generate`: slog text, slog JSON and zerolog
console, ~20 % behind Docker's prefix, ~5 % instrumented lines — every dispatch names a fresh
execution, so the diagnosis has tens of thousands of pending executions to classify — and a little
garbage). Each size runs in a fresh subprocess, which reports its phases and its peak RSS; grep runs
on the same file in the same run, as the baseline. Printed: seconds per phase, the ratio to grep, the
1 M / 100 k time ratio (linear = 10) and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parse import generate  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from repro_lib.inspect import inspect_paths
from repro_lib.analysis import diagnose
from repro_lib.inspect import events_from_logs, sources_read, Inspection
from pathlib import Path
t1 = time.perf_counter()
ev = events_from_logs([Path(sys.argv[1])])
t2 = time.perf_counter()
d = diagnose(ev)
t3 = time.perf_counter()
text = Inspection(ev, d, None, "bench", [], sources_read(ev)).text()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "parse": t2 - t1, "analysis": t3 - t2, "text": t4 - t3,
                  "total": t4 - t1, "rows": len(ev), "pending": len(d.table), "chars": len(text),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _grep(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["grep", "-cE", "DISPATCH|PUBLISH|REEVALUATOR", str(path)], capture_output=True, check=False)
    return time.perf_counter() - t0


def _inspect(path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000, help="the smaller file, for the linearity ratio")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size (best is reported)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    results = {}
    for n in (args.small, args.lines):
        path = tmp / f"orchestrator-{n}.log"
        generate(path, n, args.seed)
        path.read_bytes()  # warm the page cache for both contenders
        greps = [_grep(path) for _ in range(max(3, args.repeat))]
        runs = [_inspect(path) for _ in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r["total"])
        results[n] = (min(greps), best, path.stat().st_size)
        path.unlink()
    tmp.rmdir()
    print(f"{'lines':>10}{'MB':>6}{'grep s':>8}{'parse s':>9}{'analysis s':>11}{'text s':>8}{'total s':>9}"
          f"{'x grep':>8}{'pending':>9}{'peak MB':>9}")
    for n, (g, r, size) in results.items():
        print(f"{n:>10,}{size / 1e6:>6.0f}{g:>8.3f}{r['parse']:>9.3f}{r['analysis']:>11.3f}{r['text']:>8.3f}"
              f"{r['total']:>9.3f}{r['total'] / g:>8.1f}{r['pending']:>9,}{r['maxrss_mb']:>9.0f}")
    (_, small, _), (_, big, _) = results[args.small], results[args.lines]
    print(f"scaling: {args.lines:,} lines took {big['total'] / small['total']:.1f}x the time of {args.small:,} "
          f"(linear = {args.lines / args.small:.0f}x); import of the kit, not counted: {big['import']:.2f}s")


if __name__ == "__main__":
    main()

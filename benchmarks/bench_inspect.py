"""Benchmark: ``repro inspect`` end to end (parse + verdict + diagnosis + text) against ``grep -cE``.

Usage: ``python benchmarks/bench_inspect.py [--lines 1000000] [--small 100000] [--repeat 2]
[--fleet 10000000] [--fleet-sample 1000000] [--skip-mix]``

Two parts. (1) The mix below at two sizes, each read in full (every row held) and condensed (read in
blocks, only the rows a diagnosis reads kept: :mod:`repro_lib.capture.condense`), with a check that
both print the same text. (2) A day of a 1,000-edge fleet (10 M lines, 1.1 GB: generated) read
condensed, with its peak memory, beside grep on the same file and beside the full reading of its
first million lines (the sample): the verdicts and classes side by side.

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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parse import generate  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
if sys.argv[3] == "jemalloc":  # the baseline: Arrow's default pool, as before the parse asked for the system one
    import contextlib
    import repro_lib.capture._common as common
    common.system_pool = contextlib.nullcontext
from repro_lib.inspect import inspect_paths
from repro_lib.analysis import diagnose
from repro_lib.inspect import events_from_logs, sources_read, Inspection
from pathlib import Path
t1 = time.perf_counter()
ev = events_from_logs([Path(sys.argv[1])], condense=sys.argv[2] == "condense")
t2 = time.perf_counter()
d = diagnose(ev)
t3 = time.perf_counter()
text = Inspection(ev, d, None, "bench", [], sources_read(ev)).text()
t4 = time.perf_counter()
verdict = d.verdict.verdict if d.verdict else "none"
classes = sorted(set(d.table["class"])) if len(d.table) else []
print(json.dumps({"import": t1 - t0, "parse": t2 - t1, "analysis": t3 - t2, "text": t4 - t3,
                  "total": t4 - t1, "rows": len(ev), "pending": len(d.table), "chars": len(text),
                  "verdict": verdict, "classes": classes, "text_body": text.split("\n\n", 1)[-1],
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _grep(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["grep", "-cE", "DISPATCH|PUBLISH|REEVALUATOR", str(path)], capture_output=True, check=False)
    return time.perf_counter() - t0


def _inspect(path: Path, mode: str = "full", pool: str = "system") -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode, pool], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _head(src: Path, dst: Path, lines: int) -> None:
    with src.open("rb") as fh, dst.open("wb") as out:
        for i, raw in enumerate(fh):
            if i >= lines:
                break
            out.write(raw)


def fleet(tmp: Path, lines: int, sample: int, seed: int) -> None:
    """A day of a 1,000-edge fleet (``lines`` lines) read condensed, beside grep and beside the full
    reading of its first ``sample`` lines: time, peak memory, and the verdict and classes of each."""
    path = tmp / "fleet.log"
    t0 = time.perf_counter()
    generate(path, lines, seed, nodes=1000, step=86400 / lines)
    print(f"\nfleet: {lines:,} lines, {path.stat().st_size / 1e9:.2f} GB, 1,000 nodes over a day "
          f"(generated in {time.perf_counter() - t0:.0f}s)")
    g = min(_grep(path) for _ in range(2))
    cond = _inspect(path, "condense")
    head = tmp / "sample.log"
    _head(path, head, sample)
    path.unlink()
    s_full, s_cond = _inspect(head, "full"), _inspect(head, "condense")
    head.unlink()
    print(f"{'':34}{'total s':>9}{'x grep':>8}{'peak MB':>9}  verdict (classes)")
    print(f"{'grep -cE, whole file':34}{g:>9.2f}{1:>8.1f}{'':>9}")
    print(f"{'condensed, whole file':34}{cond['total']:>9.1f}{cond['total'] / g:>8.0f}{cond['maxrss_mb']:>9.0f}  "
          f"{cond['verdict']} ({', '.join(cond['classes'])}); {cond['pending']:,} pending")
    for name, r in ((f"full, first {sample:,} lines", s_full), (f"condensed, first {sample:,} lines", s_cond)):
        print(f"{name:34}{r['total']:>9.1f}{'':>8}{r['maxrss_mb']:>9.0f}  {r['verdict']} ({', '.join(r['classes'])}); "
              f"{r['pending']:,} pending")
    same = cond["verdict"] == s_full["verdict"] and cond["classes"] == s_full["classes"]
    text = "the same text" if s_full["text_body"] == s_cond["text_body"] else "DIFFERENT text"
    print(f"the whole day and its sample: {'the same verdict and classes' if same else 'DIFFERENT verdicts'}; "
          f"the sample full and condensed: {text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000, help="the smaller file, for the linearity ratio")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size (best is reported)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fleet", type=int, default=10_000_000, help="lines of the fleet-day case (0: skip it)")
    ap.add_argument("--fleet-sample", type=int, default=1_000_000, help="its sample, read in full")
    ap.add_argument("--skip-mix", action="store_true", help="only the fleet-day case")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    try:
        if not args.skip_mix:
            mix(tmp, args)
        if args.fleet:
            fleet(tmp, args.fleet, args.fleet_sample, args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mix(tmp: Path, args: argparse.Namespace) -> None:
    """The parse benchmark's mix at two sizes, each read in full and condensed, beside grep."""
    results = {}
    for n in (args.small, args.lines):
        path = tmp / f"orchestrator-{n}.log"
        generate(path, n, args.seed)
        path.read_bytes()  # warm the page cache for both contenders
        greps = [_grep(path) for _ in range(max(3, args.repeat))]
        runs = [_inspect(path) for _ in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r["total"])
        cond = min((_inspect(path, "condense") for _ in range(max(1, args.repeat))), key=lambda r: r["total"])
        jem = min((_inspect(path, "full", "jemalloc") for _ in range(max(1, args.repeat))), key=lambda r: r["total"])
        results[n] = (min(greps), best, path.stat().st_size, cond, jem)
        path.unlink()
    print(f"{'lines':>10}{'MB':>6}{'reading':>10}{'grep s':>8}{'parse s':>9}{'analysis s':>11}{'text s':>8}"
          f"{'total s':>9}{'x grep':>8}{'pending':>9}{'peak MB':>9}")
    for n, (g, r, size, c, j) in results.items():
        for name, x in (("full", r), ("condensed", c), ("jemalloc", j)):
            print(f"{n:>10,}{size / 1e6:>6.0f}{name:>10}{g:>8.3f}{x['parse']:>9.3f}{x['analysis']:>11.3f}"
                  f"{x['text']:>8.3f}{x['total']:>9.3f}{x['total'] / g:>8.1f}{x['pending']:>9,}{x['maxrss_mb']:>9.0f}")
        if r["text_body"] != c["text_body"]:
            print(f"  !! {n:,} lines: the condensed text differs from the full one")
    print("jemalloc: the full reading with Arrow's default memory pool, as before 2026-12-02 (the baseline)")
    (_, small, _, _, _), (_, big, _, _, _) = results[args.small], results[args.lines]
    print(f"scaling: {args.lines:,} lines took {big['total'] / small['total']:.1f}x the time of {args.small:,} "
          f"(linear = {args.lines / args.small:.0f}x); import of the kit, not counted: {big['import']:.2f}s")


if __name__ == "__main__":
    main()

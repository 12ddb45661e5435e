"""Benchmark: a huge file that is one log line, through ``repro inspect``, in bounded memory.

Usage: ``python benchmarks/bench_huge_line.py [--mb 200]``

Writes one slog line of ``--mb`` MB (a ``blob=`` field of ``x``), then runs ``repro inspect`` on it
in a fresh process and reports wall time and peak RSS. The baseline in the same run is the same
process reading the file with ``open().read()`` alone (what any parser must at least pay if it loads
the file). The reader streams 16 MB blocks and cuts the line at 64 KiB, so the peak stays near one
block plus the kit's own imports — the target is ≤ 500 MB for 200 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_INSPECT = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from repro_lib.inspect import inspect_paths
ins = inspect_paths([sys.argv[1]])
text = ins.text()
print(json.dumps({"s": time.perf_counter() - t0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": len(ins.events), "line_len": len(ins.events["line"].iloc[0])}))
"""
_READ = r"""
import json, resource, sys, time
t0 = time.perf_counter()
data = open(sys.argv[1], "rb").read()
print(json.dumps({"s": time.perf_counter() - t0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-huge-") as tmp:
        path = Path(tmp) / "orchestrator.log"
        t0 = time.perf_counter()
        with path.open("wb") as fh:
            fh.write(b'time=2025-12-25T20:00:00Z level=INFO msg="huge" blob=')
            block = b"x" * (1 << 20)
            for _ in range(args.mb):
                fh.write(block)
            fh.write(b"\n")
        print(f"wrote one line of {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f}s")
        base = _child(_READ, path)
        got = _child(_INSPECT, path)
    print(f"{'':24}{'wall s':>9}{'peak MB':>10}")
    print(f"{'open().read() (baseline)':24}{base['s']:>9.2f}{base['rss_mb']:>10.0f}")
    print(f"{'repro inspect':24}{got['s']:>9.2f}{got['rss_mb']:>10.0f}   rows={got['rows']}, "
          f"line kept: {got['line_len']:,} chars")
    print(f"peak memory: {got['rss_mb']:.0f} MB (target <= 500 MB), "
          f"{got['rss_mb'] / base['rss_mb']:.2f}x the plain read")


if __name__ == "__main__":
    main()

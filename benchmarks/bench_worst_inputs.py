"""Benchmark: the worst inputs through ``repro inspect`` and ``repro run``, with their peaks.

Usage: ``python benchmarks/bench_worst_inputs.py [--mb 200] [--only NAME ...] [--keep DIR]``

Each case writes its input into a temporary folder, then runs the CLI (``python -m repro_lib.cli``) in a
fresh process under a small Python wrapper that reports the child's wall time and its peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the kernel's own count, nothing of this process). The
promise (README "What the kit promises"): any ``--mb`` MB input is read or refused within 1 GB and 30 s.

Cases: random bytes (inspect, run); one huge line (inspect, run); lines no format reads (inspect, and with
--no-condense: refused); 10^6 edges listed in a scenario file; a YAML alias bomb (424 bytes, 10^10 values
once expanded); 900 levels of nesting; a 10,001-edge scenario file (loaded within 0.2 s, then refused:
at most 10,000 edges, like --set edges).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB, LIMIT_S = 1024.0, 30.0

_WRAP = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
try:
    p = subprocess.run([sys.executable, "-m", "repro_lib.cli", *sys.argv[1:]], capture_output=True, text=True,
                       timeout=300)
    rc, err = p.returncode, p.stderr
except subprocess.TimeoutExpired:
    rc, err = "timeout", ""
print(json.dumps({"rc": rc, "s": time.perf_counter() - t0, "err": err.strip().splitlines()[-1:] if err else [],
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _random(path: Path, mb: int) -> None:
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def _huge_line(path: Path, mb: int) -> None:
    with path.open("wb") as f:
        f.write(b'time=2025-12-25T20:00:00.000Z level=INFO msg="EDGE: starting" node_id=n-1 blob=')
        chunk = b"x" * (1 << 20)
        for _ in range(mb):
            f.write(chunk)
        f.write(b"\n")


def _garbage_lines(path: Path, mb: int) -> None:
    """Printable lines no log format reads: each a fresh random line, 20-200 characters."""
    rng = random.Random(1)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =:-_./"
    block = bytearray()
    with path.open("wb") as f:
        written = 0
        while written < mb << 20:
            block.clear()
            while len(block) < 1 << 20:
                block += bytes(rng.choices(alphabet, k=rng.randint(20, 200))) + b"\n"
            f.write(block)
            written += len(block)


def _edges(path: Path, n: int) -> None:
    with path.open("w") as f:
        f.write("name: many\nedges:\n")
        f.writelines(f"  - edge{i}\n" for i in range(1, n + 1))
        f.write("steps:\n  - up: {}\n")


def _alias_bomb(path: Path) -> None:
    lines, prev = ["name: bomb", "labels:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"], "a"
    for name in "bcdefghij":
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = name
    path.write_text("\n".join(lines) + "\nsteps:\n  - up: {}\n")


def _deep(path: Path) -> None:
    path.write_text("name: deep\nlabels: " + "[" * 900 + "]" * 900 + "\nsteps:\n  - up: {}\n")


#: name -> (file name, writer, CLI arguments after the file)
CASES: dict[str, tuple[str, Callable[[Path, int], None], list[str], str]] = {
    "random bytes: inspect": ("random.log", _random, [], "inspect"),
    "random bytes: run": ("random.yaml", _random, [], "run"),
    "one huge line: inspect": ("huge-line.log", _huge_line, [], "inspect"),
    "one huge line: run": ("huge-line.yaml", _huge_line, [], "run"),
    "lines no format reads: inspect": ("garbage.log", _garbage_lines, [], "inspect"),
    "lines no format reads: inspect --no-condense": ("garbage.log", _garbage_lines, ["--no-condense"], "inspect"),
    "10^6 listed edges: run": ("edges-1m.yaml", lambda p, _mb: _edges(p, 1_000_000), [], "run"),
    "10,001 listed edges: run": ("edges-10k.yaml", lambda p, _mb: _edges(p, 10_001), [], "run"),
    "alias bomb (424 B): run": ("bomb.yaml", lambda p, _mb: _alias_bomb(p), [], "run"),
    "900 levels deep: run": ("deep.yaml", lambda p, _mb: _deep(p), [], "run"),
}


def _load_time(path: Path) -> float:
    """The bounded loader on a file, in a fresh process (best of 5)."""
    code = ("import sys, time; from repro_lib.schema import read_yaml; b = []\n"
            "for _ in range(5):\n t0 = time.perf_counter(); read_yaml(sys.argv[1])\n"
            " b.append(time.perf_counter() - t0)\n"
            "print(min(b))")
    return float(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--only", nargs="*", help="run only the cases whose name contains one of these words")
    ap.add_argument("--keep", type=Path, help="write the inputs here (kept) instead of a temporary folder")
    args = ap.parse_args()
    cases = {k: v for k, v in CASES.items() if not args.only or any(w in k for w in args.only)}
    tmp = tempfile.TemporaryDirectory(prefix="bench-worst-") if args.keep is None else None
    folder = args.keep or Path(tmp.name)  # type: ignore[union-attr]
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{args.mb} MB inputs; promise: read or refused within {LIMIT_MB:.0f} MB and {LIMIT_S:.0f} s")
    print(f"{'case':<46}{'input':>10}{'exit':>6}{'seconds':>9}{'peak MB':>9}  ok  what it said")
    try:
        for name, (fname, write, extra, command) in cases.items():
            path = folder / fname
            if not path.exists():
                write(path, args.mb)
            out = subprocess.run([sys.executable, "-c", _WRAP, command, str(path), *extra], capture_output=True,
                                 text=True, cwd=folder, check=True)
            r = json.loads(out.stdout)
            ok = r["rc"] in (0, 1, 2) and r["peak_mb"] < LIMIT_MB and r["s"] < LIMIT_S
            said = (r["err"][0] if r["err"] else "(read)").replace(str(folder) + "/", "")[:110]
            size = path.stat().st_size
            print(f"{name:<46}{size / 1e6:>8.1f}MB{r['rc']!s:>6}{r['s']:>9.1f}{r['peak_mb']:>9.0f}  "
                  f"{'yes' if ok else 'NO '} {said}", flush=True)
            if fname == "edges-10k.yaml":
                print(f"{'  its load by the bounded loader (best of 5)':<46}{'':>16}{_load_time(path):>9.3f}s "
                      "(target <= 0.2 s)", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()

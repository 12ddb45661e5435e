"""Benchmark: parse a big mixed-format log into the event table vs ``grep -cE``.

Usage: ``python benchmarks/bench_parse.py [--lines 1000000] [--seed 1] [--repeat 3]
[--baseline-lines 100000] [--keep]``

Generates a realistic mix (mostly heartbeat/info noise in slog text, slog JSON and zerolog
console, ~5 % instrumented lines, ~20 % behind Docker's timestamp prefix, a little garbage),
then times ``grep -cE 'DISPATCH|PUBLISH|REEVALUATOR' FILE`` and ``parse_file`` and prints lines/s
and the parse/grep ratio. Each is run ``--repeat`` times; the first (cold) run and the best are
shown. As a baseline measured in the same run, the per-line reference parser
(``parse_file(..., fast=False)``) parses the first ``--baseline-lines`` lines; its rate is
extrapolated to the whole file.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from repro_lib.capture.logs import parse_file
from repro_lib.logfmt import LogRecord, docker_prefix, format_record

EPOCH = datetime(2025, 12, 25, 20, 0, 0, tzinfo=UTC)
NODES = [f"n-{random.Random(i).getrandbits(32):08x}" for i in range(6)]


def node_ids(n: int) -> list[str]:
    """``n`` node ids, the first six those of :data:`NODES`."""
    return [f"n-{random.Random(i).getrandbits(32):08x}" for i in range(n)]


def _instrumented(rng: random.Random, t: float, nodes: list[str] = NODES) -> LogRecord:
    node = rng.choice(nodes)
    ex = f"e-{rng.getrandbits(64):016x}"
    job = rng.choice(["test-heartbeat", "new-test-job", "scada-ingest"])
    options = [
        ("DEBUG", "DISPATCH: Attempting to send message",
         (("event_type", "ExecutionCreated"), ("target_node", node), ("execution_id", ex))),
        ("ERROR", "DISPATCH: Failed to send execution assignment - EVENT WILL BE SKIPPED",
         (("err", "node not connected"), ("target_node", node), ("execution_id", ex))),
        ("DEBUG", "PUBLISH: Checking node connection",
         (("node_id", node), ("connection_exists", True), ("connection_alive", rng.random() < .8))),
        ("WARN", "PUBLISH: Node not connected - message will be LOST",
         (("node_id", node), ("root_cause", "dispatcher.go:54 uses RetryStrategySkip"))),
        ("INFO", "REEVALUATOR: Created evaluation for job",
         (("job_id", job), ("node_id", node), ("trigger", "node-join"))),
        ("INFO", "EXECUTION: state changed",
         (("execution_id", ex), ("job", job), ("node_id", node), ("state", "pending"),
          ("desired", "running"))),
        ("INFO", "EDGE: Received RunExecutionRequest", (("execution_id", ex),)),
    ]
    level, msg, fields = rng.choice(options)
    return LogRecord(t, "orchestrator", level, msg, fields)


def _noise(rng: random.Random, t: float, i: int, nodes: list[str] = NODES) -> LogRecord:
    node = rng.choice(nodes)
    if rng.random() < 0.7:
        return LogRecord(t, "orchestrator", "DEBUG", "heartbeat received",
                         (("node_id", node), ("seq", i), ("latency_ms", rng.randint(1, 40))))
    return LogRecord(t, "orchestrator", "INFO", "evaluation broker stats",
                     (("pending", rng.randint(0, 5)), ("inflight", rng.randint(0, 3))))


def generate(path: Path, n: int, seed: int = 1, nodes: int = 6, step: float = 0.01) -> None:
    """Write ``n`` mixed-format lines to ``path``, one every ``step`` seconds, about ``nodes`` nodes
    (``nodes=1000, step=86400 / n``: a day of a 1,000-edge fleet)."""
    rng = random.Random(seed)
    fmts = ("text", "json", "console")
    ids = NODES if nodes == len(NODES) else node_ids(nodes)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            t = i * step
            r = rng.random()
            if r < 0.004:
                fh.write(rng.choice(["panic: runtime error: nil map", "goroutine 1 [running]:",
                                     "\tmain.go:12 +0x1d", "==== Expanso Edge v2.1.21 ====",
                                     '{"truncated":"lin']) + "\n")
                continue
            rec = _instrumented(rng, t, ids) if r < 0.054 else _noise(rng, t, i, ids)
            line = format_record(rec, EPOCH, fmts[i % 3])
            if rng.random() < 0.2:
                line = docker_prefix(EPOCH, t) + line
            fh.write(line + "\n")


def _timed(fn, repeat: int) -> tuple[list[float], object]:  # noqa: ANN001 - small helper
    times, out = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="runs of grep and of parse_file")
    ap.add_argument("--baseline-lines", type=int, default=100_000,
                    help="lines for the per-line (slow path) baseline; 0 to skip")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    path = tmp / "orchestrator-debug.log"
    t0 = time.perf_counter()
    generate(path, args.lines, args.seed)
    size = path.stat().st_size
    print(f"generated {args.lines:,} lines, {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f}s"
          f" -> {path}")
    path.read_bytes()  # warm the page cache for both contenders
    t_grep, out = _timed(lambda: subprocess.run(
        ["grep", "-cE", "DISPATCH|PUBLISH|REEVALUATOR", str(path)],
        capture_output=True, text=True, check=False), args.repeat)
    t_parse, df = _timed(lambda: parse_file(path), args.repeat)
    n = args.lines
    print(f"{'':10}{'first s':>9}{'best s':>9}{'lines/s (best)':>16}  result")
    print(f"{'grep':10}{t_grep[0]:9.3f}{min(t_grep):9.3f}{n / min(t_grep):16,.0f}  "
          f"{out.stdout.strip()} matches")
    print(f"{'parse':10}{t_parse[0]:9.3f}{min(t_parse):9.3f}{n / min(t_parse):16,.0f}  {len(df):,} rows, "
          f"{int((~df['kind'].isin(['log', 'raw'])).sum()):,} events")
    if args.baseline_lines:
        sample = tmp / "sample-debug.log"
        with path.open("rb") as src, sample.open("wb") as dst:
            for i, raw in enumerate(src):
                if i >= args.baseline_lines:
                    break
                dst.write(raw)
        m = min(args.baseline_lines, n)
        t0 = time.perf_counter()
        parse_file(sample, fast=False)
        t_slow = time.perf_counter() - t0
        rate = m / t_slow
        print(f"{'per-line':10}{'':9}{n / rate:9.3f}{rate:16,.0f}  slow path on {m:,} lines, "
              f"extrapolated to {n:,}")
        sample.unlink()
    print(f"ratio parse/grep: {t_parse[0] / t_grep[0]:.1f}x first run, "
          f"{min(t_parse) / min(t_grep):.1f}x best")
    if args.baseline_lines:
        print(f"speed-up over the per-line parser: {n / rate / min(t_parse):.1f}x")
    if not args.keep:
        path.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()

"""Benchmark: :func:`repro_lib.redact.redact` and :func:`~repro_lib.redact.redact_frame` on a million log lines.

Usage: ``python benchmarks/bench_redact.py [--lines 1000000] [--secret-rate 0.01] [--seed 1] [--repeat 3]``

Builds ``--lines`` mixed log lines (Go slog text, zerolog console, zerolog/slog JSON, ~20 % behind a
docker-compose ``edge1-1  | `` prefix; ``--secret-rate`` of them hold a planted secret of one of the
shapes redact masks, a few more hold harmless secret-ish words such as ``tokens``) and times, each
``--repeat`` times (best shown):

- the baselines, measured in the same run over the same lines: ``str.lower()`` per line, and one
  ``re.search`` per line with a small ``token|secret|password`` regex (what any keyword prefilter costs);
- ``redact(line)`` per line, ``redact(text)`` on the lines joined into one text (how run folders write
  log files), and ``redact_frame`` on a DataFrame of them (``source``, ``line``, ``msg`` columns).

It prints seconds, µs per line and the ratio to the ``re.search`` baseline, and checks that every
planted secret is gone and that no clean line changed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from repro_lib.redact import redact, redact_frame

NODES = [f"n-{random.Random(i).getrandbits(32):08x}" for i in range(6)]
SECRETS = (
    "token={v}", "password={v}", '"api_key":"{v}"', "Authorization: Bearer {v}", "--token {v}",
    "url=nats://{v}@nats:4222", "client_secret={v}", "config set node.auth.secret {v}",
    "AKIA{V16}", "ghp_{v36}", "mysql -uroot -p{v} app",
)
HARMLESS = ("tokens used: 12", "password reset requested", "secret sauce recipe", "DOCKER_PASSWORD environment")


def _value(rng: random.Random, i: int) -> dict[str, str]:
    tail = f"{rng.getrandbits(64):016x}"
    return {"v": f"PLANT{i}x{tail[:8]}", "V16": f"PLANT{i:011d}"[-16:].upper().rjust(16, "Z"),
            "v36": f"PLANT{i}{tail}".ljust(36, "a")[:36]}


def _line(rng: random.Random, i: int, extra: str) -> str:
    node = rng.choice(NODES)
    ex = f"e-{rng.getrandbits(32):08x}"
    msg = rng.choice(["heartbeat received", "EXECUTION: state changed", "NATS: connected",
                      "DISPATCH: Attempting to send message", "evaluation broker stats"])
    fmt = i % 4
    if fmt == 0:
        line = (f"time=2026-11-28T02:25:{i % 60:02d}.{i % 1000:03d}Z level=INFO msg=\"{msg}\" node_id={node} "
                f"execution_id={ex} seq={i}")
    elif fmt == 1:
        line = f"02:25:{i % 60:02d}.{i % 1000:03d} INF pkg/transport/dispatcher.go:103 > {msg} node_id={node} seq={i}"
    elif fmt == 2:
        line = json.dumps({"level": "info", "time": f"2026-11-28T02:25:{i % 60:02d}Z", "node_id": node,
                           "execution_id": ex, "message": msg})
    else:
        line = f"time=2026-11-28T02:25:{i % 60:02d}Z level=DEBUG msg=\"{msg}\" latency_ms={rng.randint(1, 40)}"
    if extra:
        line = f"{line} {extra}" if fmt != 2 else line[:-1] + f', "note": {json.dumps(extra)}}}'
    return f"edge1-1  | {line}" if rng.random() < 0.2 else line


def generate(n: int, secret_rate: float, seed: int) -> tuple[list[str], list[str]]:
    """``n`` lines, and the planted secret values."""
    rng = random.Random(seed)
    lines: list[str] = []
    planted: list[str] = []
    for i in range(n):
        r = rng.random()
        extra = ""
        if r < secret_rate:
            vals = _value(rng, i)
            shape = SECRETS[i % len(SECRETS)]
            extra = shape.format(**vals)
            planted.append(next(v for k, v in vals.items() if "{" + k + "}" in shape))
        elif r < secret_rate * 1.5:
            extra = rng.choice(HARMLESS)
        lines.append(_line(rng, i, extra))
    return lines, planted


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--secret-rate", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    lines, planted = generate(args.lines, args.secret_rate, args.seed)
    text = "\n".join(lines) + "\n"
    df = pd.DataFrame({"source": ["edge1" if i % 2 else "orchestrator" for i in range(len(lines))],
                       "line": lines, "msg": [ln[-60:] for ln in lines]})
    print(f"{len(lines):,} lines ({len(text) / 1e6:.0f} MB), {len(planted):,} planted secrets; "
          f"generated in {time.perf_counter() - t0:.1f} s")

    simple = re.compile(r"(?i)token|secret|password")
    rows: list[tuple[str, float]] = []
    t, _ = best(lambda: [ln.lower() for ln in lines], args.repeat)
    rows.append(("baseline: str.lower() per line", t))
    t, _ = best(lambda: [simple.search(ln) for ln in lines], args.repeat)
    base = t
    rows.append(("baseline: re.search(token|secret|password) per line", t))
    t, per_line = best(lambda: [redact(ln) for ln in lines], args.repeat)
    rows.append(("redact(line) per line", t))
    t, whole = best(lambda: redact(text), args.repeat)
    rows.append(("redact(text) on the whole text", t))
    t, frame = best(lambda: redact_frame(df), args.repeat)
    rows.append(("redact_frame (source, line, msg)", t))

    n = len(lines)
    print(f"{'':55} {'seconds':>8} {'µs/line':>8} {'× re.search':>11}")
    for name, secs in rows:
        print(f"{name:55} {secs:8.2f} {secs / n * 1e6:8.2f} {secs / base:11.1f}")

    changed = sum(a != b for a, b in zip(lines, per_line, strict=True))
    leaked = [p for p in planted if p in whole]
    print(f"lines changed: {changed:,} (planted: {len(planted):,}); planted values left in redact(text): "
          f"{len(leaked)}; whole text == per line: {whole == chr(10).join(per_line) + chr(10)}; "
          f"frame == per line: {list(frame['line']) == per_line}")


if __name__ == "__main__":
    main()

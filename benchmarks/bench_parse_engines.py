"""Benchmark: the kit's hand-written parser (capture/_fast.py) beside well-kept columnar engines.

Usage: ``python benchmarks/bench_parse_engines.py [--lines 1000000] [--repeat 2]``
(extra engines: ``pip install polars duckdb``; each one missing is skipped with a line saying so).

Issue 20 asks whether ``_fast.py`` (~1,000 lines of numpy over bytes) is worth keeping. Same file, same
run: the mixed 1 M-line log of ``bench_parse.py`` (slog text, slog JSON, zerolog console, a fifth behind
Docker's timestamp prefix, a little garbage). Each engine extracts the *core* columns — time, level,
message, node, execution, job, state — with one regex per format, coalesced; the kit's parser does all of
that and more (every field into ``detail``, the kind/state mapping, upstream shapes, multi-line records,
the noise rows it drops on purpose), so an engine's time here is a **lower bound** for a replacement:
what it costs before the rest is written. ``grep -cE`` is the floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parse import generate  # noqa: E402

from repro_lib.capture.logs import parse_file  # noqa: E402

_PREFIX = r"^\d{4}-\d\d-\d\dT[\d:.]+Z "   # docker's --timestamps prefix
_TEXT = r'time=(\S+) level=(\w+) msg="?([^"]*?)"?(?: \w+=|$)'
_JSON = r'"time":"([^"]+)","level":"(\w+)","msg":"([^"]*)"'
_CONSOLE = r"^(\d\d:\d\d:\d\d(?:\.\d+)?) \| (\w+) \S+ > (.*?)(?: \w+=|$)"
_FIELDS = {"node": r'(?:node_id|target_node)[=":]+([\w-]+)', "execution": r'execution_id[=":]+([\w-]+)',
           "job": r'job(?:_id)?[=":]+([\w-]+)', "state": r'\bstate[=":]+(\w+)'}


def _polars(path: Path) -> int:
    import polars as pl

    lines = pl.scan_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
                        schema_overrides={"line": pl.String}, truncate_ragged_lines=True)
    line = pl.col("line").str.replace(_PREFIX, "")
    core = [pl.coalesce([line.str.extract(rx, i) for rx in (_TEXT, _JSON, _CONSOLE)]).alias(k)
            for i, k in ((1, "t"), (2, "level"), (3, "msg"))]
    fields = [line.str.extract(rx, 1).alias(k) for k, rx in _FIELDS.items()]
    return lines.select(*core, *fields).collect().height


def _duckdb(path: Path) -> int:
    import duckdb

    con = duckdb.connect()
    fields = ", ".join(f"regexp_extract(l, '{rx}', 1) AS {k}" for k, rx in _FIELDS.items())
    q = f"""
        WITH raw AS (SELECT regexp_replace(column0, '{_PREFIX}', '') AS l
                     FROM read_csv('{path}', header=false, delim='\x1f', quote='', escape='',
                                   columns={{'column0': 'VARCHAR'}}, strict_mode=false))
        SELECT coalesce(nullif(regexp_extract(l, '{_TEXT}', 1), ''), nullif(regexp_extract(l, '{_JSON}', 1), ''),
                        nullif(regexp_extract(l, '{_CONSOLE}', 1), '')) AS t,
               coalesce(nullif(regexp_extract(l, '{_TEXT}', 2), ''), nullif(regexp_extract(l, '{_JSON}', 2), ''),
                        nullif(regexp_extract(l, '{_CONSOLE}', 2), '')) AS level,
               coalesce(nullif(regexp_extract(l, '{_TEXT}', 3), ''), nullif(regexp_extract(l, '{_JSON}', 3), ''),
                        nullif(regexp_extract(l, '{_CONSOLE}', 3), '')) AS msg,
               {fields}
        FROM raw"""
    # fetched, not counted: a count(*) would let the planner skip the unused regexp columns
    return con.sql(q).to_arrow_table().num_rows


def _arrow(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = pa.array(path.read_bytes().decode("utf-8", errors="replace").split("\n"))
    s = pc.replace_substring_regex(lines, _PREFIX, "")
    named = [r'time=(?P<t>\S+) level=(?P<level>\w+) msg="?(?P<msg>[^"]*?)"?(?: \w+=|$)',
             r'"time":"(?P<t>[^"]+)","level":"(?P<level>\w+)","msg":"(?P<msg>[^"]*)"',
             r"^(?P<t>\d\d:\d\d:\d\d(?:\.\d+)?) \| (?P<level>\w+) \S+ > (?P<msg>.*?)(?: \w+=|$)"]
    got = [pc.extract_regex(s, rx) for rx in named]
    for k in ("t", "level", "msg"):
        pc.coalesce(*[pc.struct_field(g, k) for g in got])
    for k, rx in _FIELDS.items():
        pc.extract_regex(s, rx.replace("(", f"(?P<{k}>", 2).replace(f"(?P<{k}>?:", "(?:", 1))
    return len(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:  # removed however the run ends
        _run(Path(tmp) / "orchestrator-debug.log", a)


def _run(path: Path, a: argparse.Namespace) -> None:
    generate(path, a.lines, 1)
    path.read_bytes()
    print(f"{a.lines:,} mixed lines, {path.stat().st_size / 1e6:.0f} MB; best of {a.repeat} (2-core machine)")
    rows: list[tuple[str, float, str]] = []

    def timed(label: str, fn: object, note: str) -> None:
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            n = fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        rows.append((label, min(times), f"{note} ({n:,} rows; median {statistics.median(times):.2f} s)"))

    timed("grep -cE (the floor)", lambda: int(subprocess.run(
        ["grep", "-cE", "DISPATCH|PUBLISH|REEVALUATOR", str(path)], capture_output=True, text=True).stdout),
        "matching lines, nothing extracted")
    timed("repro_lib parse_file (_fast.py)", lambda: len(parse_file(path)), "the full event table")
    for label, fn, mod in (("polars (Rust regex, threads)", _polars, "polars"), ("duckdb (SQL regexp)", _duckdb,
                                                                                  "duckdb"),
                           ("pyarrow.compute (RE2)", _arrow, "pyarrow")):
        try:
            __import__(mod)
        except ImportError:
            rows.append((label, float("nan"), f"skipped: {mod} not installed (pip install {mod})"))
            continue
        timed(label, lambda fn=fn: fn(path), "core columns only: a lower bound")
    floor = rows[0][1]
    print(f"{'engine':<34}{'best s':>8}{'x grep':>8}  what")
    for label, t, note in rows:
        print(f"{label:<34}{t:8.2f}{t / floor if t == t else float('nan'):8.1f}  {note}")


if __name__ == "__main__":
    main()

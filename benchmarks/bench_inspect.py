"""Benchmark: ``repro inspect`` end to end against lnav and grep, on three workloads; the fleet day.

Usage: ``python benchmarks/bench_inspect.py [--lines 1000000] [--repeat 3] [--workloads mix,seed,fleet16]
[--fleet 10000000] [--fleet-sample 1000000] [--mix-detail] [--no-lnav]``

Part 1, the peers (what a user waits for, from the command to the prompt): on each workload, each
contender runs as a whole process, ``--repeat`` times, alternating; the median wall time and peak RSS
are printed with the ratio ``x lnav`` and ``x grep`` (goal: <= 0.5x lnav, <= 512 MB per 1 M lines). ``repro``
reads its bytecode from a cache of the benchmark's own, filled by one untimed run per workload, as an installed
kit does after its first run (see :data:`_ENV`).

* ``repro inspect FILE`` — parse, verdict, diagnosis and text, the reading it picks by default;
* lnav, one SQL query headless over the same file:
  ``lnav -n -c ';SELECT count(*) FROM all_logs WHERE log_body LIKE "%DISPATCH%"' FILE`` (Debian's
  package: installed with ``apt-get install -y lnav`` when run as root and missing; else skipped, with the
  reason printed). lnav runs with ``HOME`` set to a temporary folder holding one format of ours,
  :data:`LNAV_FORMAT` (``docker compose``'s prefix before a Bacalhau console line: lnav knows no format for
  the fleet's lines, and without one its ``all_logs`` is empty); what lnav parsed on each workload — rows per
  format, from a second, untimed query — is printed after the table;
* ``grep -cE 'DISPATCH|PUBLISH|REEVALUATOR' FILE``.

The workloads (generated, ``--lines`` each): ``mix`` — the parse benchmark's mix (:func:`bench_parse.generate`:
slog text, slog JSON and zerolog console, ~20 % behind Docker's prefix, ~5 % instrumented lines);
``seed`` — the seed's debug-log format: ``data/reference-run/logs/orchestrator.log`` (Docker's timestamp
prefix, slog text with DISPATCH/PUBLISH/REEVALUATOR lines) repeated with fresh execution ids and later
times; ``fleet16`` — a fleet's ``docker compose logs`` of Bacalhau 1.6 console lines (``edge-17-1  | 12:09:07 |
INF …``): 1,000 compute nodes and an orchestrator, bids, executions and handshakes.

Part 2 (``--mix-detail``): the mix at two sizes, each read in full and condensed, phase by phase
(parse, analysis, text) in a child process, with a check that both readings print the same text.
Part 3 (``--fleet N``, 0 skips): a day of a 1,000-edge fleet read condensed, with its peak memory, beside
grep and beside the full reading of its first million lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parse import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED_LOG = ROOT / "data" / "reference-run" / "logs" / "orchestrator.log"
LNAV_QUERY = ';SELECT count(*) FROM all_logs WHERE log_body LIKE "%DISPATCH%"'
GREP_PATTERN = "DISPATCH|PUBLISH|REEVALUATOR"
_DOCKER_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z (time=)(\S+?)Z( .*)$")
_EXEC_ID = re.compile(r"e-[0-9a-f]{8}")


def generate_seed(path: Path, n: int, seed: int = 1) -> None:
    """``n`` lines of the seed's debug-log format: the reference run's orchestrator log, repeated with fresh
    execution ids, each copy after the last (Docker's nanosecond prefix and slog's millisecond ``time=``)."""
    rng = random.Random(seed)
    lines = [ln for ln in SEED_LOG.read_text().splitlines() if ln.strip()]
    parsed = [_DOCKER_TS.match(ln) for ln in lines]
    t0 = datetime.fromisoformat(parsed[0].group(1)[:26]).replace(tzinfo=UTC)  # type: ignore[union-attr]
    offsets = [(datetime.fromisoformat(m.group(1)[:26]).replace(tzinfo=UTC) - t0) if m else None for m in parsed]
    span = max(o for o in offsets if o is not None) + timedelta(seconds=1)
    ids = sorted(set(_EXEC_ID.findall("\n".join(lines))))
    with path.open("w", encoding="utf-8") as fh:
        written, copy = 0, 0
        while written < n:
            fresh = {x: f"e-{rng.getrandbits(32):08x}" for x in ids}
            base = t0 + copy * span
            out = []
            for line, m, off in zip(lines, parsed, offsets, strict=True):
                if m is None or off is None:
                    out.append(line)
                    continue
                at = base + off
                rest = _EXEC_ID.sub(lambda e, f=fresh: f[e.group(0)], m.group(4))
                out.append(f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z time={at.strftime('%Y-%m-%dT%H:%M:%S.')}"
                           f"{at.microsecond // 1000:03d}Z{rest}")
            take = out[:n - written]
            fh.write("\n".join(take) + "\n")
            written += len(take)
            copy += 1


def generate_fleet16(path: Path, n: int, seed: int = 1, nodes: int = 1000) -> None:
    """``n`` lines of ``docker compose logs`` from a fleet on Bacalhau 1.6: ``edge-<i>-1  | HH:MM:SS | LVL msg
    k=v`` from ``nodes`` compute nodes and ``orchestrator-1  | …`` lines, one every 86.4 ms (a day for 1 M)."""
    rng = random.Random(seed)
    ids = [f"n-{random.Random(i).getrandbits(128):032x}" for i in range(nodes)]
    ids = [f"{x[:10]}-{x[10:14]}-{x[14:18]}-{x[18:22]}-{x[22:34]}" for x in ids]
    width = max(len("orchestrator-1"), len(f"edge-{nodes}-1"))
    step = 86400 / max(n, 1)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            t = int(i * step)
            clock = f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
            k = rng.randrange(nodes)
            node = ids[k]
            r = rng.random()
            ex = f"e-{rng.getrandbits(128):032x}"
            ex = f"{ex[:10]}-{ex[10:14]}-{ex[14:18]}-{ex[18:22]}-{ex[22:34]}"
            job = f"j-{rng.getrandbits(32):08x}"
            if r < 0.55:
                svc, text = f"edge-{k + 1}-1", f"DBG heartbeat sent node_id={node} seq={i}"
            elif r < 0.70:
                svc, text = "orchestrator-1", f"DBG heartbeat received from node {node}"
            elif r < 0.78:  # the compute node's watcher (compute/watchers/ncl_message_creator.go)
                svc, text = f"edge-{k + 1}-1", f"DBG Accepting bid for execution {ex} job_id={job} node_id={node}"
            elif r < 0.86:
                svc, text = f"edge-{k + 1}-1", f"INF Execution {ex} completed"
            elif r < 0.92:  # the orchestrator's node manager (orchestrator/nodes/manager.go)
                svc, text = "orchestrator-1", f"INF handshake successful with node {node}"
            elif r < 0.97:
                svc, text = f"edge-{k + 1}-1", f"INF Attempting to establish connection node_id={node}"
            else:
                svc, text = "orchestrator-1", f"WRN node {node} missed heartbeat, marking as unhealthy"
            fh.write(f"{svc:<{width}}  | {clock} | {text}\n")


WORKLOADS = {"mix": generate, "seed": generate_seed, "fleet16": generate_fleet16}

#: an lnav format for the fleet workload (lnav has none of its own for it: without one its ``all_logs`` is empty):
#: ``docker compose``'s service prefix, optionally ``--timestamps``, then zerolog's console line (Bacalhau 1.6)
LNAV_FORMAT = {
    "$schema": "https://lnav.org/schemas/format-v1.schema.json",
    "compose_bacalhau_console_log": {
        "title": "docker compose logs of Bacalhau console lines",
        "description": "docker compose's service prefix before zerolog's console writer (HH:MM:SS | LVL msg k=v)",
        "regex": {"std": {"pattern": r"^(?<service>[A-Za-z][\w.-]*)\s*\| "
                                     r"(?:(?<dockertime>\d{4}-\d\d-\d\dT\S+) )?(?<timestamp>\d{2}:\d{2}:\d{2}"
                                     r"(?:\.\d{1,9})?) \| (?<level>[A-Z?]{3}) (?<body>.*)$"}},
        "timestamp-format": ["%H:%M:%S.%L", "%H:%M:%S"],
        "level-field": "level",
        "level": {"fatal": "FTL", "critical": "PNC", "error": "ERR", "warning": "WRN", "info": "INF", "debug": "DBG",
                  "trace": "TRC"},
        "value": {"service": {"kind": "string", "identifier": True}, "dockertime": {"kind": "string"}},
        "sample": [{"line": "edge-17-1       | 12:09:07 | INF heartbeat sent node_id=n-1 seq=2"},
                   {"line": "orchestrator-1  | 00:00:00 | DBG heartbeat received from node n-535d9189"}],
    },
}
LNAV_FORMATS_QUERY = ";SELECT log_format, count(*) FROM all_logs GROUP BY log_format ORDER BY 2 DESC"


def lnav_home(tmp: Path) -> Path:
    """A temporary HOME for lnav holding :data:`LNAV_FORMAT` (the user's own ~/.lnav is never touched)."""
    home = tmp / "lnav-home"
    formats = home / ".lnav" / "formats" / "installed"
    formats.mkdir(parents=True, exist_ok=True)
    (formats / "compose_bacalhau_console.json").write_text(json.dumps(LNAV_FORMAT, indent=2))
    return home


def lnav_formats(lnav: str, path: Path, home: Path) -> str:
    """What lnav parsed in ``path``: its rows per format (``all_logs``), e.g. ``generic_log 1,000,000``."""
    out = subprocess.run([lnav, "-n", "-c", LNAV_FORMATS_QUERY, str(path)], capture_output=True, text=True,
                         check=False, env={**os.environ, "TERM": "dumb", "HOME": str(home)}).stdout
    rows = [ln.split() for ln in out.splitlines()[1:] if len(ln.split()) == 2 and ln.split()[1].isdigit()]
    return ", ".join(f"{fmt} {int(n):,} rows" for fmt, n in rows) or "no rows (no format recognised)"


def _lnav() -> tuple[str | None, str]:
    """(lnav's path, or None with why not): installs Debian's package when run as root and missing."""
    found = shutil.which("lnav")
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, "lnav is not installed and this is not root (apt-get install -y lnav)"
    got = subprocess.run(["apt-get", "install", "-y", "-qq", "lnav"], capture_output=True, text=True,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False)
    found = shutil.which("lnav")
    return (found, "") if found else (None, f"apt-get install -y lnav failed: {got.stderr.strip()[-200:]}")


#: the contenders' environment: the kit's bytecode read from a cache of the benchmark's own, as an installed kit
#: does after its first run (this machine sets ``PYTHONDONTWRITEBYTECODE`` and a checkout keeps no ``__pycache__``:
#: every start would compile the kit's modules, ~0.2 s); filled by one untimed run in :func:`peers`
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / f"repro-bench-pycache-{os.getuid()}")


def whole_process(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
                  ) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of ``cmd`` run as a process (in ``cwd``), from start to exit. The peak is GNU
    time's (``/usr/bin/time -f %M``): a child forked from this big process would count the parent's pages as its
    own."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        timed = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd] if Path("/usr/bin/time").exists() else cmd
        t0 = time.perf_counter()
        out = subprocess.run(timed, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False,
                             env={**_ENV, "TERM": "dumb", **(env or {})}, cwd=cwd).stdout
        wall = time.perf_counter() - t0
        peak = rss.read().strip().splitlines()
    return wall, (int(peak[-1]) / 1024 if peak and peak[-1].isdigit() else float("nan")), out


def peers(tmp: Path, names: list[str], lines: int, repeat: int, use_lnav: bool, seed: int) -> None:
    """Each workload: repro inspect, lnav and grep as whole processes, alternating; medians and ratios."""
    lnav, why = _lnav() if use_lnav else (None, "--no-lnav")
    if lnav is None:
        print(f"lnav: skipped — {why}")
    repro = [sys.executable, "-m", "repro_lib.cli", "inspect"]
    home = lnav_home(tmp)
    used: dict[str, str] = {}
    print(f"{'workload':<10}{'lines':>11}{'MB':>6}  {'contender':<16}{'wall s':>8}{'peak MB':>9}{'x lnav':>8}"
          f"{'x grep':>8}  verdict")
    for name in names:
        path = tmp / f"{name}.log"
        WORKLOADS[name](path, lines, seed)
        path.read_bytes()  # the page cache warm for every contender
        whole_process(repro + [str(path)])  # untimed: the bytecode cache filled with every module the reading imports
        cmds = {"repro inspect": repro + [str(path)],
                "grep -cE": ["grep", "-cE", GREP_PATTERN, str(path)]}
        if lnav:
            cmds["lnav, one query"] = [lnav, "-n", "-c", LNAV_QUERY, str(path)]
        runs: dict[str, list[tuple[float, float, str]]] = {k: [] for k in cmds}
        for _ in range(repeat):
            for k, cmd in cmds.items():
                runs[k].append(whole_process(cmd, {"HOME": str(home)} if k.startswith("lnav") else None))
        if lnav:
            used[name] = lnav_formats(lnav, path, home)
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
        verdict = next((ln for ln in runs["repro inspect"][0][2].splitlines() if ln.startswith("VERDICT")), "?")
        size = path.stat().st_size / 1e6
        for k, (wall, peak) in med.items():
            x_lnav = f"{wall / med['lnav, one query'][0]:.2f}" if lnav else "-"
            print(f"{name:<10}{lines:>11,}{size:>6.0f}  {k:<16}{wall:>8.2f}{peak:>9.0f}{x_lnav:>8}"
                  f"{wall / med['grep -cE'][0]:>8.1f}  {verdict[:60] if k == 'repro inspect' else ''}")
        path.unlink()
    for name, what in used.items():
        print(f"lnav read {name} as: {what}")
    if used:
        print(f"lnav's HOME was a temporary folder with one format added for the fleet's lines ({home}/.lnav/formats)")
    print("goal: repro inspect <= 0.5x lnav on each workload, peak <= 512 MB per 1 M lines")


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
text = Inspection(ev, d, None, "bench", [], sources_read(ev, d)).text()
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
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of each workload")
    ap.add_argument("--workloads", default="mix,seed,fleet16", help="comma-separated, of: " + ", ".join(WORKLOADS))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each contender (median is reported)")
    ap.add_argument("--no-lnav", action="store_true", help="leave lnav out")
    ap.add_argument("--small", type=int, default=100_000, help="--mix-detail: the smaller file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix-detail", action="store_true", help="the mix phase by phase, full and condensed")
    ap.add_argument("--fleet", type=int, default=0, help="lines of the fleet-day case (0: skip it; 10000000: a day)")
    ap.add_argument("--fleet-sample", type=int, default=1_000_000, help="its sample, read in full")
    ap.add_argument("--all-before", metavar="REV", help="`repro inspect --all` of the seed's format (--all-lines "
                    "lines), this kit beside the kit committed at REV, alternately; the texts compared byte for byte")
    ap.add_argument("--all-lines", type=int, default=200_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    try:
        names = [w for w in args.workloads.split(",") if w]
        unknown = [w for w in names if w not in WORKLOADS]
        if unknown:
            ap.error(f"unknown workload(s) {', '.join(unknown)}: choose from {', '.join(WORKLOADS)}")
        if names:
            peers(tmp, names, args.lines, args.repeat, not args.no_lnav, args.seed)
        if args.mix_detail:
            mix(tmp, args)
        if args.fleet:
            fleet(tmp, args.fleet, args.fleet_sample, args.seed)
        if args.all_before:
            every_finding(tmp, args.all_before, args.all_lines, args.repeat, args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def every_finding(tmp: Path, rev: str, lines: int, repeat: int, seed: int) -> None:
    """``repro inspect --all`` (every pending execution explained, not a few of each class) of the seed's format,
    this kit beside the kit committed at ``rev`` (``git archive``), run alternately; their texts compared."""
    import tarfile

    path = tmp / "seed.log"
    generate_seed(path, lines, seed)
    old = tmp / "kit-before"
    old.mkdir()
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "repro_lib"], capture_output=True,
                          check=True).stdout
    (old / "kit.tar").write_bytes(data)
    with tarfile.open(old / "kit.tar") as tf:
        tf.extractall(old, filter="data")
    cmd = [sys.executable, "-m", "repro_lib.cli", "inspect", "--all", str(path)]
    # each kit by PYTHONPATH, run from the temporary folder (`python -m` reads the current folder first: from the
    # checkout, both would be this kit)
    kits = {"now": {"PYTHONPATH": str(ROOT)}, rev: {"PYTHONPATH": str(old)}}
    probe = [sys.executable, "-c", "import repro_lib; print(repro_lib.__file__)"]
    for k, env in kits.items():
        where = whole_process(probe, env, cwd=tmp)[2].strip()
        if not where.startswith(str(ROOT if k == "now" else old)):
            raise SystemExit(f"the kit {k} imports from {where}")
        whole_process(cmd, env, cwd=tmp)  # the bytecode cache, untimed
    got: dict[str, list[tuple[float, float, str]]] = {k: [] for k in kits}
    for _ in range(max(1, repeat)):
        for k, env in kits.items():
            got[k].append(whole_process(cmd, env, cwd=tmp))
    print(f"\nrepro inspect --all, the seed's format, {lines:,} lines ({path.stat().st_size / 1e6:.0f} MB), "
          f"median of {max(1, repeat)}, whole process:")
    for k, runs in got.items():
        print(f"  {'this kit' if k == 'now' else 'the kit at ' + k:<24}{statistics.median(r[0] for r in runs):>8.2f} s"
              f"{max(r[1] for r in runs):>8.0f} MB   ({', '.join(f'{r[0]:.2f}' for r in runs)})")
    texts = {r[2] for runs in got.values() for r in runs}
    print(f"  the texts: {'byte-identical' if len(texts) == 1 else 'DIFFERENT'} "
          f"({len(next(iter(texts)).splitlines()):,} lines)")


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

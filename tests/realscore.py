"""Score `repro inspect` on a folder of real files against its hand-read `expected.json`, as a user runs it:
one file at a time, and the whole folder at once.

Measures (the same for the written-against and the held-out sets):
- level+time: of the lines that carry a level, those read with that level and the time written on the line itself
  (or, on a line that carries no time, with no borrowed time either);
- ids: of the ids written in a file (expected.json), those that reach the events table;
- cli: of the files that are CLI or SDK output, those recognised as such (a paste with tables or events);
- tracebacks and unfounded verdicts (a "not reproduced" with no running execution behind it) must be 0.
"""

from __future__ import annotations

import json
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro_lib.capture.logs import parse_file
from repro_lib.capture.tables import read_paste
from repro_lib.inspect import inspect_paths

# a level token as written by zerolog console, nats-server (`[INF]`), logfmt, JSON, Rust tracing and Python logging
LEVEL_RE = re.compile(
    r'(?:^|\s|\|\s|\]\s)(?:TRC|DBG|INF|WRN|ERR|FTL|PNC|\?\?\?)\s|"level"\s*:\s*"|\blevel=|'
    r"(?:^|[\s>:])\[(?:TRC|DBG|INF|WRN|ERR|FTL)\](?:\s|$)|"
    r"(?:^\S+Z|\d\d:\d\d:\d\d(?:\.\d+)?)\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\s")
_TOD = re.compile(r"(?<![\d:])(\d\d):(\d\d):(\d\d)(?![\d:])")
_CONSOLE_TOD = re.compile(r"(?<![\d:])(\d\d):(\d\d):(\d\d)(?:\.\d+)? \| ")
_RFC = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)")
_UNIX = re.compile(r'"(?:ts|time|timestamp)"\s*:\s*(\d{9,10}(?:\.\d+)?)\b')


def correct_time(first: str, t: object) -> bool:
    """The row's time is the one written on its own line; a line with no time gets none."""
    if (m := _UNIX.search(first)) is not None:
        return pd.notna(t) and abs(pd.Timestamp(t).timestamp() - float(m.group(1))) < 1
    if (m := _RFC.search(first)) is not None and first.lstrip().startswith(("{", "20", "time=")):
        written = pd.Timestamp(m.group(0).replace(" ", "T")).tz_convert("UTC")
        return pd.notna(t) and abs((written - t).total_seconds()) < 1
    m = _CONSOLE_TOD.search(first) or _TOD.search(first)
    if m is None:
        return pd.isna(t)  # nothing written: nothing borrowed
    return pd.notna(t) and pd.Timestamp(t).strftime("%H:%M:%S") == f"{m.group(1)}:{m.group(2)}:{m.group(3)}"


def _has(got: set[str], want: str) -> bool:
    return any(g == want or g.startswith(want) or (want.startswith(g) and len(g) >= 8) for g in got)


@dataclass
class Score:
    """Counts over one set of files."""

    name: str
    files: int = 0
    lv: list[int] = field(default_factory=lambda: [0, 0])
    ids: list[int] = field(default_factory=lambda: [0, 0])
    cli: list[int] = field(default_factory=lambda: [0, 0])
    conns: list[int] = field(default_factory=lambda: [0, 0])
    tracebacks: list[str] = field(default_factory=list)
    unfounded: list[str] = field(default_factory=list)
    misses: dict[str, list[str]] = field(default_factory=dict)

    def line(self) -> str:
        def pct(ab: list[int]) -> str:
            return f"{ab[0]}/{ab[1]} = {ab[0] / ab[1]:.1%}" if ab[1] else "0/0"

        return (f"{self.name} ({self.files} files): level+time {pct(self.lv)}; ids {pct(self.ids)}; "
                f"CLI pastes {pct(self.cli)}; nats connections {pct(self.conns)}; "
                f"tracebacks {len(self.tracebacks)}; unfounded verdicts {len(self.unfounded)}")

    def rate(self, what: str) -> float:
        a, b = getattr(self, what)
        return a / b if b else 1.0


def _unfounded(r: object, name: str) -> bool:
    v = r.diagnosis.verdict  # type: ignore[attr-defined]
    if v is None or v.verdict != "not_reproduced":
        return False
    ev = r.events  # type: ignore[attr-defined]
    running = ev[ev["kind"].isin(["state", "cli"]) & ev["execution"].notna()
                 & ev["state"].isin(["running", "completed"])]
    return running.empty


def score_folder(folder: Path, name: str, expected: dict[str, dict] | None = None) -> Score:
    """Score every .log/.txt file of `folder` one at a time, then the folder at once."""
    if expected is None:
        expected = json.loads((folder / "expected.json").read_text())
    sc = Score(name)
    files = sorted(p for p in folder.iterdir() if p.suffix in (".log", ".txt")
                   and not expected.get(p.name, {}).get("excluded"))  # a file whose source was written against
    for f in files:
        sc.files += 1
        exp = expected.get(f.name, {})
        miss: list[str] = []
        try:
            paste = read_paste(f)
            if exp.get("kind") == "cli" or (not exp and f.suffix == ".txt"):
                sc.cli[1] += 1
                ok = paste is not None and len(paste.events) > 0
                sc.cli[0] += ok
                if not ok:
                    miss.append("cli: not recognised")
            r = inspect_paths([str(f)], date="2025-01-01")
            if _unfounded(r, f.name):
                sc.unfounded.append(f.name)
            ev = r.events
            got: set[str] = set()
            for c in ("node", "job", "execution"):
                got |= set(ev[c].dropna().astype(str))
            want = [*exp.get("node_ids", []), *exp.get("job_ids", []), *exp.get("execution_ids", [])]
            sc.ids[1] += len(want)
            for w in want:
                hit = _has(got, w)
                sc.ids[0] += hit
                if not hit:
                    miss.append(f"id {w}")
            details = " ".join(ev["detail"].dropna().astype(str)) + " " + " ".join(ev["node"].dropna().astype(str))
            for c in exp.get("connections", []):
                kind, num = c.split(":")
                sc.conns[1] += 1
                hit = re.search(rf"\b{kind}[:=]{num}\b", details) is not None
                sc.conns[0] += hit
                if not hit:
                    miss.append(f"conn {c}")
            if paste is None or paste.also_log:
                df = parse_file(f)
                first = df["line"].fillna("").astype(str).str.split("\n").str[0]
                has_level = first.str.contains(LEVEL_RE) & (df["kind"] != "cli")
                for i in df.index[has_level]:
                    sc.lv[1] += 1
                    ok = bool(pd.notna(df.at[i, "level"]) and df.at[i, "kind"] != "raw"
                              and correct_time(first[i], df.at[i, "t"]))
                    sc.lv[0] += ok
                    if not ok:
                        miss.append(f"line: {first[i][:90]}")
        except Exception:  # noqa: BLE001 - a traceback is what is counted
            sc.tracebacks.append(f"{f.name}: {traceback.format_exc(limit=3)}")
        if miss:
            sc.misses[f.name] = miss
    try:  # the whole folder at once, as a user would pass it
        r = inspect_paths([str(f) for f in files])
        if _unfounded(r, "folder"):
            sc.unfounded.append(f"{folder.name} (whole folder)")
    except Exception:  # noqa: BLE001
        sc.tracebacks.append(f"{folder.name} (whole folder): {traceback.format_exc(limit=3)}")
    return sc


SETS = {"first 85": ("", "expected-issue18.json"), "written against": ("written-against", "expected.json"),
        "held out": ("held-out", "expected.json"), "held out 2": ("held-out-2", "expected.json"),
        "held out 3": ("held-out-3", "expected.json"), "held out 4": ("held-out-4", "expected.json")}


def main() -> None:
    """Print the scores of every set: `python tests/realscore.py` (misses with `-v`)."""
    import sys

    real = Path(__file__).resolve().parent / "fixtures" / "real"
    for name, (sub, exp) in SETS.items():
        folder = real / sub
        if not (folder / exp).exists():
            continue
        sc = score_folder(folder, name, json.loads((folder / exp).read_text()))
        print(sc.line(), flush=True)
        if "-v" in sys.argv:
            for f, m in sc.misses.items():
                print(f"  {f}: {m[:8]}")
            for t in sc.tracebacks:
                print("  TRACEBACK", t)


if __name__ == "__main__":
    main()

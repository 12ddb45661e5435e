"""Time zones (issue 18): zoneless console lines are read in the zone their file (or --tz) shows, and
the inspection always says which; never stamped UTC silently."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from repro_lib.inspect import events_from_logs, inspect_paths

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "fixtures" / "real"


def test_json_with_an_offset_places_the_console_lines_of_the_same_second() -> None:
    """Issue 4523's paste: JSON at 16:22:54-07:00, console lines at 16:22:54.198 local — the same second."""
    ev = events_from_logs([REAL / "bacalhau-issue-4523-json-and-console-1.5.log"])
    t = ev["t"]
    assert t.is_monotonic_increasing
    assert (t.max() - t.min()) < pd.Timedelta(seconds=2), t.tolist()
    assert t.min() == pd.Timestamp("2024-09-24T23:22:54Z")
    assert any("UTC−07:00" in n and "same file" in n for n in ev.attrs["zones"])


def _write(p: Path, lines: list[str]) -> Path:
    p.write_text("\n".join(lines) + "\n")
    return p


def test_an_offset_in_another_file_is_used_and_said(tmp_path: Path) -> None:
    js = _write(tmp_path / "orch.log", ['{"level":"info","time":"2025-03-01T09:00:00-07:00","message":"up"}'])
    con = _write(tmp_path / "edge.log", ["09:00:01.000 | INF edge up", "09:00:02.000 | INF edge ready"])
    ev = events_from_logs([js, con], date=dt.date(2025, 3, 1))
    edge = ev[ev["source"] == "edge"]["t"]
    assert edge.iloc[0] == pd.Timestamp("2025-03-01T16:00:01Z")
    assert any("other files" in n and "our reading" in n for n in ev.attrs["zones"])


@pytest.mark.parametrize(("tz", "hour"), [("-07:00", 17), ("UTC", 10), ("America/Los_Angeles", 17), ("+0530", 4)])
def test_tz_says_which_zone(tmp_path: Path, tz: str, hour: int) -> None:
    con = _write(tmp_path / "edge.log", ["10:00:00.000 | INF edge up"])
    ev = events_from_logs([con], date=dt.date(2025, 7, 1), tz=tz)
    assert ev["t"].iloc[0].hour == hour
    assert any("--tz" in n for n in ev.attrs["zones"])


def test_no_zone_anywhere_is_taken_as_utc_and_said(tmp_path: Path) -> None:
    con = _write(tmp_path / "edge.log", ["10:00:00.000 | INF edge up"])
    r = inspect_paths([str(con)], date="2025-07-01")
    assert r.events["t"].iloc[0] == pd.Timestamp("2025-07-01T10:00:00Z")
    assert "taken as UTC" in r.text() and "--tz" in r.text()


def test_different_offsets_are_not_guessed_between(tmp_path: Path) -> None:
    f = _write(tmp_path / "mixed.log", ['{"level":"info","time":"2025-03-01T09:00:00-07:00","message":"a"}',
                                       '{"level":"info","time":"2025-03-01T18:00:00+02:00","message":"b"}',
                                       "09:00:01.000 | INF c"])
    ev = events_from_logs([f])
    assert any("different offsets" in n for n in ev.attrs["zones"])


def test_a_raw_line_keeps_its_own_time_of_day(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.log", ["2025-03-01T10:00:00Z INF first", "10:00:05 ??? something no parser knows",
                                    "2025-03-01T10:00:09Z INF last"])
    ev = events_from_logs([f])
    raw = ev[ev["line"].str.contains("something", na=False)]
    assert raw["t"].iloc[0].strftime("%H:%M:%S") == "10:00:05", ev[["t", "kind", "line"]]


def test_a_bad_tz_is_one_line() -> None:
    log = str(REAL / "bacalhau-pr-4763-serve-console-1.6.log")
    p = subprocess.run([sys.executable, "-m", "repro_lib.cli", "inspect", log, "--tz", "Mars/Olympus"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "--tz" in p.stderr

"""A row whose line carries no time keeps its place in its file by the time of the row before it, and says so:
``detail`` holds ``t=borrowed`` (``date=borrowed`` when its own time of day was read). A file with no time anywhere
keeps none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from repro_lib.capture.logs import BORROWED_NOTE, parse_file
from repro_lib.inspect import events_from_logs

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def test_untimed_nats_lines_among_timed_ones_are_marked(tmp_path: Path) -> None:
    log = tmp_path / "nats.log"
    log.write_text("\n".join([
        "[1] 2021/03/10 15:08:19.593813 [INF] Starting nats-server",
        "[INF] 10.0.0.5:4222 - cid:9 - Slow Consumer Detected: WriteDeadline of 10s exceeded",
        "[1] 2021/03/10 15:08:21.000000 [INF] Server is ready"]) + "\n")
    for fast in (False, True):
        df = parse_file(log, fast=fast)
        assert list(df["msg"].str[:8]) == ["Starting", "Slow Con", "Server i"]  # the file's order
        slow = df.iloc[1]
        assert (slow["kind"], slow["state"]) == ("fault", "slow_consumer")
        assert slow["t"] == df["t"].iloc[0] and BORROWED_NOTE in slow["detail"].split()
        assert not df["detail"].iloc[[0, 2]].fillna("").str.contains("borrowed").any()  # timed lines: their own


def test_raw_lines_say_their_time_is_borrowed() -> None:
    df = parse_file(REAL / "written-against" / "nats-docs-leafnode-hub-and-leaf.log")
    raw = df[df["kind"] == "raw"]
    assert len(raw) == 4 and (raw["detail"] == BORROWED_NOTE).all()
    assert df.loc[df["kind"] != "raw", "detail"].str.startswith("pid=").all()
    assert df["t"].is_monotonic_increasing  # each elision stays after the line it follows


def test_a_file_with_no_time_anywhere_borrows_none() -> None:
    df = parse_file(REAL / "written-against" / "nats-server-pr-1348-stale-route-no-time.log")
    assert df["t"].isna().all() and not df["detail"].str.contains("borrowed").any()


def test_a_raw_line_s_own_time_of_day_is_its_own(tmp_path: Path) -> None:
    log = tmp_path / "orch.log"
    log.write_text('{"level":"info","time":"2025-03-01T09:00:00Z","message":"up"}\n'
                   "09:00:05 something no parser reads\n")
    ev = events_from_logs([log])
    row = ev.iloc[1]
    assert row["kind"] == "raw" and row["t"] == pd.Timestamp("2025-03-01T09:00:05Z")
    assert row["detail"] == "date=borrowed"

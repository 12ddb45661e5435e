"""Large files the byte pass does not know (nats-server's own log, journald) are read as the per-line reading
reads them, not left raw: `parse_file` compares the two readings on blocks of the file and takes the per-line one
when it reads more (`capture/logs._fast_reads_less`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from repro_lib.capture import _fast, logs
from repro_lib.capture.logs import FAST_MIN_BYTES, parse_file

REAL = Path(__file__).resolve().parent / "fixtures" / "real" / "written-against"


def _big(tmp_path: Path, src: Path, name: str) -> Path:
    lines = src.read_text().splitlines()
    out = tmp_path / name
    body = "\n".join(lines) + "\n"
    out.write_text(body * (FAST_MIN_BYTES // len(body.encode()) + 2))
    assert out.stat().st_size > FAST_MIN_BYTES  # the vectorised path's size
    return out


@pytest.mark.timeout(300)
def test_a_large_nats_server_log_keeps_its_levels_and_times(tmp_path: Path) -> None:
    path = _big(tmp_path, REAL / "nats-server-issue-449-debug-cid-rid-2017.log", "nats.log")
    # the byte pass alone leaves every line raw: the premise of the fallback
    cols = _fast.columns_from_bytes(path.read_bytes(), None)
    assert cols is not None and set(cols["kind"].to_pylist()) == {"raw"}
    df = parse_file(path)
    assert len(df) > 20_000
    assert df["level"].notna().all() and df["t"].notna().all() and (df["kind"] != "raw").all()
    small = parse_file(REAL / "nats-server-issue-449-debug-cid-rid-2017.log")
    assert df["level"].head(len(small)).tolist() == small["level"].tolist()


def test_a_known_format_with_some_prose_stays_on_the_vectorised_path(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_parse import generate

    path = tmp_path / "mix.log"
    generate(path, 60_000, 1)
    with path.open("a") as f:  # 3 % prose no reading reads
        f.write("".join(f"a note nobody formats, number {i}\n" for i in range(1800)))
    assert path.stat().st_size > FAST_MIN_BYTES
    called: list[int] = []
    real = logs._per_line_columns
    monkeypatch.setattr(logs, "_per_line_columns", lambda lines, date: called.append(len(lines)) or real(lines, date))
    df = parse_file(path)
    assert called and max(called) <= logs.PROBE_LINES  # probed, not read line by line
    assert (df["kind"] == "raw").sum() >= 1800


@pytest.mark.parametrize("line", [
    '20:14:03.512 | INF > msg=node_id=n-7f3a9c21',
    '20:14:03.512 | INF > {"time":"2025-12-25T20:14:03Z","level":"INFO","msg":"node_id=n-7f3a9c21',
    "edge-1-1  | 20:14:03 | INF lookup failed for job '65a1b2c3-0d4e-4f5a-8b6c-7d8e9f0a1b2c' key=v",
])
def test_ids_named_in_odd_places_read_alike_by_both_paths(line: str) -> None:
    """Ids a key or a word names where the byte pass reads no key (capture/_common.NAMED_HINT sends such lines to
    the per-line parser); a key written as another key's value names none."""
    from repro_lib.capture.logs import parse_lines

    fast = parse_lines([line], source="s", fast=True)
    slow = parse_lines([line], source="s", fast=False)
    for col in ("node", "job", "execution"):
        assert fast[col].tolist() == slow[col].tolist(), col
    if "msg=node_id=" in line:
        assert slow["node"].isna().all()
    if "job '" in line:
        assert fast["job"].iloc[0] == "65a1b2c3-0d4e-4f5a-8b6c-7d8e9f0a1b2c"


def test_above_its_bound_the_fallback_stands_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over FALLBACK_MAX_BYTES keep the vectorised reading (the time and memory bounds of any input)."""
    path = _big(tmp_path, REAL / "nats-server-issue-449-debug-cid-rid-2017.log", "nats.log")
    monkeypatch.setattr(logs, "FALLBACK_MAX_BYTES", path.stat().st_size - 1)
    df = parse_file(path)
    assert (df["kind"] == "raw").all()

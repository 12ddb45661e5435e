"""Condensed reading (`repro inspect` of logs too big to hold): blocks, and the same answer as the full table.

The promise under test: reading a log in blocks and keeping only the rows a diagnosis reads gives the
same ``repro inspect`` text — verdict, diagnosis, per-source lines, zones, counts — as holding every
row, on generated fleets, on sim runs written in every log format, on every real fixture, with the
blocks made tiny so that every file is cut many times.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from repro_lib import inspect as insp
from repro_lib.capture import reader
from repro_lib.capture.condense import ALARM_NEEDLES, totals_of
from repro_lib.capture.reader import read_log, read_log_blocks
from repro_lib.inspect import events_from_logs, inspect_paths
from repro_lib.logfmt import docker_prefix, format_record
from repro_lib.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests/fixtures/real"
LOGS = ROOT / "tests/fixtures/logs"
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_parse import generate  # noqa: E402


def _text(ins: insp.Inspection) -> str:
    """The inspection's text without the line that says it was condensed."""
    return "\n".join(x for x in ins.text().splitlines() if not x.startswith("condensed: "))


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 4 KiB at a time and cut blocks of ~16 KiB: every file of more than a few dozen lines is
    read in several blocks, and cuts land in every kind of place."""
    monkeypatch.setattr(reader, "_BLOCK", 4096)
    monkeypatch.setattr(insp, "BLOCK_BYTES", 16 << 10)


def _same(paths: list[Path], **kw: object) -> insp.Inspection:
    full = inspect_paths([str(p) for p in paths], condense=False, **kw)  # type: ignore[arg-type]
    cond = inspect_paths([str(p) for p in paths], condense=True, **kw)  # type: ignore[arg-type]
    assert totals_of(full.events) is None
    assert (totals_of(cond.events) is not None) == cond.title.startswith("logs: ")  # a paste alone: no log read
    assert _text(cond) == _text(full)
    assert cond.diagnosis.causes == full.diagnosis.causes
    return cond


# -- the block reader ---------------------------------------------------------------------------------
def _odd_files(tmp: Path) -> list[Path]:
    """Files the careful reader path handles: CRLF, lone CRs, a BOM, UTF-16, bad bytes, a long line."""
    line = "time=2025-01-01T00:00:{:02d}Z level=INFO msg=\"hello\" n={}\n"
    body = "".join(line.format(i % 60, i) for i in range(3000))
    files = {
        "crlf.log": body.replace("\n", "\r\n").encode(),
        "lone-cr.log": body.replace("\n", "\r").encode(),
        "bom.log": b"\xef\xbb\xbf" + body.encode(),
        "utf16.log": body.encode("utf-16"),
        "bad-bytes.log": body.encode().replace(b"hello", b"h\xffllo", 50),
        "long-line.log": body.encode() + b"x" * 200_000 + b"\n" + body.encode(),
        "no-newline-at-end.log": body.encode().rstrip(b"\n"),
        "undated.log": "".join(f"plain line {i}\n" for i in range(5000)).encode(),
    }
    out = []
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        out.append(tmp / name)
    return out


def test_blocks_join_to_what_read_log_returns(tmp_path: Path, tiny_blocks: None) -> None:
    files = _odd_files(tmp_path) + sorted(REAL.glob("*.log")) + sorted(LOGS.glob("*.log"))
    for f in files:
        whole, notes = read_log(f)
        blocks = list(read_log_blocks(f, block_bytes=16 << 10))
        assert b"".join(b for b, _ in blocks) == bytes(whole), f
        assert blocks[-1][1].describe() == notes.describe(), f
        # memory: no block holds more than the block size, one raw read and one capped line
        assert max(len(b) for b, _ in blocks) <= (16 << 10) + reader._BLOCK + reader.MAX_LINE + 100, f
        if len(blocks) > 1 and f.name not in ("undated.log", "long-line.log"):
            # every block but the first starts with a dated line: no record, panic or date context split
            assert all(b[:4].isdigit() or b.startswith((b"time=", b'{"time"')) for b, _ in blocks[1:]), f


def test_the_block_reader_calls_progress_up_to_the_file_size(tmp_path: Path, tiny_blocks: None) -> None:
    f = _odd_files(tmp_path)[0]
    seen: list[tuple[int, int]] = []
    list(read_log_blocks(f, progress=lambda done, size: seen.append((done, size))))
    assert len(seen) > 3 and seen[-1] == (f.stat().st_size, f.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# -- the same answer as the full table ----------------------------------------------------------------
def test_a_generated_mix_condensed_says_what_the_full_table_says(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's mix (slog text and JSON, zerolog console, Docker prefixes, panics, garbage) and
    a 1,000-node fleet day, over the 4 MiB line where the vectorised parser takes over, in 1 MiB blocks."""
    monkeypatch.setattr(insp, "BLOCK_BYTES", 1 << 20)
    mix, fleet = tmp_path / "orchestrator.log", tmp_path / "fleet.log"
    generate(mix, 60_000, seed=3)
    generate(fleet, 60_000, seed=4, nodes=1000, step=86400 / 60_000)
    for f in (mix, fleet):
        assert f.stat().st_size > 4 << 20
        cond = _same([f])
        tot = totals_of(cond.events)
        assert tot is not None and tot.rows >= 59_000 and tot.kept < tot.rows / 4, tot
        assert "condensed: " in cond.text()


def _sim_logs(tmp: Path, scenario: str, sets: list[str]) -> list[Path]:
    """A sim run's records written as the real services would: each source in its own format."""
    run = run_scenario(load_scenario(ROOT / "scenarios" / scenario, sets), seed=2)
    fmts = ["text", "json", "console"]
    paths = []
    for k, source in enumerate(sorted({r.source for r in run.records})):
        fmt = fmts[k % 3]
        lines = [(docker_prefix(run.epoch, r.t) if k % 2 else "") + format_record(r, run.epoch, fmt)
                 for r in run.records if r.source == source]
        p = tmp / f"{source}.log"
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths


@pytest.mark.parametrize(("scenario", "sets"), [
    ("core-395.yaml", ["params.settle=20m"]),
    ("new-identities.yaml", []),
    ("cascading.yaml", []),
    ("transport-race.yaml", []),
])
def test_sim_runs_in_every_format_condensed_in_tiny_blocks(tmp_path: Path, tiny_blocks: None, scenario: str,
                                                          sets: list[str]) -> None:
    """Orchestrator and edge logs (roles, which node an edge log speaks for, ghosts after a new identity,
    faults, zoneless console lines) cut into 16 KiB blocks: the same text as the full table."""
    paths = _sim_logs(tmp_path, scenario, sets)
    cond = _same(paths)
    assert cond.diagnosis.verdict is not None or cond.diagnosis.causes


def test_every_real_fixture_condensed_in_tiny_blocks(tiny_blocks: None) -> None:
    """Real Bacalhau logs and pastes, one by one and the reference run's logs together."""
    for f in sorted(REAL.glob("*.log")) + sorted(REAL.glob("*.txt")) + sorted(LOGS.glob("*.log")):
        _same([f], date="2025-01-01")
    _same(sorted((ROOT / "data/reference-run/logs").glob("*.log")))


def test_a_compose_file_of_several_services_splits_the_same_way(tmp_path: Path, tiny_blocks: None) -> None:
    paths = _sim_logs(tmp_path, "core-395.yaml", ["params.settle=5m"])
    lines = []
    for p in paths:
        lines += [(ln[:30], f"{p.stem}-1  | {ln}") for ln in p.read_text().splitlines()]
    compose = tmp_path / "compose.log"
    compose.write_text("\n".join(x for _, x in sorted(lines, key=lambda x: x[0])) + "\n")
    cond = _same([compose])
    assert {r.source for r in cond.read} >= {"orchestrator", "edge1"}


def test_zones_are_decided_on_every_block_of_every_file(tmp_path: Path, tiny_blocks: None) -> None:
    """Zoneless console lines read in the offset the other lines show — decided over all blocks."""
    a = tmp_path / "orchestrator.log"
    b = tmp_path / "edge1.log"
    a.write_text("".join(f"2025-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}+02:00 INFO tick n={i}\n" for i in range(2000)))
    b.write_text("".join(f"10:{i // 60 % 60:02d}:{i % 60:02d}.100 | INF edge/main.go:1 > EDGE: heartbeat sent "
                         f"node_id=n-1\n" for i in range(2000)))
    c = tmp_path / "edge2.log"  # a source none of whose lines parse: still listed, judged, noted
    c.write_text("".join(f"plain text {i}\n" for i in range(3000)))
    cond = _same([a, b, c], date="2025-03-01")
    assert {r.source: r.parsed for r in cond.read}["edge2"] == 0
    assert any("edge1" in z and "+02:00" in z for z in cond.events.attrs["zones"]), cond.events.attrs["zones"]
    assert {r.source: r.role for r in cond.read}["edge1"] == "edge"


def test_alarm_needles_are_the_diagnosis_needles() -> None:
    from repro_lib.analysis.diagnosis import _ALARMS

    assert sorted(ALARM_NEEDLES) == sorted(n for _, needles in _ALARMS for n in needles)


def test_pasted_tables_with_condensed_logs(tmp_path: Path, tiny_blocks: None) -> None:
    """A node list pasted beside big logs: its rows are counted in, the verdict reads it."""
    paths = _sim_logs(tmp_path, "core-395.yaml", ["params.settle=5m"])
    paste = REAL / "bacalhau-issue-4460-node-list-disconnected-prompt.txt"
    _same([*paths, paste])


def test_the_events_of_a_condensed_table_are_a_subset_of_the_full_one(tmp_path: Path, tiny_blocks: None) -> None:
    paths = _sim_logs(tmp_path, "core-395.yaml", ["params.settle=10m"])
    full = events_from_logs(paths)
    cond = events_from_logs(paths, condense=True)
    cols = ["t", "source", "kind", "node", "execution", "state", "line"]
    key = lambda df: set(map(tuple, df[cols].astype(str).to_numpy().tolist()))  # noqa: E731
    assert key(cond) <= key(full) and 0 < len(cond) < len(full)
    assert (cond["t_s"].min(), cond["t_s"].max()) == (full["t_s"].min(), full["t_s"].max())


# -- the command line ---------------------------------------------------------------------------------
def test_cli_condense_flag_and_a_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    generate(log, 50_000, seed=5)
    cmd = [sys.executable, "-m", "repro_lib.cli", "inspect", str(log), "--condense"]
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert "condensed: " in piped.stdout and "VERDICT" in piped.stdout
    assert "reading" not in piped.stderr  # no bar in a pipe or a CI log
    full = subprocess.run(cmd[:-1] + ["--no-condense"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "condensed: " not in full.stdout
    assert [x for x in piped.stdout.splitlines() if not x.startswith("condensed: ")] == full.stdout.splitlines()
    # stderr on a terminal: the bar is drawn, then cleared
    main, side = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=side, cwd=tmp_path, text=True)
    os.close(side)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=300)
    os.close(main)
    assert proc.returncode == 0
    assert b"reading " in seen and b"100%" in seen and b"MiB [" in seen
    assert seen.endswith(b"\r") and seen.split(b"\r")[-2].strip() == b""  # wiped: the terminal is left clean
    assert "VERDICT" in out

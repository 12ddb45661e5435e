"""Condensed reading (`repro inspect` of logs too big to hold): blocks, and the same answer as the full table.

The promise under test: reading a log in blocks and keeping only the rows a diagnosis reads gives the
same ``repro inspect`` text — verdict, diagnosis, per-source lines, zones, counts — as holding every
row, on generated fleets, on sim runs written in every log format, on every real fixture, with the
blocks made tiny so that every file is cut many times.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from repro_lib import inspect as insp
from repro_lib.capture import logs, reader
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
    # files the per-line parser reads are never cut (its joins of journald and wrapped records span
    # lines); at 8 KiB and over the vectorised parser takes them, in both readings, and they are cut
    monkeypatch.setattr(logs, "FAST_MIN_BYTES", 8 << 10)


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
        if len(blocks) > 1 and not blocks[-1][1].loose_cuts:
            # every block but the first starts with a record dated by itself: no record or date context split
            assert all(reader._own_dated_record(b.split(b"\n", 1)[0]) for b, _ in blocks[1:]), f


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


def test_a_fleets_compose_logs_condensed_name_their_nodes_in_the_same_order(tmp_path: Path) -> None:
    """The benchmark's fleet (``docker compose logs`` of Bacalhau console lines): a source that speaks for many
    nodes lists them in the order the full table names them first (the condensed table once kept only the
    last row of each, and listed them in another order). One block: a file with no date of its own is cut only
    loosely, and says so."""
    from bench_inspect import generate_fleet16

    path = tmp_path / "fleet.log"
    generate_fleet16(path, 6000, nodes=60)
    # the compute nodes' lines under one service, as a log collector's would be: one source, many nodes
    path.write_text(re.sub(r"(?m)^edge-\d+-1 *\|", "edges-1  |", path.read_text()))
    cond = _same([path])
    assert max(len(r.nodes) for r in cond.read) >= 50


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
    # every row of this run bears on a diagnosis since reconciler rows do (the stuck warning): none is dropped
    assert key(cond) <= key(full) and 0 < len(cond) <= len(full)
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


# -- cuts that must not change anything (found by review, 2026-12-02) ----------------------------------
_CONSOLE = "10:{:02d}:{:02d}.100 | INF edge/main.go:1 > EDGE: heartbeat sent node_id=n-1\n"


def _console(i: int) -> str:
    return _CONSOLE.format(i // 60 % 60, i % 60)


def _write(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp / name
    p.write_bytes(text.encode(encoding))
    return p


@pytest.mark.parametrize("case", ["console-panics", "date-from-a-later-line", "dated-raw-lines", "dated-continuations",
                                  "panic-longer-than-a-block", "journald-repeated", "garbage-first"])
def test_what_a_cut_must_not_split(tmp_path: Path, tiny_blocks: None, case: str) -> None:
    """Multi-line records, time-of-day lines dated from a line far away, raw lines that begin with a date,
    a first block of garbage: the same text however the file is cut."""
    trace = "panic: runtime error: nil map\n\ngoroutine 1 [running]:\n" + "".join(
        f"main.f{k}()\n\t/src/main.go:{k}\n" for k in range(40))
    if case == "console-panics":
        text = "".join(_console(i) + (trace if i % 20 == 0 else "") for i in range(400))
    elif case == "date-from-a-later-line":
        text = "".join(_console(i) for i in range(600)) + "2025-03-01T11:00:00Z INF started\n"
    elif case == "dated-raw-lines":
        text = "time=2025-03-01T09:59:00Z level=INFO msg=start\n" + "".join(
            _console(i) + ("2025-03-01 nightly backup rotated\n" if i % 100 == 0 else "") for i in range(600))
    elif case == "dated-continuations":
        text = ("time=2025-03-01T10:00:00Z level=INFO msg=\"schedule:\"\n"
                + "".join(f"2025-03-01 run batch {k}\n" for k in range(1500))
                + "".join(f"time=2025-03-01T10:{k // 60:02d}:{k % 60:02d}Z level=INFO msg=tick\n" for k in range(100)))
    elif case == "panic-longer-than-a-block":
        text = ("".join(f"time=2025-03-01T10:00:{k:02d}Z level=INFO msg=tick\n" for k in range(50))
                + "panic: boom\n\ngoroutine 1 [running]:\n" + "".join(f"main.f{k}()\n\t/src/m.go:{k}\n"
                                                                       for k in range(2000))
                + "".join(f"time=2025-03-01T10:01:{k:02d}Z level=INFO msg=tick\n" for k in range(50)))
    elif case == "journald-repeated":
        text = (REAL / "bacalhau-issue-2994-journald-multiline-err.log").read_text() * 200
    else:  # garbage-first
        text = "".join(("something failed: error creating node n-9\n" if k == 300 else f"noise {k}\n")
                       for k in range(600)) + "".join(
            f"time=2025-03-01T10:00:{k % 60:02d}Z level=INFO msg=tick node_id=n-{k % 3}\n" for k in range(600))
    log = _write(tmp_path, "edge5.log", text)
    assert log.stat().st_size > 16 << 10
    _same([log], date="2025-03-01")


def test_a_utf16_file_takes_the_parser_the_full_reading_takes(tmp_path: Path) -> None:
    """The parser is chosen by the length read (UTF-16 doubles the size on disk), as the full reading does."""
    text = (REAL / "bacalhau-issue-2994-journald-multiline-err.log").read_text()
    text = text * (2_500_000 // len(text))
    log = _write(tmp_path, "journal.log", "\ufeff" + text, "utf-16-le")
    assert 4 << 20 < log.stat().st_size < 8 << 20
    _same([log], date="2025-03-01")


def test_a_zone_far_west_keeps_time_of_day_lines_undated(tmp_path: Path) -> None:
    """22:00 at -05:00 is 03:00 UTC of an unknown day: never 1970-01-02, in either reading."""
    log = _write(tmp_path, "edge1.log", "".join(f"22:{i:02d}:00.100 | INF edge/main.go:1 > EDGE: heartbeat sent "
                                                f"node_id=n-1\n" for i in range(60)))
    cond = _same([log], tz="-05:00")
    assert "60 row(s) carry only a time of day" in cond.text()
    assert (cond.events["t"] < pd.Timestamp("1970-01-02", tz="UTC")).all()


def test_which_node_an_edge_log_speaks_for_last_is_judged_after_the_zones(tmp_path: Path) -> None:
    """Console lines in a zone settled later sort between JSON lines with offsets: the node the edge log
    named last is the one the sorted table names last, in both readings."""
    edge = _write(tmp_path, "edge1.log", "\n".join([
        '{"level":"info","time":"2025-03-01T03:00:00-07:00","message":"EDGE: up"}',
        '{"level":"info","node_id":"n-aaaaaaa1","time":"2025-03-01T04:00:00-07:00","message":"tick"}',
        "10:04:00 | INF > tick",
        "10:05:00 | INF > tick node_id=n-aaaaaaa1",
        "10:06:00 | INF > tick",
        '{"level":"info","node_id":"n-bbbbbbb2","time":"2025-03-01T05:00:00-07:00","message":"tick"}',
    ]) + "\n")
    orch = _write(tmp_path, "orchestrator.log", "\n".join([
        'time=2025-03-01T09:00:00Z level=INFO msg="handshake successful with node" node_id=n-aaaaaaa1',
        'time=2025-03-01T09:00:01Z level=INFO msg="handshake successful with node" node_id=n-bbbbbbb2',
        'time=2025-03-01T10:00:00Z level=INFO msg="EXECUTION: state changed" execution_id=e-111 job_id=j1 '
        'node_id=n-bbbbbbb2 state=pending desired=running',
        'time=2025-03-01T10:00:00Z level=DEBUG msg="DISPATCH: Attempting to send message" execution_id=e-111 '
        'target_node=n-bbbbbbb2 event_type=ExecutionCreated',
        'time=2025-03-01T10:00:01Z level=INFO msg="EXECUTION: state changed" execution_id=e-222 job_id=j2 '
        'node_id=n-aaaaaaa1 state=pending desired=running',
        'time=2025-03-01T10:00:01Z level=DEBUG msg="DISPATCH: Attempting to send message" execution_id=e-222 '
        'target_node=n-aaaaaaa1 event_type=ExecutionCreated',
    ]) + "\n")
    cond = _same([edge, orch])
    from repro_lib.analysis.delivery import edge_nodes

    full = inspect_paths([str(edge), str(orch)], condense=False)
    assert edge_nodes(cond.events).to_dict("records") == edge_nodes(full.events).to_dict("records")


def test_scenario_and_conformance_read_every_row(tmp_path: Path) -> None:
    """The schedule is read off every heartbeat line: --scenario never condenses, and says so if asked to."""
    log = tmp_path / "orchestrator.log"
    log.write_text("".join(f"time=2025-03-01T10:{k // 4:02d}:{k % 4 * 15:02d}Z level=DEBUG msg=\"heartbeat received\" "
                           f"node_id=n-1\n" for k in range(200)))
    bad = subprocess.run([sys.executable, "-m", "repro_lib.cli", "inspect", str(log), "--conformance", "--condense"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "--condense" in bad.stderr and "heartbeat" in bad.stderr


def test_the_benchmark_fleet_s_sources_read_in_their_roles(tmp_path: Path) -> None:
    """The benchmark's fleet puts upstream's lines where upstream logs them (bids on the compute nodes, handshakes on
    the orchestrator's node manager): the kit reads its orchestrator as one and its edges as edges."""
    from bench_inspect import generate_fleet16

    path = tmp_path / "fleet.log"
    generate_fleet16(path, 3000, nodes=20)
    roles = {r.source: r.role for r in inspect_paths([path]).read}
    assert roles.pop("orchestrator") == "orchestrator"
    assert roles and set(roles.values()) == {"edge"} and all(s.startswith("edge-") for s in roles)

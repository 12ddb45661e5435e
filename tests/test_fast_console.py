"""The columnar reading of zerolog console lines behind ``docker compose``'s prefix (``capture/_console.py``)
equals the per-line parser, and takes a fleet's lines off it."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_lib.capture import _fast
from repro_lib.capture._console import read_console
from repro_lib.capture.logs import parse_lines

sys.path.insert(0, str(Path(__file__).parent))
from test_capture_logs import _as_fast  # noqa: E402

DAY = date(2025, 12, 25)

_prefix = st.sampled_from(["", "edge-17-1  | ", "orchestrator-1  | ", "edge-1-1| ", "nats_1 | ", "e.x-2    | ",
                           "a" * 77 + " | ", "a" * 80 + " | ", "2edge | ", "edge-3-1\t| "])
_docker = st.sampled_from(["", "2025-12-25T20:14:03.512300000Z ", "2025-12-25T20:14:03Z ",
                           "2025-12-25T20:14:03.5+02:00 ", "2025-02-30T20:14:03Z ", "2025-12-25T20:14:03.Z "])
_tod = st.sampled_from(["12:09:07", "00:00:00.123", "23:59:59.123456789", "24:00:00", "12:60:00", "1:02:03",
                        "12:09:07.", "12:09:07.1234567890"])
_level = st.sampled_from(["INF", "DBG", "WRN", "ERR", "TRC", "FTL", "PNC", "???", "XYZ", "inf"])
_caller = st.sampled_from(["", "> ", "manager.go:541 > ", "a>b > ", ">", "x.go:1 >"])
_words = st.sampled_from([
    "heartbeat sent", "heartbeat received from node n-535d9189-68fb-fe79-2e7c-ca2112869db2",
    "Accepting bid for execution e-c9e9c616-612e-7696-a6ce-cc1b78e51061",
    "Execution e-4b1d2a3c completed", "Execution e-4b1d2a3c failed", "handshake successful with node n-7f3a9c21",
    "Attempting to establish connection", "node n-7f3a9c21 missed heartbeat, marking as unhealthy",
    "enqueueing evaluation ev-1 for job j-12345678 triggered by: node-join",
    "Execution e-12345678 is running on node n-12345678 which is not healthy",
    "Execution state changed from 'New' to 'Running'", "New execution created", "Data plane started",
    "DISPATCH: Attempting to send message", "EDGE: starting", "Edge connected to orchestrator", "FAULT: kill",
    "job stuck", "node n-1 connected", "Slow Consumer Detected", "JobID:j-12345678 here", "NodeID: n-abcdefgh",
    "peer QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "job 123e4567-e89b-12d3-a456-426614174000",
    "shard 123e4567-e89b-12d3-a456-426614174000:0", "name=n-12345678", "x msg=y", "e-12345678-abc", "",
    "a > b", "é", "tab\there", "n-12345678,j-87654321", "=x", "k=", "trailing ",
])
_field = st.sampled_from([
    "node_id=n-ac6289f7-e85a-1ee9-508d-be225edf44c0", "seq=2", "job_id=j-35bf992d", "NodeID=n-1", "job=j1",
    "execution_id=e-4b1d", "exec=e-1", "Node=n-2", "a=\"b c\"", "k=v=w", "x=", "target_node=n-9", "state=x",
    "error=\"x\\\"y\"", "Execution=e-7", "jobID=j-3",
])
_bracket = st.sampled_from(["[NodeID:n-a4e0671b]", "[JobID:]", "[ExecutionID:e-1]", "[Name:n-12345678]",
                            "[K:a b]", "[K:a,b]", "[K:x=y]", "[NodeID: Qm12345678, ShardID: s_0]", "[k:v] "])


@st.composite
def _line(draw: st.DrawFn) -> str:
    body = draw(_words)
    fields = draw(st.lists(_field, max_size=3))
    brackets = draw(st.lists(_bracket, max_size=2))
    tail = " ".join(x for x in (body, *fields) if x)
    if brackets:
        tail += draw(st.sampled_from([" ", ""])) + " ".join(brackets)
    return (draw(_prefix) + draw(_docker) + draw(_tod) + " | " + draw(_level) + " " + draw(_caller) + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line(), min_size=1, max_size=25), st.sampled_from([None, DAY]))
def test_console_lines_fast_equal_slow(lines: list[str], day: date | None) -> None:
    slow = parse_lines(lines, source="s", date=day, fast=False)
    fast = parse_lines(lines, source="s", date=day, fast=True)
    pd.testing.assert_frame_equal(fast, _as_fast(slow))


@pytest.fixture(scope="module")
def fleet_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """4,000 lines of the benchmark's fleet: ``docker compose logs`` of Bacalhau 1.6 console lines."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_inspect import generate_fleet16

    path = tmp_path_factory.mktemp("fleet") / "fleet.log"
    generate_fleet16(path, 4000, nodes=50)
    return path.read_text().splitlines()


def test_fleet_lines_equal_and_none_left_to_the_per_line_parser(fleet_lines: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ts = "2025-12-25T20:14:03.512300000Z "
    timestamped = [line.replace("  | ", "  | " + ts, 1) for line in fleet_lines[:2000]]
    old = [line.replace(" | INF ", " | INF manager.go:1 > ", 1) + " [NodeID:n-a4e0671b] [JobID:]"
           for line in fleet_lines[:2000]]
    for lines in (fleet_lines, timestamped, old):
        calls: list[tuple[object, ...]] = []
        monkeypatch.setattr(_fast, "parse_one", lambda *a, seen=calls, real=_fast.parse_one: seen.append(a) or real(*a))
        fast = parse_lines(lines, source="s", fast=True)
        monkeypatch.undo()
        assert calls == []
        slow = parse_lines(lines, source="s", fast=False)
        pd.testing.assert_frame_equal(fast, _as_fast(slow))
        assert (fast["kind"] != "raw").all()


def test_read_console_refuses_what_it_cannot_read_exactly() -> None:
    lines = ["edge-1  | 12:09:07 | INF heartbeat sent node_id=n-1",
             "edge-1  | 12:09:07 | INF DISPATCH: Attempting to send message",  # instrumented: the per-line parser
             "edge-1  | 12:09:07 | INF a x=\"quoted value\"",                      # quotes in the fields
             "edge-1  | 25:09:07 | INF heartbeat",                                # no time of day
             "time=2025-12-25T20:14:03Z level=INFO msg=x"]                         # not this shape
    ok, cols, t, dated = read_console(pa.array(lines))
    assert ok.tolist() == [True, False, False, False, False]
    assert cols["node"].to_pylist() == ["n-1"] and cols["detail"].to_pylist() == ["service=edge-1"]
    assert t.tolist() == [(12 * 3600 + 9 * 60 + 7) * 10**9] and not dated.any()
    assert cols["msg"].to_pylist() == ["heartbeat sent"] and cols["kind"].to_pylist() == ["log"]


def test_seed_format_equal_and_none_left_to_the_per_line_parser(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's debug-log format: "NATS: connected" (a plain log line that starts like an instrumented one) and
    the reconciler's warning ("STUCK", an id list ``e-…,e-…`` read by its shape) are read by columns too."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_inspect import generate_seed

    path = tmp_path / "orchestrator.log"
    generate_seed(path, 3000)
    lines = path.read_text().splitlines()
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(_fast, "parse_one", lambda *a, seen=calls, real=_fast.parse_one: seen.append(a) or real(*a))
    fast = parse_lines(lines, source="s", fast=True)
    monkeypatch.undo()
    assert calls == []
    assert (fast["kind"] == "reconcile").any() and (fast["msg"] == "NATS: connected").any()
    pd.testing.assert_frame_equal(fast, _as_fast(parse_lines(lines, source="s", fast=False)))


_SERVICE_LINE = st.lists(st.sampled_from(["edge-17-1", "orchestrator", "-1", "_2", " ", "  ", "|", " | ", "\t", "\n",
                                          "2025-01-01T00:00:00Z ", "é", "\u00a0", "\x0b", "x", "Z", "1"]),
                         max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _SERVICE_LINE, st.text(max_size=20)), max_size=20))
def test_first_group_is_pandas_extract(lines: list[str | None]) -> None:
    """The compose service of each line (inspect's ``_SERVICE``) by RE2 equals pandas' ``str.extract`` by ``re``."""
    from repro_lib.capture.logs import first_group
    from repro_lib.inspect import _SERVICE

    col = pd.Series(lines, dtype="str")
    want = col.fillna("").astype(str).str.extract(_SERVICE)[0]
    got = first_group(col, _SERVICE)
    assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want]


def test_console_lines_in_small_batches(fleet_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """read_console runs in batches (its temporaries stay small): batches with nothing to read, and the last one
    short, give the same frame."""
    monkeypatch.setattr(_fast, "_CONSOLE_BATCH", 7)
    lines = ["plain text line"] * 20 + fleet_lines[:500]
    pd.testing.assert_frame_equal(parse_lines(lines, source="s", fast=True),
                                  _as_fast(parse_lines(lines, source="s", fast=False)))


def test_byte_pass_and_regex_rows_in_one_batch() -> None:
    """A row the byte pass leaves to RE2 (an impossible date behind Docker's prefix: RE2 matches, the RFC 3339
    reader refuses) beside rows it reads: the short strings of the first row (inline in its string views) are read
    from the batch's own bytes, which the regex rows' readers do not overwrite."""
    lines = ["nats_1 | 12:09:07 | INF ab k=v", "edge | 2025-02-30T20:14:03.5Z 12:09:07 | INF b",
             "edge | 2025-12-30T20:14:03.5+01:00 12:09:07.1 | INF c x=y"]
    fast = parse_lines(lines, source="s", fast=True)
    assert fast["msg"].tolist()[::2] == ["ab", "c"]
    pd.testing.assert_frame_equal(fast, _as_fast(parse_lines(lines, source="s", fast=False)))


# shapes at the edges of the byte pass (_shape_bytes, _caller_bytes, _fields_bytes, _take_ids)
_prefix2 = st.sampled_from(["", "edge-17-1  | ", "edge-17-1 x | ", "edge-1 |  ", "edge-1|x ", "e | ", "e  |  ",
                            "a.b-c_d | ", "a" * 76 + "  | ", "a" * 78 + " | ", "edge-1  |", "edge/1 | ", "-e | ",
                            "_e | ", "9e | ", "edge-1  | 2025-12-25T20:14:03Z "])
_docker2 = st.sampled_from(["", "2025-12-25T20:14:03.123456789Z ", "2025-12-25T20:14:03.1234567890Z ",
                            "2025-12-25T20:14:03-07:30 ", "2025-12-25T20:14:03Z  ", "2025-12-25 ",
                            "2024-02-29T00:00:00Z ", "2023-02-29T00:00:00Z ", "2025-12-25T20:14:03z "])
_tod2 = st.sampled_from(["12:09:07", "12:09:07.1", "12:09:07.123456789", "12:09:07.1234567890", "12:09:07.",
                         "12:09:07.12a", "23:59:60", "12:09", "12:09:07 "])
_sep2 = st.sampled_from([" | ", " |  ", " |", "  | "])
_level2 = st.sampled_from(["INF ", "DBG ", "INF", "INFO ", "INF  "])
_caller2 = st.sampled_from(["", "> ", ">", "> > ", ">x > ", "a b > ", "x.go:1 > ", "x.go:1 >", "x.go:1 >> ",
                            " > ", "a>", ">>", "x > > "])
_msg2 = st.sampled_from(["", "heartbeat sent", "a", "heartbeat  sent", " lead", "Execution e-4b1d2a3c completed",
                         "handshake successful with node n-7f3a9c21", "=x", "a=b", "a/b=c", "k.e-y_1=v", "_k=v"])
_field2 = st.sampled_from(["node_id=n-1", "node_id=", "node=n-2", "Node=n-3", "target_node=n-4", "exec=e-1",
                           "execution_id=e-2", "Execution=e-3", "job=j-1", "job_id=j-2", "JobID=j-3",
                           "jobId=j-4", "seq=2", "x=node_id=n-5", "node_id=a=b", "k=v", "k=", "=v", "w",
                           "jobId=abcdefgh1", "NodeId=Qm12345678", "SourceNodeID:x1234567", "NodeId=abcdefgh1"])
_gap = st.sampled_from([" ", " ", " ", "  "])


@st.composite
def _line2(draw: st.DrawFn) -> str:
    fields = draw(st.lists(_field2, max_size=4))
    tail = draw(_msg2)
    for f in fields:
        tail += draw(_gap) + f
    tail += draw(st.sampled_from(["", "", " ", " [NodeID:n-a4e0671b]", " [JobID:j-1] [K:v]"]))
    return (draw(_prefix2) + draw(_docker2) + draw(_tod2) + draw(_sep2) + draw(_level2) + draw(_caller2) + tail)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line2(), min_size=1, max_size=25), st.sampled_from([None, DAY]))
def test_byte_pass_edges_fast_equal_slow(lines: list[str], day: date | None) -> None:
    slow = parse_lines(lines, source="s", date=day, fast=False)
    fast = parse_lines(lines, source="s", date=day, fast=True)
    pd.testing.assert_frame_equal(fast, _as_fast(slow))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_line2(), _line()), min_size=1, max_size=30))
def test_shape_bytes_reads_as_the_regex(lines: list[str]) -> None:
    """Each line the byte pass reads, the regex reads too, to the same service, Docker time, time, level, tail and
    prefix length; and most lines of the common shapes are read by the byte pass."""
    import numpy as np

    from repro_lib.capture._console import _shape_bytes, _shape_regex, _Text

    arr = pa.array(lines, pa.string())
    x = _Text(arr)
    ok, sb = _shape_bytes(x)
    rows = np.flatnonzero(ok)
    if not len(rows):
        return
    rx = _shape_regex(arr, rows)
    assert rx["ok"].all()
    assert np.array_equal(sb["t"][rows], rx["t"]) and np.array_equal(sb["has_dock"][rows], rx["has_dock"])
    assert np.array_equal(sb["lvl"][rows], rx["lvl"]) and np.array_equal(sb["pre"][rows], rx["pre"])
    for lo, hi, key in (("svc0", "svc1", "svc"), ("tod0", "tod1", "tod"), ("tail0", None, "tail")):
        got = x.views(sb[lo][rows], sb[hi][rows] if hi else x.e[rows], np.ones(len(rows), bool)).to_pylist()
        assert got == pc_fill(rx[key]).to_pylist(), key


def pc_fill(a: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.fill_null(a, "")


def test_common_fleet_shapes_take_the_byte_pass(fleet_lines: list[str]) -> None:
    """The fleet's lines, with and without ``--timestamps``, and zerolog <= 1.5's ``caller >``: all read by bytes."""
    from repro_lib.capture._console import _shape_bytes, _Text

    ts = "2025-12-25T20:14:03.512300000Z "
    for lines in (fleet_lines[:500], [x.replace("  | ", "  | " + ts, 1) for x in fleet_lines[:500]],
                  [x.replace(" | INF ", " | INF manager.go:1 > ", 1) for x in fleet_lines[:500]]):
        ok, _sb = _shape_bytes(_Text(pa.array(lines, pa.string())))
        assert ok.all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(_gap, _field2), max_size=5).map(lambda xs: "".join(g + f for g, f in xs)),
                min_size=1, max_size=20), st.booleans())
def test_take_ids_is_take_first(rests: list[str], strip: bool) -> None:
    """The three id groups cut by bytes equal :func:`_take_first` of each group in turn (the fields left
    included: tokens apart by two spaces, leading spaces and empty values go to it)."""
    from repro_lib.capture import _common as c
    from repro_lib.capture._console import _take_first, _take_ids

    arr = pa.array([r.lstrip(" ") if strip else r for r in rests], pa.string())
    want_e, rest = _take_first(arr, c.EXEC_KEYS)
    want_n, rest = _take_first(rest, c.NODE_KEYS)
    want_j, rest = _take_first(rest, c.JOB_KEYS)
    got = _take_ids(arr)
    for g, w in zip(got, (want_e, want_n, want_j, rest), strict=True):
        assert g.cast(pa.string()).to_pylist() == w.cast(pa.string()).to_pylist()


_id_text = st.lists(st.sampled_from(["n-", "j-", "e-", "12345678", "abcdef01", "-1234", "-abcd-ef01-2345-6789abcdef01",
                                     "ABCDEF01", " ", "=", '"', ".", "x", "_", "-", ":", "/", "node ", "xn-"]),
                    max_size=12).map("".join)


def _ids_by_shape_equal(bodies: list[str], pre: list[str]) -> None:
    import numpy as np

    from repro_lib.capture._console import _SHAPE_IDS, _first_match, _ids_by_shape, _Text

    arr = pa.array([p + b for p, b in zip(pre, bodies, strict=True)], pa.string())
    x = _Text(arr)
    got = _ids_by_shape(x, np.arange(len(bodies)), x.s + np.array([len(p) for p in pre]), x.e)
    for col, rx in _SHAPE_IDS.items():
        assert got[col].to_pylist() == _first_match(pa.array(bodies, pa.string()), rx).to_pylist(), col


@settings(max_examples=300, deadline=None)
@given(st.lists(_id_text, min_size=1, max_size=20), st.data())
def test_ids_by_shape_is_the_regex(bodies: list[str], data: st.DataObject) -> None:
    """Ids read by their shape from bytes (``_ids_by_shape``, bodies behind a prefix of their line) equal the
    first match of each ``_SHAPE_IDS`` pattern by RE2."""
    _ids_by_shape_equal(bodies, [data.draw(st.sampled_from(["", "x", "n-12345678 ", "a="])) for _ in bodies])


def test_ids_by_shape_edges() -> None:
    bodies = ["n-12345678.", "x n-12345678-abcd-ef01-2345-6789abcdef01:", "n-12345678-abcd", "=n-12345678 j-abcdef01",
              "e-12345678_", "xe-12345678 e-abcdef01", '"j-12345678 .j-12345678 /j-abcdef01', "n-1234567"]
    _ids_by_shape_equal(bodies, ["x=", "", "n-12345678 ", "", "", "a", "", ""])


@pytest.mark.parametrize("lines", [
    # keyed ids (`NodeId=…`) read only where the body holds `Qm`, `ID` or `-`, and `ID` or `Id`
    ["e | 12:09:07 | INF heartbeat sent NodeId=abcdefgh1",
     "e | 12:09:07 | INF Execution e-4b1d2a3c completed NodeId=abcdefgh1",
     "e | 12:09:07 | INF Execution e-4b1d2a3c completed SourceNodeID:abcdefgh1"],
    # fields apart by two spaces, a caller before `>` and after it, Docker's time with an offset
    ["edge-1-1  | 2025-12-25T20:14:03.5+02:00 12:09:07.25 | WRN x.go:1 > handshake successful with node n-7f3a9c21"
     "  node_id=n-1 job_id=j-2  seq=3", "e | 12:09:07 | INF > > Execution e-4b1d2a3c failed exec=e-1"],
])
def test_byte_pass_lines(lines: list[str]) -> None:
    fast = parse_lines(lines, source="s", fast=True)
    pd.testing.assert_frame_equal(fast, _as_fast(parse_lines(lines, source="s", fast=False)))
    assert (fast["kind"] != "raw").all()


_prefix3 = st.sampled_from(["edge-17-1  | ", "Qm-edge  | ", "x01234567-0123-0123-0123-0123456789ab_1 | ", "",
                            "orchestrator-1  | 2025-12-25T20:14:03Z "])


@st.composite
def _line3(draw: st.DrawFn) -> str:
    """A fleet's line behind a service name _OTHER_IDS matches (a peer id's `Qm`, a UUID and `_1`), or not."""
    line = draw(st.one_of(_line(), _line2()))
    return draw(_prefix3) + line.split(" | ", 1)[-1] if " | " in line else line


_LEVELS = ["INF", "DBG", "WRN", "ERR"]


@st.composite
def _line4(draw: st.DrawFn) -> str:
    """A line of the common shape (a valid prefix, no quotes or `[Key:value]` fields, fields apart by one space)."""
    prefix = draw(st.sampled_from(["edge-17-1  | ", "orchestrator-1  | ", "", "edge-1  | 2025-12-25T20:14:03Z "]))
    fields = draw(st.lists(st.one_of(_field2, _field).filter(lambda f: '"' not in f), max_size=5))
    tail = " ".join(x for x in (draw(_words), *fields) if x)
    return (prefix + draw(st.sampled_from(["12:09:07", "00:00:00.123"])) + " | " + draw(st.sampled_from(_LEVELS))
            + " " + draw(st.sampled_from(["", "x.go:1 > ", "> "])) + tail)


def _frames(got: tuple[object, ...]) -> tuple[list[bool], dict[str, list[object]], list[int], list[bool]]:
    """read_console's answer as lists (no columns where no row is read: either reader may return none)."""
    ok, cols, t, dated = got[:4]
    read = {key: v.cast(pa.string()).to_pylist() for key, v in cols.items()}  # type: ignore[attr-defined]
    return list(ok), read if any(ok) else {}, list(t), list(dated)  # type: ignore[call-overload]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_line(), _line2(), _line3(), _line4()), min_size=1, max_size=30))
def test_common_rows_read_as_the_general_reader(lines: list[str]) -> None:
    """read_console (the common rows by chunk positions, the others by the general reader) returns what the
    general reader returns for the whole batch: the rows read, every column, the times."""
    from repro_lib.capture._console import _read_general

    batch = pa.array(lines)
    assert _frames(read_console(batch)) == _frames(_read_general(batch))


def test_service_that_other_ids_match() -> None:
    """A service named like a peer id (`Qm…`) is no id in the body: the line is read here, as the general reader
    reads it; a `Qm` in the body leaves the line to the per-line parser."""
    from repro_lib.capture._console import _read_general

    lines = ["Qm-edge  | 12:09:07 | DBG heartbeat sent node_id=n-1 seq=2",
             "Qm-edge  | 12:09:07 | DBG peer Qm12345678 seen node_id=n-1",
             "edge-1  | 12:09:07 | INF Execution e-4b1d2a3c completed"]
    ok, cols, _t, _d = read_console(pa.array(lines))
    assert ok.tolist() == [True, False, True]
    assert cols["detail"].to_pylist() == ["service=Qm-edge seq=2", "service=edge-1"]
    assert _frames(read_console(pa.array(lines))) == _frames(_read_general(pa.array(lines)))
    pd.testing.assert_frame_equal(parse_lines(lines, source="s", fast=True),
                                  _as_fast(parse_lines(lines, source="s", fast=False)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_line(), _line2(), _line4()), min_size=1, max_size=30))
def test_log_detail_off_leaves_only_the_dropped_details(lines: list[str]) -> None:
    """``log_detail=False`` (the fast path drops a plain log row's detail): the same rows, columns and times,
    and the same detail on every row but those of kind ``log`` whose message is not the edge's connection."""
    from repro_lib.capture._common import EDGE_CONNECTED_MSG

    ok, cols, t, dated = _frames(read_console(pa.array(lines)))
    ok2, cols2, t2, dated2 = _frames(read_console(pa.array(lines), log_detail=False))
    assert (ok2, t2, dated2) == (ok, t, dated)
    assert {k: v for k, v in cols2.items() if k != "detail"} == {k: v for k, v in cols.items() if k != "detail"}
    for kind, msg, full, got in zip(cols.get("kind", []), cols.get("msg", []), cols.get("detail", []),
                                    cols2.get("detail", []), strict=True):
        assert got == full or (got is None and kind == "log" and msg != EDGE_CONNECTED_MSG)


def test_log_detail_off_on_a_fleet(fleet_lines: list[str]) -> None:
    """On the fleet, the heartbeat lines' detail is not built; the other rows' is."""
    ok, cols, _t, _d = read_console(pa.array(fleet_lines), log_detail=False)
    full = read_console(pa.array(fleet_lines))[1]
    kind, detail = cols["kind"].to_pylist(), cols["detail"].to_pylist()
    assert ok.all() and "log" in kind and any(k != "log" and d for k, d in zip(kind, detail, strict=True))
    assert all(d is None for k, d in zip(kind, detail, strict=True) if k == "log")
    assert [d for k, d in zip(kind, detail, strict=True) if k != "log"] == \
        [d for k, d in zip(kind, full["detail"].to_pylist(), strict=True) if k != "log"]

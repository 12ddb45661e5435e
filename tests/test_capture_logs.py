"""Tests for repro_lib.capture.logs: formats, patterns, time rules, round trips, fast == slow."""

from __future__ import annotations

import json
import re
import string
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_lib.capture import _common
from repro_lib.capture._common import EDGE_CONNECTED_MSG, map_msg
from repro_lib.capture.logs import (
    FRAME_COLUMNS,
    add_t_s,
    events_frame,
    parse_file,
    parse_line,
    parse_lines,
    source_from_path,
)
from repro_lib.capture.reader import read_log
from repro_lib.events import COLUMNS, KINDS
from repro_lib.logfmt import LogRecord, docker_prefix, format_record, format_time

FIX = Path(__file__).parent / "fixtures" / "logs"
DAY = date(2025, 12, 25)
N1, N2 = "n-7f3a9c21", "n-1a2b3c4d"
X1 = "e-4b1d8e0a-6c2f-4f1e-9a7d-3c5b2e1f0a9d"
X2 = "e-0c9f7a3e-2b8d-4e6a-8f1c-5d4b3a2e1f07"
NJ, HB = "new-test-job", "test-heartbeat"

# (msg, kind, state, node, execution, job, detail must contain) in fixture order
EXPECTED = [
    ("Edge connected to orchestrator", "log", None, N1, None, None, "orchestrator="),
    ("ACTION: deploy", "action", "deploy", None, None, HB, "file=jobs/test-heartbeat.yaml"),
    ("JOB: state changed", "state", "deploying", None, None, HB, "job_id=j-2d7e4c1a"),
    # the dispatch lines name no job: their execution's other rows do (capture.logs.fill_jobs)
    ("DISPATCH: Attempting to send message", "dispatch", "attempt", N1, X1, HB,
     "event_type=ExecutionCreated"),
    ("PUBLISH: Checking node connection", "publish", "published", N1, None, None,
     "connection_alive=true"),
    ("EDGE: Received RunExecutionRequest", "deliver", "delivered", None, X1, None, None),
    ("EXECUTION: state changed", "state", "running", N1, X1, HB, "desired=running"),
    ("FAULT: kill", "fault", "kill", "edge2", None, None, None),
    ("NODE: state changed", "node", "disconnected", N2, None, None, None),
    ("ACTION: deploy", "action", "deploy", None, None, NJ, None),
    ("DISPATCH: Attempting to send execution assignment", "dispatch", "attempt", N2, X2, NJ,
     None),
    ("PUBLISH: Checking node connection", "publish", "refused", N2, None, None,
     "connection_alive=false"),
    ("PUBLISH: Node not connected - message will be LOST", "publish", "refused", N2, None, None,
     "issue=github.com/expanso-io/expanso/issues/395"),
    ("PUBLISH: Node not connected - returning ErrNodeNotConnected", "publish", "refused", N2,
     None, None, None),
    ("DISPATCH: Failed to send execution assignment - EVENT WILL BE SKIPPED", "dispatch",
     "skipped", N2, X2, NJ, 'err="node not connected"'),
    ("NATS: no subscriber - message dropped", "deliver", "lost", None, X2, None, "subject="),
    ("FAULT: start", "fault", "start", "edge2", None, None, None),
    ("HANDSHAKE: Node handshake completed", "node", "connecting", N2, None, None, None),
    ("NODE: state changed", "node", "connected", N2, None, None, None),
    ("REEVALUATOR: queuing for batch", "eval", "queued", N2, None, None, "trigger=node-join"),
    ("REEVALUATOR: Processing batch - START", "eval", "batch", None, None, None, "batch_size=1"),
    ("REEVALUATOR: Created evaluation for job", "eval", "created", N2, None, NJ,
     "trigger=node-join"),
    ("EVAL: processed", "eval", "processed", None, None, NJ, "eval_id=ev-5f6e7d8c"),
    ("RECONCILER: Checking rollout completion", "reconcile", "checking", None, None, NJ,
     "is_wave_conclusive=false"),
    ("RECONCILER: STUCK EXECUTIONS DETECTED - dispatch may have failed", "reconcile", "stuck",
     None, None, NJ, "dispatch_code="),
    ("RECONCILER: Re-dispatching pending execution to reconnected node", "dispatch",
     "redispatch", N2, X2, NJ, None),
    ("NATS: message delivered", "deliver", "delivered", None, X2, None, None),
    ("EXECUTION: state changed", "state", "pending", N2, X2, NJ, "desired=running"),
    ("heartbeat received", "log", None, N1, None, None, "seq=42"),
]
# fixture offsets of the records, seconds after 20:14:00
OFFSETS = [0.101, 0.25, 0.512, 0.731, 0.733, 0.802, 0.9, 3.004, 5.12, 6.0, 6.21, 6.211, 6.212,
           6.213, 6.214, 6.4, 9.0, 9.85, 39.85, 39.86, 40.86, 40.87, 40.9, 41.0, 71.0, 71.1,
           71.2, 71.3, 72.0]
FORMAT_FILES = [
    "orchestrator-slog-text.log",
    "orchestrator-slog-json.log",
    "edge1-zerolog-json.log",
    "edge-console-debug.log",
    "edge-console-info.log",
    "docker-slog-text.log",
    "docker-console.log",
]
BASE = pd.Timestamp("2025-12-25T20:14:00Z")


def _v(x: object) -> object:
    return None if x is None or (isinstance(x, float) and pd.isna(x)) else x


def _by_file(name: str, **kw: object) -> pd.DataFrame:
    return parse_file(FIX / name, date=DAY, **kw)


def _noise(df: pd.DataFrame) -> pd.Series:
    """Plain ``log`` lines whose detail the fast path leaves empty."""
    return (df["kind"] == "log") & (df["msg"] != EDGE_CONNECTED_MSG)


def _merged(df: pd.DataFrame) -> int:
    """Lines folded into multi-line records (``lines=N`` in detail): one row per line otherwise."""
    n = df["detail"].fillna("").str.extract(r"(?:^| )lines=(\d+)$")[0].dropna().astype(int)
    return int((n - 1).sum())


def _as_fast(slow: pd.DataFrame) -> pd.DataFrame:
    """The per-line parser's frame as the fast path gives it: noise lines without detail."""
    out = slow.copy()
    # a multi-line record's ``lines=N`` and a borrowed time's ``t=borrowed`` are added after both paths, so a noise
    # row keeps just those
    multi = out["detail"].fillna("").str.extract(r"(?:^| )((?:lines=\d+)(?: t=borrowed)?|t=borrowed)$")[0]
    out["detail"] = out["detail"].mask(_noise(out), multi).astype("str")
    return out


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("name", FORMAT_FILES)
def test_every_pattern_in_every_format(name: str, fast: bool) -> None:
    df = _by_file(name, fast=fast)
    assert len(df) == len(EXPECTED)
    df = df.sort_values("line", key=lambda s: s.map(_line_no(name)), kind="stable")
    for row, (msg, kind, state, node, exe, job, needle) in zip(
        df.itertuples(), EXPECTED, strict=True
    ):
        got = (row.msg, row.kind, _v(row.state), _v(row.node), _v(row.execution), _v(row.job))
        assert got == (msg, kind, state, node, exe, job), row.line
        if fast and kind == "log" and msg != EDGE_CONNECTED_MSG:
            assert _v(row.detail) is None, row.line  # noise: the fast path leaves detail empty
        elif needle:
            assert needle in row.detail, row.line
        assert row.kind in KINDS


def _line_no(name: str):  # noqa: ANN202 - small helper for sort keys
    order = {ln: i for i, ln in enumerate((FIX / name).read_text().splitlines())}
    return lambda ln: order[ln]


@pytest.mark.parametrize("name", FORMAT_FILES)
def test_times_per_format(name: str) -> None:
    df = _by_file(name)
    lines = (FIX / name).read_text().splitlines()
    df = df.set_index("line").loc[lines]
    want = [BASE + pd.Timedelta(seconds=o) for o in OFFSETS]
    if name.startswith("docker"):
        want = [w + pd.Timedelta(microseconds=400) for w in want]
        assert df.loc[~_noise(df), "detail"].str.contains("app_time=").all()
        slow = parse_file(FIX / name, date=DAY, fast=False)
        assert slow["detail"].str.contains("app_time=").all()
    elif "info" in name:  # `15:04:05 |` console: second resolution
        want = [w.floor("s") for w in want]
    elif "zerolog" in name:  # odd records carry unix seconds
        want = [w.round("s") if i % 2 else w for i, w in enumerate(want)]
    assert list(df["t"]) == want


def test_levels_are_normalised() -> None:
    for name in FORMAT_FILES:
        levels = set(_by_file(name)["level"])
        assert levels <= {"DEBUG", "INFO", "WARN", "ERROR"}, name
        assert levels == {"DEBUG", "WARN", "ERROR", "INFO"}, (name, levels)  # every fixture uses all four


def test_console_caller_goes_to_detail() -> None:
    df = _by_file("edge-console-debug.log")
    assert df["detail"].str.contains("caller=transport/dispatcher.go:103").any()
    assert not _by_file("edge-console-info.log")["detail"].fillna("").str.contains(
        "caller=").any()


def test_console_without_date_uses_1970_and_says_so() -> None:
    df = parse_file(FIX / "edge-console-info.log")
    assert (df["t"].dt.year == 1970).all()
    assert df.loc[~_noise(df), "detail"].str.endswith("date=unknown").all()
    slow = parse_file(FIX / "edge-console-info.log", fast=False)
    assert slow["detail"].str.endswith("date=unknown").all()
    row = parse_line("20:14:03 | INF > hello a=1", source="e")
    assert row["t"] == pd.Timestamp("1970-01-01T20:14:03Z")
    assert row["detail"] == "a=1 date=unknown"


def test_console_takes_date_of_previous_dated_line() -> None:
    lines = [
        "20:14:03.512 | INF > before",
        "time=2025-12-24T23:59:00.000Z level=INFO msg=dated",
        "20:14:03.512 | INF > after",
    ]
    df = parse_lines(lines, source="x", date=DAY, fast=False)
    by_msg = dict(zip(df["msg"], df["t"], strict=True))
    assert by_msg["before"] == pd.Timestamp("2025-12-25T20:14:03.512Z")
    assert by_msg["after"] == pd.Timestamp("2025-12-24T20:14:03.512Z")


def test_docker_prefix_wins_and_app_time_kept() -> None:
    line = ('2025-12-25T20:00:03.512300000Z time=2025-12-25T20:14:03.512Z level=INFO '
            'msg="EDGE: Received RunExecutionRequest" execution_id=e-4b1d8e0a')
    row = parse_line(line, source="edge1")
    assert row["t"] == pd.Timestamp("2025-12-25T20:00:03.5123Z")
    assert row["detail"] == "app_time=2025-12-25T20:14:03.512Z"
    assert (row["kind"], row["state"], row["execution"]) == ("deliver", "delivered", "e-4b1d8e0a")
    off = parse_line("2025-12-25T21:00:03.5+01:00 plain words", source="d")
    assert off["t"] == pd.Timestamp("2025-12-25T20:00:03.5Z")
    assert (off["kind"], off["msg"]) == ("log", "plain words")


def test_mixed_file_banners_panics_garbage_truncated() -> None:
    path = FIX / "mixed-orchestrator.log"
    df = parse_file(path, date=DAY)
    n_lines = len(path.read_bytes().split(b"\n"))
    # the Go panic and its five trace lines (signal, blank, goroutine, frame, file) are one record
    assert len(df) == n_lines - 5
    assert df["t"].notna().all()
    assert df["t"].is_monotonic_increasing
    raw = df[df["kind"] == "raw"]
    panic = df[df["line"].str.startswith("panic:")].iloc[0]
    assert (panic["kind"], panic["level"], panic["detail"]) == ("log", "PANIC", "lines=6")
    assert panic["line"].endswith("dispatcher.go:103 +0x1d") and "goroutine 1 [running]:" in panic["line"]
    assert raw["line"].str.contains("\ufffd").any()  # invalid UTF-8 replaced
    # a truncated JSON line is kept as raw, not dropped; a slog text line cut inside its
    # fields still has its message, so it keeps its meaning
    assert raw["line"].str.endswith("queuing fo").any()
    cut = df[df["line"].str.endswith("root_cau")].iloc[0]
    assert (cut["kind"], cut["state"], cut["node"]) == ("publish", "refused", "n-1a2b3c4d")
    # a raw line takes the time of the line before it
    panic_t = df.loc[df["line"].str.startswith("panic:"), "t"].iloc[0]
    assert panic_t == pd.Timestamp("2025-12-25T20:14:06.300Z")
    banner_t = df.loc[df["line"].str.startswith("===="), "t"].iloc[0]
    assert banner_t == pd.Timestamp("2025-12-25T20:14:00.101Z")
    restart = df[df["line"].str.contains("restarting")].iloc[0]
    assert (restart["kind"], restart["t"]) == ("log", pd.Timestamp("2025-12-25T20:14:09Z"))
    events = df[~df["kind"].isin(["log", "raw"])]
    got = list(zip(events["kind"], events["state"], strict=True))
    assert got == [("publish", "published"), ("deliver", "delivered"), ("dispatch", "skipped"),
                   ("publish", "refused"), ("node", "connecting"), ("eval", "created"),
                   ("reconcile", "stuck")]
    created = events[events["state"] == "created"].iloc[0]
    assert created["t"] == pd.Timestamp("2025-12-25T20:14:40Z")
    assert "trigger=node-join" in created["detail"]
    edge = events[events["kind"] == "deliver"].iloc[0]
    assert edge["t"] == pd.Timestamp("2025-12-25T20:14:01.512Z")
    assert edge["level"] == "DEBUG" and edge["execution"] == "e-4b1d8e0a"


def test_frame_shape_and_dtypes() -> None:
    df = _by_file("orchestrator-slog-text.log")
    assert tuple(df.columns) == (*COLUMNS, "level", "msg") == FRAME_COLUMNS
    assert str(df["t"].dtype) == "datetime64[ns, UTC]"
    assert df["t_s"].iloc[0] == 0.0
    assert df["t_s"].iloc[-1] == pytest.approx(72.0 - 0.101)
    assert (df["source"] == "orchestrator-slog-text").all()
    assert df["t"].is_monotonic_increasing


def test_source_from_path() -> None:
    assert source_from_path("logs/edge1-debug.log") == "edge1"
    assert source_from_path("orchestrator.log") == "orchestrator"
    assert parse_file(FIX / "edge1-zerolog-json.log")["source"].iloc[0] == "edge1-zerolog-json"


@pytest.mark.parametrize("name", [*FORMAT_FILES, "mixed-orchestrator.log"])
def test_parse_file_fast_equals_slow(name: str) -> None:
    fast = parse_file(FIX / name, date=DAY, fast=True)
    slow = parse_file(FIX / name, date=DAY, fast=False)
    pd.testing.assert_frame_equal(fast, _as_fast(slow))


def test_events_frame_and_add_t_s() -> None:
    rows = [parse_line(x, source="s") for x in (
        "time=2025-12-25T20:14:05Z level=INFO msg=b",
        "time=2025-12-25T20:14:03Z level=INFO msg=a",
    )]
    df = events_frame(rows)
    assert list(df["msg"]) == ["a", "b"]
    assert list(df["t_s"]) == [0.0, 2.0]
    add_t_s(df, pd.Timestamp("2025-12-25T20:14:00Z"))
    assert list(df["t_s"]) == [3.0, 5.0]
    assert tuple(events_frame([]).columns) == FRAME_COLUMNS


def test_structured_line_without_time_inherits() -> None:
    df = parse_lines(["time=2025-12-25T20:14:05Z level=INFO msg=a",
                      'level=WARN msg="NODE: state changed" node_id=n-1 state=lost'],
                     source="s", fast=False)
    row = df.iloc[1]
    assert (row["kind"], row["state"], row["node"]) == ("node", "lost", "n-1")
    assert row["t"] == df["t"].iloc[0]


# ---- round trip through repro_lib.logfmt ---------------------------------------------------

_word = st.text(string.ascii_letters + string.digits + "-_./:", min_size=1, max_size=12)
_key = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
    lambda k: k not in {"time", "level", "msg", "message", "state", "target", "desired",
                        *_common.NODE_KEYS, *_common.JOB_KEYS, *_common.EXEC_KEYS})
_val = st.one_of(
    _word,
    st.text(string.printable.replace("\x0b", "").replace("\x0c", "").replace("\r", ""), max_size=15),
    st.integers(-10**6, 10**6),
    st.booleans(),
)
_msg = st.text(string.ascii_letters + string.digits + " :-_.", max_size=30).filter(
    lambda m: "=" not in m and m == m.strip() and m and map_msg(m)[0] == "log"  # e.g. not "FAULT"
    and _common.map_upstream(m)[0] == "log")  # nor an upstream (Bacalhau) message with a meaning
_epoch = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(
    t=st.floats(0, 86_000, allow_nan=False),
    level=st.sampled_from(["DEBUG", "INFO", "WARN", "ERROR"]),
    msg=_msg,
    fields=st.lists(st.tuples(_key, _val), max_size=5, unique_by=lambda kv: kv[0]),
    fmt=st.sampled_from(["text", "json", "console"]),
    docker=st.booleans(),
    epoch=_epoch,
)
def test_round_trip_logfmt(t, level, msg, fields, fmt, docker, epoch) -> None:  # noqa: ANN001
    rec = LogRecord(t, "orchestrator", level, msg, tuple(fields))
    line = format_record(rec, epoch, fmt)
    when = format_time(epoch, t)
    if docker:
        line = docker_prefix(epoch, t) + line
    row = parse_line(line, source="o", date=when.date())
    assert row["msg"] == msg
    assert row["level"] == level
    assert row["kind"] == "log"
    want_t = pd.Timestamp(when)
    if docker:
        prefix = line.split(" ", 1)[0]
        assert row["t"] == pd.Timestamp(prefix)
    else:
        unit = {"text": "ms", "json": "us", "console": "ms"}[fmt]
        assert row["t"] == want_t.floor(unit)
    detail = row["detail"] or ""
    for k, v in fields:
        if fmt == "json":
            sv = "true" if v is True else "false" if v is False else str(v)
            assert _detail_value(detail, k) == sv
        else:
            assert _detail_value(detail, k) == (
                "true" if v is True else "false" if v is False else str(v))


def _detail_value(detail: str, key: str) -> str | None:
    from repro_lib.capture import _common

    for m in _common.TOKEN_RE.finditer(detail):
        if m.group(1) == key:
            return _common.unquote(m.group(2))
    return None


# ---- fuzz: never crash, rows out == lines in, fast == slow ---------------------------------

_fragments = st.sampled_from([
    "time=2025-12-25T20:14:03.512Z ", "level=INFO ", "msg=", '"', "\\", " ", "  ", "=",
    "node_id=n-7f3a9c21", "execution_id=e-4b1d", "target_node=", "job=j1", "job_id=", "state=",
    "PUBLISH: Checking node connection", "REEVALUATOR: Created evaluation for job",
    "EXECUTION: state changed", "FAULT: kill", "connection_exists=true ", "trigger=x",
    "20:14:03.512 | INF > ", "20:14:03 | DBG a.go:1 > ", "2025-12-25T20:00:03.512300000Z ",
    '{"time":"2025-12-25T20:14:03Z","level":"INFO","msg":"', '","node_id":"n-1"}', "}", "{",
    '{"level":"info","message":"x","time":1766693643}', "\t", "\x1f", "\x00", "\r", "é", "ß",
    "25:61:61 | INF > ", "2025-02-30T20:00:03.512300000Z ", "1", "12", ">",
])
_structured_line = st.lists(_fragments, max_size=8).map("".join)
_any_line = st.one_of(_structured_line, st.text(max_size=60))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_any_line, max_size=25), st.sampled_from([None, DAY]))
def test_fast_path_equals_slow_path(lines: list[str], day: date | None) -> None:
    slow = parse_lines(lines, source="s", date=day, fast=False)
    fast = parse_lines(lines, source="s", date=day, fast=True)
    assert len(slow) + _merged(slow) == len(lines)
    pd.testing.assert_frame_equal(fast, _as_fast(slow))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", errors="replace"))))
def test_parse_line_never_raises(text: str) -> None:
    row = parse_line(text, source="s")
    assert set(row) == {*COLUMNS, "level", "msg"} - {"t_s"}
    assert row["kind"] in KINDS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_parse_file_of_garbage(tmp_path_factory, chunks: list[bytes]) -> None:  # noqa: ANN001
    path = tmp_path_factory.mktemp("g") / "garbage-debug.log"
    data = b"\n".join(chunks)
    path.write_bytes(data)
    df = parse_file(path)
    text, notes = read_log(path)  # a BOM or UTF-16-looking bytes are decoded first
    text = bytes(text)
    if notes.encoding == "utf-8":  # bad bytes are replaced, lines are not touched (a lone CR ends one)
        assert text.count(b"\n") == data.count(b"\n") + len(re.findall(rb"\r(?!\n)", data))
    n = len(text.split(b"\n")) - (1 if text.endswith(b"\n") else 0) if text else 0
    assert len(df) + _merged(df) == n
    assert (df["source"] == "garbage").all() or n == 0
    pd.testing.assert_frame_equal(df, _as_fast(parse_file(path, fast=False)))


def test_big_input_uses_fast_path_and_matches() -> None:
    lines = (FIX / "mixed-orchestrator.log").read_text(errors="replace").split("\n") * 150
    slow = parse_lines(lines, source="m", date=DAY, fast=False)
    fast = parse_lines(lines, source="m", date=DAY)
    pd.testing.assert_frame_equal(fast, _as_fast(slow))
    assert len(fast) + _merged(fast) == len(lines)


def test_json_values_rendered_in_detail() -> None:
    obj = {"time": "2025-12-25T20:14:03Z", "level": "INFO", "msg": "m", "a": "x y", "b": 1.50,
           "c": None, "d": {"e": [1, 2]}, "f": ""}
    row = parse_line(json.dumps(obj), source="s")
    assert row["detail"] == 'a="x y" b=1.5 c=null d="{\\"e\\":[1,2]}" f=""'


def test_a_joined_record_that_reads_as_nothing_is_split_back(tmp_path: Path) -> None:
    """Hypothesis found it: ``{:`` (a JSON start ending in a colon) took the next line as a hard wrap,
    and the joined text read as nothing — one raw row for two lines, the second hidden inside it."""
    path = tmp_path / "garbage-debug.log"
    path.write_bytes(b"{:\n\x00")
    df = parse_file(path)
    assert list(df["line"]) == ["{:", "\x00"] and set(df["kind"]) == {"raw"}

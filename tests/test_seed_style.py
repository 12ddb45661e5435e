"""Seed-style debug logs (issue 27): `repro inspect` of logs written in the seed README's own patterns gives a
VERDICT line that names the stuck job — on shapes the capture rules were written against ("seen") and on
shapes they were not ("held out"; :mod:`seedstyle` says which). docs/seed-style-logs.md lists the rules."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seedstyle as S  # noqa: E402

from repro_lib.analysis import diagnose  # noqa: E402
from repro_lib.capture import parse_line, parse_lines  # noqa: E402
from repro_lib.cli import main  # noqa: E402
from repro_lib.inspect import inspect_paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _as_fast(slow: pd.DataFrame) -> pd.DataFrame:
    """The per-line parser's frame as the vectorised path gives it: plain `log` rows carry no detail (but the
    edge's connect line), as tests/test_capture_logs.py compares them."""
    from repro_lib.capture._common import EDGE_CONNECTED_MSG

    out = slow.copy()
    noise = (out["kind"] == "log") & (out["msg"] != EDGE_CONNECTED_MSG)
    multi = out["detail"].fillna("").str.extract(r"(?:^| )(lines=\d+)$")[0]
    out["detail"] = out["detail"].mask(noise, multi).astype("str")
    return out


# the example a maintainer brought (issue 27), verbatim but for the "..." lines
EXAMPLE = "".join(x + "\n" for x in [
    "2026-11-20T10:00:00.000Z INF orchestrator started",
    "2026-11-20T10:00:02.100Z DBG node connected node_id=node-edge1",
    "2026-11-20T10:00:10.000Z INF job deployed job_name=test-heartbeat job_id=j-1a2b3c",
    "2026-11-20T10:00:10.010Z DBG DISPATCH: Attempting to send message execution_id=e-aaa11111 node_id=node-edge1",
    "2026-11-20T10:00:10.011Z DBG PUBLISH: Checking node connection node_id=node-edge1"
    " connection_exists=true connection_alive=true",
    "2026-11-20T10:00:40.000Z INF job deployed job_name=new-test-job job_id=j-4d5e6f",
    "2026-11-20T10:00:40.010Z DBG DISPATCH: Attempting to send message execution_id=e-bbb11111 node_id=node-edge1",
    "2026-11-20T10:01:05.000Z DBG node connected node_id=node-edge1",
    "2026-11-20T10:01:20.000Z INF REEVALUATOR: Created evaluation for job job_id=j-4d5e6f trigger=node-join",
    "2026-11-20T10:03:00.000Z WRN reconciler: job stuck in deploying job_id=j-4d5e6f job_name=new-test-job"
    " pending_executions=2",
])


def inspect_cli(paths: list[Path], *extra: str) -> tuple[int, str]:
    """`repro inspect PATHS` as a user runs it (the CLI's main, in this process): (exit code, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["inspect", *map(str, paths), *extra])
    return rc, out.getvalue()


def verdict_line(text: str) -> str:
    lines = [x for x in text.splitlines() if x.startswith("VERDICT")]
    assert len(lines) == 1, text
    return lines[0]


def problem(inc: S.Incident, rc: int, text: str) -> str | None:
    """What is wrong with `repro inspect`'s answer for an incident (None: nothing)."""
    lines = [x for x in text.splitlines() if x.startswith("VERDICT")]
    if rc != 0 or len(lines) != 1:
        return f"exit {rc}, {len(lines)} VERDICT line(s)"
    if "(job unknown)" in text:
        return "(job unknown) in the output"
    line = lines[0]
    if inc.healthy:
        return None if line.startswith("VERDICT: not_reproduced") else line[:240]
    if inc.stuck_name not in line or inc.stuck_id not in line:
        return line[:240]
    if not line.startswith(("VERDICT: reproduced", "VERDICT: inconclusive")):
        return line[:240]
    return None


def _run_all(tmp: Path, shapes: list[S.Shape], healthy: bool) -> list[tuple[S.Shape, str]]:
    bad = []
    for i, shape in enumerate(shapes):
        inc = S.incident(shape, healthy=healthy, seed=i)
        paths = S.write(inc, tmp / f"{'h' if healthy else 's'}{i}")
        rc, text = inspect_cli(paths)
        if (why := problem(inc, rc, text)) is not None:
            bad.append((shape, why))
    return bad


GROUPS = {
    "seen": S.seen_shapes(),
    "held out": [x for x in S.held_out_shapes() if not S.is_late(x)],
    "held out, added after the rules": [x for x in S.held_out_shapes() if S.is_late(x)],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, bool], list[tuple[S.Shape, str]]]]:
    tmp = tmp_path_factory.mktemp("seedstyle")
    out = {(g, h): _run_all(tmp / g.replace(" ", "_").replace(",", ""), shapes, h)
           for g, shapes in GROUPS.items() for h in (False, True)}
    yield out
    lines = ["seed-style shapes, `repro inspect` pass rates (stuck job named / healthy not_reproduced):"]
    for g, shapes in GROUPS.items():
        n = len(shapes)
        lines.append(f"  {g:<34} stuck {n - len(out[g, False])}/{n}   healthy {n - len(out[g, True])}/{n}")
    print("\n" + "\n".join(lines))


def _report(bad: list[tuple[S.Shape, str]]) -> str:
    return "\n".join(f"{s.label()}: {why}" for s, why in bad)


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_shape_names_the_stuck_job(group: str, results: dict) -> None:  # noqa: ANN001
    assert GROUPS[group], "no shapes in the group"
    bad = results[group, False]
    assert not bad, _report(bad)


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_healthy_shape_is_not_reproduced(group: str, results: dict) -> None:  # noqa: ANN001
    bad = results[group, True]
    assert not bad, _report(bad)


def test_the_groups_cover_every_value() -> None:
    """Each seen value is in a seen shape, each held-out value in a held-out one, and no seen shape holds a
    held-out value: the split is what it says."""
    seen, held = GROUPS["seen"], S.held_out_shapes()
    assert not any(S.is_held_out(x) for x in seen) and all(S.is_held_out(x) for x in held)
    for k, values in S.DIMENSIONS.items():
        for v in values:
            pool = held if v in S.HELD[k] else seen
            assert any(getattr(x, k) == v for x in pool), (k, v)


# -- the example, through the installed command -----------------------------------------------------------
def test_the_example_through_the_repro_command(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    log.write_text(EXAMPLE)
    p = subprocess.run([sys.executable, "-m", "repro_lib.cli", "inspect", str(log)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    line = verdict_line(p.stdout)
    assert line.startswith("VERDICT: inconclusive — job new-test-job (j-4d5e6f) stuck in deploying"), line
    # the evidence: the dispatch while believed connected, the node-join evaluation with no new dispatch,
    # the reconciler's warning; and what the logs cannot show
    for needle in ("while the orchestrator believed it connected", "node-join evaluation (at 80.0s) created no new "
                   "dispatch", "reconciler warning at 180.0s", "is not in these logs (no edge log speaks for it, "
                   "and no NATS log)"):
        assert needle in line, (needle, line)
    assert "(job unknown)" not in p.stdout
    assert "[I] 2 dispatch line(s) named no job" in p.stdout  # the read note of the [I] rule
    assert "\n\n\n" not in p.stdout


def test_the_example_with_an_edge_log_that_goes_on_is_reproduced(tmp_path: Path) -> None:
    """The same orchestrator log beside an edge log that keeps logging past the send and shows no receipt:
    the loss is proven, so the verdict is reproduced (not inconclusive)."""
    (tmp_path / "orchestrator.log").write_text(EXAMPLE)
    (tmp_path / "edge1.log").write_text(
        "2026-11-20T10:00:01.000Z INF Edge connected to orchestrator node_id=node-edge1\n"
        "2026-11-20T10:00:10.030Z INF EDGE: Received RunExecutionRequest execution_id=e-aaa11111\n"
        "2026-11-20T10:00:11.000Z INF starting execution execution_id=e-aaa11111\n"
        "2026-11-20T10:01:04.000Z INF Edge connected to orchestrator node_id=node-edge1\n"
        "2026-11-20T10:02:30.000Z DBG heartbeat sent node_id=node-edge1\n")
    rc, text = inspect_cli([tmp_path / "orchestrator.log", tmp_path / "edge1.log"])
    line = verdict_line(text)
    assert rc == 0 and line.startswith("VERDICT: reproduced — job new-test-job (j-4d5e6f) stuck: 1 execution(s) lost")
    assert "goes on past the send and shows no receipt" in line
    assert "[lost] new-test-job (j-4d5e6f) execution e-bbb11111" in text


def test_no_verdict_is_one_line_saying_why(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    log.write_text("2026-11-20T10:00:00.000Z INF orchestrator started\n"
                   "2026-11-20T10:00:02.100Z DBG node connected node_id=node-edge1\n")
    rc, text = inspect_cli([log])
    line = verdict_line(text)
    assert rc == 0 and line.startswith("VERDICT: none — ")
    assert "no execution state, dispatch or reconciler line" in line
    assert "\n\n\n" not in text


# -- the capture rules, line by line ----------------------------------------------------------------------
def test_a_job_line_is_the_event_the_kits_job_lines_are() -> None:
    """A seed-style job line and the kit's own `JOB: state changed` line are the same kind of row: kind state,
    the job in `job`, no execution, state pending (the reconstruction places a deploy at such a row)."""
    kit = parse_line('time=2026-11-20T10:00:10Z level=INFO msg="JOB: state changed" job_id=new-test-job '
                     "state=pending version=1 type=pipeline", source="o")
    for line in ("2026-11-20T10:00:40.000Z INF job deployed job_name=new-test-job job_id=j-4d5e6f",
                 '{"level":"info","time":"2026-11-20T10:00:40Z","msg":"Job submitted","jobID":"j-4d5e6f",'
                 '"name":"new-test-job"}',
                 'time=2026-11-20T10:00:40Z level=INFO msg="created job" jobName=new-test-job jobID=j-4d5e6f'):
        row = parse_line(line, source="o")
        assert (row["kind"], row["state"], row["execution"]) == (kit["kind"], kit["state"], kit["execution"]) \
            == ("state", "pending", None), line
        assert row["job"] == "j-4d5e6f" and row["detail"].startswith("name=new-test-job"), row


@pytest.mark.parametrize("line, want", [
    ("2026-11-20T10:00:40.010Z DBG DISPATCH: Attempting to send message exec_id=e-1 target_node=n-9",
     ("dispatch", "attempt", "n-9", "e-1", None)),
    ("2026-11-20T10:00:40.011Z DBG PUBLISH: connection_alive=true connection_exists=true nodeId=n-9",
     ("publish", "published", "n-9", None, None)),
    ("2026-11-20T10:00:40.011Z DBG PUBLISH: Checking node connection nodeID=n-9 connection_exists=true "
     "connection_alive=false", ("publish", "refused", "n-9", None, None)),
    ('{"level":"info","time":"2026-11-20T10:01:20Z","msg":"REEVALUATOR: Created evaluation for job",'
     '"jobID":"j-4"}', ("eval", "created", None, None, "j-4")),
    ("2026-11-20T10:01:05.000Z DBG Node n-9 reconnected", ("node", "connected", "n-9", None, None)),
    ("2026-11-20T10:01:05.000Z WRN node left nodeID=n-9", ("node", "disconnected", "n-9", None, None)),
    ("2026-11-20T10:03:00.000Z WRN Job stuck in deploying jobId=j-4 name=new-test-job",
     ("reconcile", "stuck", None, None, "j-4")),
    ("2026-11-20T10:00:40.040Z INF received run request executionID=e-1", ("deliver", "delivered", None, "e-1", None)),
    ("2026-11-20T10:00:41.000Z INF execution running exec_id=e-1", ("state", "running", None, "e-1", None)),
    # an upstream (Bacalhau) text wins over the seed rules: this is a node found unhealthy, not a running execution
    ("2026-11-20T10:00:41.000Z DBG Execution e-1 is running on node n-9 which is not healthy",
     ("node", "lost", "n-9", "e-1", None)),
    # the kit's own words keep their meaning
    ('time=2026-11-20T10:00:41Z level=INFO msg="NODE: state changed" node_id=n-9 name=edge1 state=connected',
     ("node", "connected", "n-9", None, None)),
])
def test_seed_words_read_as_events(line: str, want: tuple[object, ...]) -> None:
    row = parse_line(line, source="o")
    got = tuple(None if pd.isna(row[k]) else row[k] for k in ("kind", "state", "node", "execution", "job"))
    assert got == want, row


@pytest.mark.parametrize("line", [
    "2026-11-20T10:00:10.010Z DBG DISPATCH: Attempting to send message execution_id=e-1 node_id=n-9",
    "2026-11-20T10:00:10.123456789Z 2026-11-20T10:00:10.010Z DBG DISPATCH: Attempting to send message "
    "execution_id=e-1 node_id=n-9",
    "orchestrator-1  | 2026-11-20T10:00:10.010Z DBG DISPATCH: Attempting to send message execution_id=e-1 node_id=n-9",
    "2026/11/20 10:00:10 DEBUG DISPATCH: Attempting to send message execution_id=e-1 node_id=n-9",
    "2026-11-20T10:00:10.010Z DBG transport/dispatcher.go:103 > DISPATCH: Attempting to send message "
    "execution_id=e-1 node_id=n-9",
    "\x1b[90m2026-11-20T10:00:10.010Z\x1b[0m \x1b[33mDBG\x1b[0m DISPATCH: Attempting to send message "
    "\x1b[36mexecution_id=\x1b[0me-1 \x1b[36mnode_id=\x1b[0mn-9",
])
def test_the_level_token_shapes_read_the_same(line: str) -> None:
    """zerolog's ConsoleWriter without `|` (RFC 3339 time, a level token, the message, the fields), behind
    docker's and compose's prefixes, with a caller or colours, and Go's default slog handler: one dispatch."""
    row = parse_line(line, source="o")
    assert (row["kind"], row["state"], row["node"], row["execution"], row["level"]) == \
        ("dispatch", "attempt", "n-9", "e-1", "DEBUG"), row
    assert row["t"].floor("s") == pd.Timestamp("2026-11-20T10:00:10Z")
    assert row["msg"] == "DISPATCH: Attempting to send message"


def test_a_bare_level_word_with_no_time_stays_text() -> None:
    row = parse_line("ERROR something went wrong", source="o")
    assert row["kind"] == "raw"


def test_the_job_of_a_dispatch_comes_from_its_own_log_only(tmp_path: Path) -> None:
    """[I] the nearest job line of the *same* log: an edge's log (or another service of a compose file) lends
    no job; a job named for the execution elsewhere in the log wins over the nearest job line."""
    lines = [
        "orchestrator-1  | 2026-11-20T10:00:10.000Z INF job deployed job_name=a job_id=j-a",
        "edge1-1         | 2026-11-20T10:00:11.000Z INF job deployed job_name=b job_id=j-b",
        "orchestrator-1  | 2026-11-20T10:00:12.000Z DBG DISPATCH: Attempting to send message execution_id=e-1 "
        "node_id=n-1",
        "orchestrator-1  | 2026-11-20T10:00:13.000Z INF job deployed job_name=c job_id=j-c",
        "orchestrator-1  | 2026-11-20T10:00:14.000Z DBG DISPATCH: Attempting to send message execution_id=e-2 "
        "node_id=n-1",
        "orchestrator-1  | 2026-11-20T10:00:15.000Z WRN RECONCILER: Re-dispatching pending execution to reconnected "
        "node execution_id=e-2 job_id=j-a node_id=n-1",
    ]
    df = parse_lines(lines, source="compose", fast=False)
    disp = df[(df["kind"] == "dispatch") & (df["state"] == "attempt")].set_index("execution")
    assert disp.loc["e-1", "job"] == "j-a" and "job_by=nearest-job-line" in disp.loc["e-1", "detail"]
    assert disp.loc["e-2", "job"] == "j-a" and "job_by" not in str(disp.loc["e-2", "detail"])


# -- fast path = per-line path on every shape -------------------------------------------------------------
def test_the_vectorised_parser_reads_every_shape_as_the_per_line_one() -> None:
    n = 0
    for shape in [*S.seen_shapes(), *S.held_out_shapes()]:
        for healthy in (False, True):
            for name, text in S.incident(shape, healthy=healthy).files.items():
                lines = text.splitlines()
                slow = parse_lines(lines, source="x", fast=False)
                fast = parse_lines(lines, source="x", fast=True)
                pd.testing.assert_frame_equal(fast, _as_fast(slow), obj=f"{shape.label()} {name}")
                n += 1
    assert n > 200


def test_a_big_seed_style_log_reads_its_console_lines_without_the_per_line_parser(monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    """The vectorised path reads `RFC3339 LVL msg k=v` lines (behind docker's time or not) itself: only the few
    job, node and reconciler lines go to the per-line parser."""
    from repro_lib.capture import _fast

    inc = S.incident(S.Shape(fmt="console", prefix="docker", edges="0"))
    lines = inc.files["orchestrator.log"].splitlines()
    calls: list[str] = []
    real = _fast.parse_one
    monkeypatch.setattr(_fast, "parse_one", lambda line, d: calls.append(line) or real(line, d))
    fast = parse_lines(lines * 50, source="o", fast=True)
    per_line = {"job deployed", "node connected", "node disconnected", "reconciler: job stuck"}
    assert calls and all(any(w in x for w in per_line) for x in calls), calls[:3]
    assert len(calls) < len(lines) * 50 / 3
    pd.testing.assert_frame_equal(fast, _as_fast(parse_lines(lines * 50, source="o", fast=False)))


def test_a_condensed_reading_gives_the_same_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in tiny blocks (the condensed reading), a dispatch whose job line is in an earlier block still gets
    its job (the diagnosis fills it again), and the text is the full reading's."""
    from repro_lib import inspect as insp
    from repro_lib.capture import logs, reader

    monkeypatch.setattr(reader, "_BLOCK", 4096)
    monkeypatch.setattr(insp, "BLOCK_BYTES", 4 << 10)
    monkeypatch.setattr(logs, "FAST_MIN_BYTES", 2 << 10)
    inc = S.incident(S.Shape(fmt="slog", prefix="docker", edges="2", dispatch_job="no"))
    paths = [str(p) for p in S.write(inc, tmp_path)]
    full = inspect_paths(paths, condense=False)
    cond = inspect_paths(paths, condense=True)
    drop = re.compile(r"^condensed: ")
    same = lambda x: "\n".join(y for y in x.text().splitlines() if not drop.match(y))  # noqa: E731
    assert same(cond) == same(full)
    assert inc.stuck_name in verdict_line(cond.text())


# -- random shapes ----------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(shape=st.builds(S.Shape, **{k: st.sampled_from(v) for k, v in S.DIMENSIONS.items()}),
       seed=st.integers(0, 10**6), healthy=st.booleans())
def test_any_mix_of_keys_prefixes_and_words(tmp_path_factory: pytest.TempPathFactory, shape: S.Shape, seed: int,
                                            healthy: bool) -> None:
    inc = S.incident(shape, healthy=healthy, seed=seed)
    paths = S.write(inc, tmp_path_factory.mktemp("h"))
    rc, text = inspect_cli(paths)
    assert problem(inc, rc, text) is None, (shape.label(), text[:2000])


def test_the_diagnosis_names_the_job_and_its_evidence_in_python() -> None:
    """Not only the CLI: the diagnosis a notebook gets holds the job's name and the headline's evidence."""
    ev = parse_lines(EXAMPLE.splitlines(), source="orchestrator")
    d = diagnose(ev)
    assert d.verdict is not None and d.verdict.verdict == "inconclusive"
    assert "new-test-job (j-4d5e6f)" in d.verdict.headline
    assert set(d.table["class"]) == {"unknown"} and d.table["reconciler_s"].notna().any()
    assert all(f.job_name in ("new-test-job", "test-heartbeat") for f in d.findings)

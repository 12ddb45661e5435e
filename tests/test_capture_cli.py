"""Tests for repro_lib.capture.cli: tables (box, --no-style, Bacalhau headers) and JSON."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro_lib.capture.cli import (
    KIND_COLUMNS,
    parse_cli_output,
    parse_json,
    parse_table,
    render_json,
    render_table,
)
from repro_lib.errors import ParseError

FIX = Path(__file__).parent / "fixtures" / "cli"


def _read(name: str) -> str:
    return (FIX / name).read_text()


def _records(df: pd.DataFrame, cols: list[str]) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in r) for r in df[cols].itertuples(index=False)]


NODES = [("n-7f3a9c21", "edge1", "connected"), ("n-1a2b3c4d", "edge2", "connecting"),
         ("n-9e8d7c6b", "edge3", "connected")]
EXECS = [("e-4b1d8e0a-6c2f", "test-heartbeat", "n-7f3a9c21", "running", "running"),
         ("e-0c9f7a3e-2b8d", "new-test-job", "n-1a2b3c4d", "pending", "running")]


@pytest.mark.parametrize("name", ["nodes-box.txt", "nodes-nostyle.txt"])
def test_nodes_tables(name: str) -> None:
    df = parse_table(_read(name), "nodes")
    assert tuple(df.columns[:3]) == KIND_COLUMNS["nodes"]
    assert _records(df, ["id", "name", "state"]) == NODES


def test_nodes_no_style_extra_column_and_blank_cell() -> None:
    df = parse_table(_read("nodes-nostyle.txt"), "nodes")
    assert list(df.columns) == ["id", "name", "state", "labels"]
    assert df["labels"].iloc[0] == "site=lab,role=edge"
    assert pd.isna(df["labels"].iloc[1])


def test_nodes_bacalhau_headers() -> None:
    df = parse_table(_read("nodes-bacalhau.txt"), "nodes")
    assert list(df["id"]) == ["n-7f3a9c", "n-1a2b3c"]
    assert list(df["state"]) == ["connected", "disconnected"]  # STATUS, lower-cased
    assert df["name"].isna().all()
    assert {"type", "approval", "labels"} <= set(df.columns)
    assert df["labels"].iloc[0] == "Architecture=amd64 Operating-System=linux"


@pytest.mark.parametrize("name", ["jobs-box.txt", "jobs-nostyle.txt", "jobs-bacalhau.txt"])
def test_jobs_tables(name: str) -> None:
    df = parse_table(_read(name), "jobs")
    assert tuple(df.columns[:5]) == KIND_COLUMNS["jobs"]
    assert list(df["name"][:2]) == ["test-heartbeat", "new-test-job"]
    assert list(df["state"][:2]) == ["running", "deploying"]
    assert (df["type"] == "pipeline").all()


def test_jobs_no_jobs_found() -> None:
    for text in (_read("jobs-empty.txt"), "", "\n", "No jobs found\n"):
        df = parse_cli_output(text, "jobs")
        assert df.empty and tuple(df.columns) == KIND_COLUMNS["jobs"]
    assert parse_json(_read("jobs-nojobs-json.txt"), "jobs").empty


@pytest.mark.parametrize("name", ["executions-box.txt", "executions-variant.txt"])
def test_execution_tables(name: str) -> None:
    df = parse_table(_read(name), "executions")
    assert _records(df, list(KIND_COLUMNS["executions"])) == EXECS


def test_executions_bacalhau_headers() -> None:
    df = parse_table(_read("executions-bacalhau.txt"), "executions")
    assert list(df["node"]) == ["n-7f3a9c", "n-1a2b3c"]  # NODE ID
    assert list(df["state"]) == ["running", "pending"]
    assert list(df["desired"]) == ["running", "running"]
    assert list(df["rev"]) == ["1", "1"]  # REV. kept as an extra column
    assert df["job"].isna().all()


def test_missing_column_raises_with_header_line() -> None:
    text = _read("executions-missing-state.txt")
    with pytest.raises(ParseError) as err:
        parse_table(text, "executions")
    assert text.splitlines()[0].strip() in str(err.value)
    assert "STATE" in str(err.value)
    with pytest.raises(ParseError, match="ID  NAME"):
        parse_table("ID  NAME\nx   y\n", "nodes")


def test_unknown_kind() -> None:
    with pytest.raises(ParseError, match="unknown snapshot kind"):
        parse_table("ID\n", "pods")


def test_json_api_shape() -> None:
    nodes = parse_json(_read("nodes-api.json"), "nodes")
    assert _records(nodes, ["id", "name", "state"]) == [
        ("n-7f3a9c21", "edge1", "connected"), ("n-1a2b3c4d", "edge2", "disconnected")]
    jobs = parse_json(_read("jobs-api.json"), "jobs")
    assert _records(jobs, list(KIND_COLUMNS["jobs"])) == [
        ("test-heartbeat", "j-2d7e4c1a", "pipeline", "running", "1"),
        ("new-test-job", "j-8b3f0e92", "pipeline", "deploying", "1")]
    assert list(jobs["namespace"]) == ["default", "default"]
    ex = parse_json(_read("executions-api.json"), "executions")
    assert _records(ex, list(KIND_COLUMNS["executions"])) == EXECS


def test_json_flat_and_detection() -> None:
    text = _read("executions-flat.json")
    ex = parse_cli_output(text, "executions")
    assert _records(ex, list(KIND_COLUMNS["executions"])) == EXECS
    with pytest.raises(ParseError):
        parse_json("{not json", "jobs")


def test_render_box_and_plain_look() -> None:
    rows = [dict(zip(KIND_COLUMNS["nodes"], r, strict=True)) for r in NODES]
    box = render_table(rows, ["id", "name", "state"])
    assert box.splitlines()[0] == "+------------+-------+------------+"
    assert box.splitlines()[1] == "| ID         | NAME  | STATE      |"
    plain = render_table(rows, ["id", "name", "state"], style="plain")
    assert plain.splitlines()[0] == "ID          NAME   STATE"
    assert " connected" in plain.splitlines()[1] + " "
    assert "|" not in plain and "+" not in plain


_cell = st.text(string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=14)
_state = st.sampled_from(["pending", "running", "deploying", "connected", "stopped", "queued"])


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(list(KIND_COLUMNS)),
    data=st.data(),
    style=st.sampled_from(["box", "plain"]),
    blank=st.booleans(),
)
def test_render_parse_round_trip(kind: str, data: st.DataObject, style: str, blank: bool) -> None:
    cols = list(KIND_COLUMNS[kind])
    n = data.draw(st.integers(0, 6))
    rows = []
    for _ in range(n):
        row = {c: data.draw(_state if c in ("state", "desired") else _cell) for c in cols}
        if blank and kind == "nodes":
            row["name"] = None
        rows.append(row)
    cols_out = [*cols, "created"]
    for r in rows:
        r["created"] = data.draw(st.sampled_from(["2m ago", "just now", "5s ago"]))
    text = render_table(rows, cols_out, style=style)
    df = parse_cli_output(text, kind)
    assert len(df) == n
    assert list(df.columns) == cols_out
    assert _records(df, cols_out) == [tuple(r[c] for c in cols_out) for r in rows]
    back = parse_cli_output(render_json(rows, kind), kind)
    assert len(back) == n
    if n:
        assert _records(back, cols_out) == [tuple(r[c] for c in cols_out) for r in rows]


def test_render_json_api_shape() -> None:
    rows = [dict(zip(KIND_COLUMNS["executions"], EXECS[1], strict=True))]
    obj = json.loads(render_json(rows, "executions"))
    assert obj[0]["status"]["compute_state"]["state_type"] == "pending"
    assert obj[0]["status"]["desired_state"]["state_type"] == "running"
    assert obj[0]["node_id"] == "n-1a2b3c4d" and obj[0]["job_id"] == "new-test-job"
    jobs = json.loads(render_json([{"name": "j", "state": "running"}], "jobs"))
    assert jobs[0]["status"]["state"]["state_type"] == "running"
    nodes = json.loads(render_json([{"id": "n-1", "state": "connected"}], "nodes"))
    assert nodes[0]["status"]["connection_state"] == "connected"

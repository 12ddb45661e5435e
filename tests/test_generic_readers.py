"""The generic readers (issue 30): an id grammar per kind, any aligned table mapped by its column names, printed
objects read by their keys wherever they nest, paste recognition without a command line, prefixes learnt token by
token. Each rule is tested on shapes no reader was written against, and on negative cases from real text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from repro_lib.capture.ids import id_of, ids_in, kind_by_shape, named_ids
from repro_lib.capture.legacy import learn_prefix
from repro_lib.capture.logs import parse_file
from repro_lib.capture.objects import object_rows, tree_of
from repro_lib.capture.paste import header_cells, header_kind, scan
from repro_lib.capture.tables import read_paste

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
QM = "QmWxA6yAYgCTF1GqsAdZjvo3X6vNPHgjtFubvi4HggE75c"
J = "j-df836f6a-6920-44e4-9683-27f6ec1921e2"
E = "e-3c81a312-ba8f-4fd9-a1bd-86b0527b2f40"
N = "n-d83a84df-8309-4f06-ac42-d07f3806128c"
P2P = "12D3KooWPGdapcvdoeVd6MGvf3aWWKGHKUUgctQJ952QQ9fzVo2A"


def _paste(tmp_path: Path, text: str, name: str = "paste.txt") -> pd.DataFrame:
    f = tmp_path / name
    f.write_text(text)
    p = read_paste(f)
    assert p is not None, "not recognised as CLI output"
    return p.events


def _ids(ev: pd.DataFrame, col: str) -> set[str]:
    return set(ev[col].dropna().astype(str))


# -- the id grammar -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "kind", "want"), [
    (J, "job", J), ("j-df836f6a", "job", "j-df836f6a"), (E, "execution", E), ("e-0e2ff6bd", "execution", "e-0e2ff6bd"),
    (N, "node", N), ("n-589109c0", "node", "n-589109c0"), (QM, "node", QM), ("QmXaXu9N", "node", "QmXaXu9N"),
    (P2P, "node", P2P),
    ("node-0", "node", "node-0"), ("24440f0d", "job", "24440f0d"), ("QmYgxZiy...", "node", "QmYgxZiy"),
    ("e972a009-317e-45ec-b38e-3a40b5562141", "execution", "e972a009-317e-45ec-b38e-3a40b5562141"),
])
def test_an_id_of_each_kind_is_read_whole_or_cut(value: str, kind: str, want: str) -> None:
    assert id_of(value, kind) == want


@pytest.mark.parametrize(("value", "kind"), [
    # elisions and prose from real pastes (issue 30, held-out-3's node list, the 2022 `list`): never ids
    ("ed for brevi", "job"), ("... [Addit", "node"), ("ional nod", "node"), ("Docker ubuntu echo h...", "job"),
    ("<none>", "node"), ("-", "execution"), ("Accepted", "execution"), ("ID", "node"), ("list", "node"),
    # an id of another kind is not this one's
    (E, "job"), (J, "node"), (QM, "execution"),
])
def test_prose_elisions_and_other_kinds_are_no_ids(value: str, kind: str) -> None:
    assert id_of(value, kind) is None


def test_a_name_is_a_node_only_where_a_column_says_node() -> None:
    assert id_of("compute-1", "node") == "compute-1" and id_of("compute-1", "job") is None
    assert kind_by_shape("compute-1") is None and ids_in("compute-1 restarted") == {}


def test_ids_in_text_by_shape_and_by_what_the_text_says() -> None:
    found = ids_in(f"• Node QmSD38wH, QmRHRr8c: execution error on {E} of {J}")
    assert found == {"node": ["QmSD38wH", "QmRHRr8c"], "execution": [E], "job": [J]}
    assert ids_in("port 12345678 and colour deadbeef") == {}  # 8 hex digits alone: no id without a column
    assert named_ids(f"Bid accepted: Server (id: {QM}) - Job (id: 65a13bf5-78d0-4015-bd6a-ab09704609fe)") == {
        "node": QM, "job": "65a13bf5-78d0-4015-bd6a-ab09704609fe"}
    assert named_ids("Fetching results of job 'c1334838-d75e-413c-b5d1-2a8cf3a0e847'...") == {
        "job": "c1334838-d75e-413c-b5d1-2a8cf3a0e847"}
    assert named_ids(f"bacalhau multiaddress: /ip4/172.31.35.25/tcp/43707/p2p/{QM}") == {"node": QM}
    # words after `job`/`node` are not ids; a number after `job` is not either
    assert named_ids("job failed, node list empty, job 12345678 of ... (trimmed for brevity) ...") == {}


# -- tables by their column names -----------------------------------------------------------------------------

def test_a_header_is_upper_case_column_names_whatever_printed_it() -> None:
    assert header_cells(" TIME                 TOPIC       EVENT") == ["TIME", "TOPIC", "EVENT"]
    assert header_cells("NODE ID\tSTATE\tCREATED") == ["NODE ID", "STATE", "CREATED"]
    assert header_cells("| Node ID | State |") == ["Node ID", "State"]
    # rows, prose and log lines are no headers
    for line in ("Completed  Stopped", "e-0e2ff6bd  node-2  Completed", "Job History", "WARNING  SOMETHING",
                 "12:09:07 | INF Starting  connection manager", "Error: job failed  twice"):
        assert header_cells(line) is None, line
    assert header_kind(" TIME                 TOPIC       EVENT") == "history"
    assert header_kind("NODE ID  EXECUTION ID  STATUS") == "table"


def test_a_table_never_seen_is_read_by_its_column_names(tmp_path: Path) -> None:
    """Columns in an order no command prints, a box, ANSI colours, a wrapped cell, trailing spaces."""
    text = ("\x1b[1m┌──────────────┬────────────┬───────────┬─────────────────────┐\x1b[0m\n"
            "│ EXECUTION ID │ NODE       │ STATUS    │ CREATED             │\n"
            "├──────────────┼────────────┼───────────┼─────────────────────┤\n"
            "│ e-0e2ff6bd   │ QmXaXu9N   │ \x1b[32mRunning\x1b[0m   │ 2024-06-25 11:14:40 │   \n"
            "│ e-448d73d8   │ compute-3  │ BidAccept │ 2024-06-25 11:14:41 │\n"
            "│              │            │ ed        │                     │\n"
            "└──────────────┴────────────┴───────────┴─────────────────────┘\n")
    ev = _paste(tmp_path, text)
    rows = ev[ev["kind"] == "cli"].set_index("execution")
    assert set(rows.index) == {"e-0e2ff6bd", "e-448d73d8"}
    assert rows.loc["e-0e2ff6bd", "node"] == "QmXaXu9N" and rows.loc["e-0e2ff6bd", "state"] == "running"
    assert rows.loc["e-448d73d8", "node"] == "compute-3" and rows.loc["e-448d73d8", "state"] == "pending"
    assert rows.loc["e-0e2ff6bd", "t"] == pd.Timestamp("2024-06-25T11:14:40Z")


def test_a_tab_separated_table_and_an_elided_row(tmp_path: Path) -> None:
    text = "ID\tNODE ID\tSTATE\ne-d5433aec\tn-589109c0\tCompleted\n... (trimmed for brevity) ...\n"
    ev = _paste(tmp_path, text)
    assert _ids(ev, "execution") == {"e-d5433aec"} and _ids(ev, "node") == {"n-589109c0"}
    assert not any("brevi" in v for c in ("node", "job", "execution") for v in _ids(ev, c))


def test_a_job_history_with_no_command_is_cli_output() -> None:
    ev = read_paste(REAL / "held-out" / "bacalhau-issue-5032-job-history-2025.txt").events
    cli = ev[ev["kind"] == "cli"]
    assert len(cli) == 2 and cli["t"].iloc[0] == pd.Timestamp("2025-06-02T23:28:49Z")


# -- objects by their keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["NodeID", "node_id", "nodeId", "Node ID", "node-id"])
def test_a_known_key_in_any_case_and_separator(key: str) -> None:
    assert object_rows(tree_of(f"{key}: {N}\nState: Running\n")) == [{"node": N, "state": "running",
                                                                      "detail": f"node={N}"}]


def test_json_nested_ids_and_numeric_states() -> None:
    text = (f'{{"Items": [{{"ID": "{E}", "JobID": "{J}", "NodeID": "{N}", "ComputeState": {{"StateType": 8}}}},'
            ' {"Execution": {"ID": "e-448d73d8", "ExecutionState": {"Previous": 2, "New": 5}}},'
            ' {"ID": "e-0e2ff6bd", "ComputeState": {"StateType": 7}}]}')
    rows = object_rows(tree_of(text))
    assert rows[0] == {"execution": E, "job": J, "node": N, "state": "failed", "detail": rows[0]["detail"]}
    assert rows[1]["execution"] == "e-448d73d8" and rows[1]["state"] == "pending"
    # 7 is Completed in Bacalhau 1.x's order and Publishing in today's: a number alone makes up no state
    assert rows[2]["execution"] == "e-0e2ff6bd" and rows[2]["state"] is None


def test_python_repr_and_pprint_are_read_without_evaluating_anything() -> None:
    rows = object_rows(tree_of(f"Job(id='{J}', state=JobState(state_type='Running'), meta={{'requester': 'x'}},"
                               f" executions=[Execution(id='{E}', node_id='node-0')])"))
    assert {(r.get("job"), r.get("execution"), r.get("node"), r["state"]) for r in rows} == {
        (J, None, None, "running"), (J, E, "node-0", None)}
    assert tree_of("__import__('os').system('true')") is None or object_rows(
        tree_of("__import__('os').system('true')")) == []


def test_a_key_that_is_an_id_names_what_is_under_it() -> None:
    """A 2022 describe fragment (held out): the node's id is the key above its State."""
    rows = object_rows(tree_of((REAL / "held-out" / "bacalhau-issue-422-cancelled-with-result-2022.txt").read_text()))
    assert rows == [{"node": QM, "state": "cancelled", "detail": ""}]  # the result's CID is no node


def test_elisions_in_objects_are_no_ids() -> None:
    assert object_rows(tree_of("{'id': 'ed for brevi', 'node_id': '... [Addit', 'job_id': 'ional nod'}")) == []


# -- recognition: CLI output without a command line, and logs that stay logs ----------------------------------

@pytest.mark.parametrize("text", [
    'Error: setting "node.loggingmode": "x" is an invalid log-mode\n',
    "Job Results By Node:\n• Node QmSD38wH, QmRHRr8c: execution error\n",
    "        Communicating with the network  ................  done ✅  0.2s\n",
    f"failed request: failed to authorize user: Unexpected response code: 403\nJob ID: {J}\n",
])
def test_cli_output_is_recognised_without_a_command(tmp_path: Path, text: str) -> None:
    assert len(_paste(tmp_path, text)) > 0


def test_every_node_a_results_line_names_reaches_the_events(tmp_path: Path) -> None:
    ev = _paste(tmp_path, "Job Results By Node:\n• Node QmSD38wH, QmSD38wH, QmRHRr8c: execution error\n")
    assert _ids(ev, "node") == {"QmSD38wH", "QmRHRr8c"}


def test_a_log_with_an_error_line_is_still_a_log(tmp_path: Path) -> None:
    f = tmp_path / "serve.log"
    f.write_text("12:09:07 | INF Starting connection manager node_id=n-1\n"
                 "12:09:08 | INF Attempting to establish connection\n"
                 "12:09:09 | ERR Connection attempt failed\n"
                 "Error: failed to start node: nats: no servers available for connection\n")
    p = read_paste(f)
    assert p is None or p.also_log


def test_scan_finds_a_json_answer_after_any_command() -> None:
    text = f'curl 127.0.0.1:1234/api/v1/orchestrator/jobs/{J}\n{{\n  "Job": {{\n    "ID": "{J}"\n  }}\n}}\n'
    assert [b.kind for b in scan(text)] == ["object"]


# -- prefixes learnt token by token ---------------------------------------------------------------------------

def test_a_prefix_whose_tokens_vary_is_learnt(tmp_path: Path) -> None:
    lines = [f"nats-{pod} nats [1] 2018/04/20 19:40:2{i}.277348 [ERR] Error trying to connect to route"
             for i, pod in enumerate(["4xwt4vd2gl", "4xwt4vd2gl", "xnqsk7ncm4", "4xwt4vd2gl"])]
    (tmp_path / "pods.log").write_text("\n".join(lines) + "\n")
    df = parse_file(tmp_path / "pods.log")
    assert df["level"].eq("ERROR").all() and df["t"].notna().all()
    assert learn_prefix(["2021-03-10 15:08:19 | 12:00:01 | INF x"]) is None  # one line is no file-wide prefix


def test_a_quote_on_one_line_is_stripped(tmp_path: Path) -> None:
    lines = ["> [11611] 2019/04/24 17:28:58.703831 [ERR] Error trying to connect to route",
             "[11611] 2019/04/24 17:29:00.703400 [ERR] Error trying to connect to route"]
    (tmp_path / "quoted.log").write_text("\n".join(lines) + "\n")
    df = parse_file(tmp_path / "quoted.log")
    assert df["level"].eq("ERROR").all() and df["t"].notna().all()


def test_the_2022_run_output_three_dot_spinner_and_results_by_node(tmp_path: Path) -> None:
    """The 2022 `docker run` shape in Bacalhau's docs: a spinner with `...`, then `Node <id>:` / `Shard 0:` /
    `Status:` blocks — each node's state read by its keys, not by the command."""
    text = ("Job successfully submitted. Job ID: 3ba00839-b8bf-4558-9e6b-f1ab51badd1e\n"
            "               Creating job for submission ... done ✅\n"
            "              Results accepted, publishing ... Job Results By Node:\n"
            "Node QmVAb7r2:\n  Shard 0:\n    Status: Completed\n    Container Exit Code: -1\n"
            "Node QmXaXu9N:\n  Shard 0:\n    Status: Cancelled\n    No RunOutput for this shard\n")
    ev = _paste(tmp_path, text)
    cli = ev[ev["kind"] == "cli"]
    assert dict(zip(cli["node"], cli["state"], strict=True)) == {"QmVAb7r2": "completed", "QmXaXu9N": "cancelled"}
    assert "3ba00839-b8bf-4558-9e6b-f1ab51badd1e" in _ids(ev, "job")


def test_an_id_printed_alone_and_a_table_of_unknown_names(tmp_path: Path) -> None:
    assert _ids(_paste(tmp_path, f"{J}\n", "id.txt"), "job") == {J}  # `job run --wait=false`
    ev = _paste(tmp_path, "CLIENT  SERVER  LATEST  UPDATE MESSAGE\nv1.5.0  v1.5.0  v1.5.0\n", "version.txt")
    assert ev["detail"].str.startswith("table:").any()
    # upper-case words over a line that is no row aligned to them are not a table
    f = tmp_path / "shout.log"
    f.write_text("WARNING  DISK  FULL\nthe disk is full, free some space\n")
    assert read_paste(f) is None


def test_node_and_job_lists_as_the_api_prints_them(tmp_path: Path) -> None:
    """`node list --output json` nests the id under Info and keeps the connection beside it; `job list --output
    json` writes ID, Name and State.StateType: read by their keys, into the final state and the events."""
    nodes = tmp_path / "nodes.json"
    nodes.write_text(f'[{{"Info": {{"NodeID": "{N}", "NodeType": "Compute"}}, "Membership": "APPROVED",'
                     ' "Connection": "DISCONNECTED"}]\n')
    p = read_paste(nodes)
    assert p is not None and p.tables[0][0] == "nodes"
    assert p.tables[0][1][["id", "state"]].to_dict("records") == [{"id": N, "state": "disconnected"}]
    jobs = tmp_path / "jobs.json"
    jobs.write_text(f'[{{"ID": "{J}", "Name": "my-job", "Type": "batch", "State": {{"StateType": "Running"}}}}]\n')
    p = read_paste(jobs)
    assert p is not None
    assert p.tables[0][1][["name", "id", "state"]].to_dict("records") == [{"name": "my-job", "id": J,
                                                                         "state": "running"}]
    assert _ids(p.events, "job") == {J}


def test_sdk_output_after_a_python_prompt_and_a_models_repr(tmp_path: Path) -> None:
    text = (">>> pprint(api.list_jobs())\n"
            f"{{'items': [{{'id': '{J}',\n            'state': {{'message': 'it''s', 'state_type': 'Running'}}}}],\n"
            " 'next_token': ''}\n")
    ev = _paste(tmp_path, text, "sdk.txt")
    assert J in _ids(ev, "job") and "running" in set(ev["state"].dropna())
    ev = _paste(tmp_path, f"ListJobsResponse(items=[Job(id='{J}', state=JobState(state_type='Failed'))])\n", "r.txt")
    assert _ids(ev, "job") == {J}


def test_a_json_log_in_any_key_order_is_a_log_not_an_object(tmp_path: Path) -> None:
    f = tmp_path / "zap.log"
    f.write_text("".join(f'{{"ts":176669364{i}.5,"level":"info","node_id":"{N}","msg":"Starting connection manager"}}\n'
                         for i in range(5)))
    p = read_paste(f)
    assert p is None or p.also_log
    assert parse_file(f)["node"].eq(N).all()


def test_brackets_that_open_no_document_are_not_tried_line_after_line() -> None:
    """400 lines of `{` then 30,000 of text (measured 0.15 s; 14.6 s before the bracket scan was bounded): the
    first unclosed bracket stops the search, so the reading stays linear."""
    import time

    text = "\n".join(["{"] * 400 + ["x" * 100] * 30000)
    t0 = time.perf_counter()
    assert scan(text) == []
    assert time.perf_counter() - t0 < 10


def test_nats_server_lines_behind_compose_and_journald(tmp_path: Path) -> None:
    f = tmp_path / "compose.log"
    f.write_text("nats-1  | [1] 2023/10/05 12:00:01.123456 [INF] Starting nats-server\n"
                 'nats-1  | [1] 2023/10/05 12:00:02.123456 [ERR] 10.0.0.5:43468 - cid:28 - "v1.2:go:edge-1" - '
                 "Slow Consumer Detected: WriteDeadline of 10s exceeded with 1 chunks of 1024 total bytes.\n")
    df = parse_file(f)
    assert df["level"].tolist() == ["INFO", "ERROR"] and df["t"].iloc[0] == pd.Timestamp("2023-10-05T12:00:01.123456Z")
    assert df["state"].iloc[1] == "slow_consumer" and "service=nats-1" in df["detail"].iloc[1]
    (tmp_path / "notime.log").write_text("nats_1 | [1] [DBG] 172.18.0.3:55106 - cid:5 - Client connection created\n")
    dn = parse_file(tmp_path / "notime.log")
    assert dn["level"].tolist() == ["DEBUG"] and dn["t"].isna().all() and "cid=5" in dn["detail"].iloc[0]
    j = tmp_path / "journal.log"
    j.write_text("Jan 04 15:08:19 host nats-server[123]: [123] 2021/01/04 15:08:19.123456 [INF] Starting\n"
                 "Jan 04 15:08:21 host nats-server[123]: [INF] no time of its own\n")
    dj = parse_file(j, date=date(2021, 1, 4))
    assert dj["t"].tolist() == [pd.Timestamp("2021-01-04T15:08:19.123456Z"), pd.Timestamp("2021-01-04T15:08:21Z")]


def test_a_nats_server_log_with_an_error_line_stays_a_log(tmp_path: Path) -> None:
    f = tmp_path / "nats.log"
    f.write_text("[1] 2021/09/29 02:23:05.189377 [INF] Starting nats-server\n"
                 "[1] 2021/09/29 02:23:05.189377 [ERR] Error listening on port\n"
                 "Error: failed to start server: listen tcp :4222: bind: address already in use\n")
    p = read_paste(f)
    assert p is None or p.also_log
    assert parse_file(f)["level"].dropna().tolist() == ["INFO", "ERROR"]


@pytest.mark.parametrize(("text", "want"), [
    ("Node ID     = n-1234abcd\nStatus      = DISCONNECTED\nType        = Compute\n",
     {"node": "n-1234abcd", "state": "disconnected"}),
    (f"Execution ID:   {E}\nJob ID:         {J}\nNode ID:        compute-2\nState:          Failed\n",
     {"execution": E, "job": J, "node": "compute-2", "state": "failed"}),
])
def test_a_describe_block_of_any_object(tmp_path: Path, text: str, want: dict[str, str]) -> None:
    ev = _paste(tmp_path, text)
    row = ev[ev["kind"] == "cli"].iloc[0]
    assert {k: row[k] for k in want} == want


def test_output_csv_is_read_as_the_table_it_is(tmp_path: Path) -> None:
    p = tmp_path / "jobs.csv"
    p.write_text(f'ID,NAME,TYPE,STATE\n{J},"a, b",batch,Failed\n')
    got = read_paste(p)
    assert got is not None and got.tables[0][0] == "jobs"
    rows = got.tables[0][1][["name", "id", "state"]].to_dict("records")
    assert rows == [{"name": "a, b", "id": J, "state": "failed"}]
    e = tmp_path / "executions.csv"
    e.write_text("CREATED,ID,NODE ID,COMPUTE STATE,DESIRED STATE,COMMENT\n12:43:31,e-d5433aec,QmUWYeTV,BidAccepted,"
                 "Running,\n")
    got = read_paste(e)
    assert got is not None
    assert got.tables[0][1][["id", "node", "state", "desired"]].to_dict("records") == [
        {"id": "e-d5433aec", "node": "QmUWYeTV", "state": "pending", "desired": "running"}]

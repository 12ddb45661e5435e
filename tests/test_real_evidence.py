"""Real evidence (issue 9): text that real Bacalhau nodes and CLIs wrote (tests/fixtures/real/, each
file's source in its README), read line by line; encodings, dates, CLI tables through `repro inspect`,
and every secret form through every writer."""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from repro_lib.capture.logs import date_undated_note, date_unknown, parse_file
from repro_lib.capture.reader import MAX_LINE, read_log
from repro_lib.capture.tables import read_cli_file
from repro_lib.cli import main
from repro_lib.inspect import inspect_paths

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "fixtures" / "real"
LOGS = sorted(REAL.glob("*.log"))
# a line "carries a level" when a level token is in it; it "names" something when an id is in it
_LEVEL = re.compile(r'(?:^|\s|\|\s)(?:TRC|DBG|INF|WRN|ERR|FTL|PNC)\s|"level":"|\blevel=')
_NAMES = re.compile(r"\b[nje]-[0-9a-f]{8}\b|\[NodeID:\w+\]")


def test_every_real_fixture_has_its_source_in_the_readme() -> None:
    readme = (REAL / "README.md").read_text()
    files = sorted(p.name for p in REAL.iterdir() if p.name != "README.md" and p.is_file())
    assert len(files) >= 30
    for name in files:
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| {name} |")), None)
        assert row is not None and "https://" in row, name


def test_rates_on_real_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """Time and level on >= 95 % of lines that carry a level; ids on >= 90 % of lines that name one."""
    lv_all = lv_ok = id_all = id_ok = 0
    for f in LOGS:
        df = parse_file(f)
        lines = df["line"].fillna("")
        # a multi-line record holds several lines: judge its first line
        first = lines.str.split("\n").str[0]
        has_level = first.str.contains(_LEVEL)
        names = first.str.contains(_NAMES)
        read = has_level & df["t"].notna() & df["level"].notna() & (df["kind"] != "raw")
        filled = names & (df["node"].notna() | df["job"].notna() | df["execution"].notna())
        lv_all, lv_ok = lv_all + int(has_level.sum()), lv_ok + int(read.sum())
        id_all, id_ok = id_all + int(names.sum()), id_ok + int(filled.sum())
    with capsys.disabled():
        print(f"\nreal fixtures: time+level {lv_ok}/{lv_all} = {lv_ok / lv_all:.1%}; "
              f"ids {id_ok}/{id_all} = {id_ok / id_all:.1%}")
    assert lv_all >= 80 and id_all >= 40
    assert lv_ok / lv_all >= 0.95 and id_ok / id_all >= 0.90


def _rows(name: str) -> list[tuple[str | None, ...]]:
    df = parse_file(REAL / name)
    out = []
    for r in df.itertuples():
        t = None if pd.isna(r.t) else r.t.strftime("%H:%M:%S.%f")[:12]
        out.append(tuple(None if (isinstance(v, float) and v != v) else v
                         for v in (t, r.level, r.kind, r.state, r.node, r.job, r.execution)))
    return out


N1 = "n-2952ac48-9c5a-4114-8564-60eca482ba2e"


def test_console_1_6_line_by_line() -> None:
    assert _rows("bacalhau-pr-4763-serve-console-1.6.log") == [
        ("12:09:06.000", "INFO", "log", None, None, None, None),
        ("12:09:06.000", "INFO", "log", None, None, None, None),
        ("12:09:07.000", "INFO", "node", "connecting", N1, None, None),   # Starting connection manager
        ("12:09:07.000", "INFO", "node", "connecting", N1, None, None),   # Attempting to establish connection
        ("12:09:07.000", "INFO", "log", None, N1, None, None),            # bacalhau node running name=n-…
        ("12:09:07.000", "INFO", "node", "handshake", N1, None, None),    # handshake successful with node n-…
        ("12:09:09.000", "INFO", "log", None, None, None, None),          # ^C before the time: terminal echo
    ]


def test_console_1_5_brackets_and_journald_line_by_line() -> None:
    rows = _rows("bacalhau-issue-4562-journald-1.5.log")
    assert [r[:3] for r in rows] == [("16:10:44.118", "INFO", "log"), ("16:10:44.118", "INFO", "log"),
                                     ("16:10:44.119", "INFO", "log"), ("16:10:44.136", "INFO", "log"),
                                     ("16:10:44.139", "DEBUG", "log"), ("16:10:44.161", "DEBUG", "log"),
                                     ("16:10:44.161", "DEBUG", "log")]
    assert [r[4] for r in rows] == [None, None, None, None, "QmbxGSsM", "QmbxGSsM", "QmbxGSsM"]  # [NodeID:…]
    df = parse_file(REAL / "bacalhau-issue-4562-journald-1.5.log")
    assert df["msg"].iloc[4] == "creating new bbolt database at /data/compute/state_boltdb.db"  # no [NodeID:…]
    # journald writes a month and day but no year: the date is kept, the year assumed and said so
    assert not date_unknown(df["t"]).any() and (df["t"].dt.strftime("%m-%d") == "09-30").all()
    assert "year=assumed" in df["detail"].iloc[0] and "year" in date_undated_note(df)
    dated = parse_file(REAL / "bacalhau-issue-4562-journald-1.5.log", date=pd.Timestamp("2024-01-01").date())
    assert (dated["t"].dt.strftime("%Y-%m-%d") == "2024-09-30").all()
    assert not dated["detail"].str.contains("year=").any()


def test_collector_prefix_and_server_field() -> None:
    rows = _rows("bacalhau-issue-4352-logs-explorer-prefixed-1.5.log")
    assert len(rows) == 7 and {r[1] for r in rows} == {"INFO", "DEBUG"}
    assert {r[4] for r in rows} == {"n-24d6c2ac-f6e2-4168-9f56-7c2ebea1b7f7"}  # [Server:n-…]
    assert rows[0][0] == "01:13:31.067"  # the app's own time, not the collector's PDT one


def test_zerolog_json_dates_the_console_lines_before_it() -> None:
    df = parse_file(REAL / "bacalhau-issue-4523-json-and-console-1.5.log")
    assert not date_unknown(df["t"]).any()
    assert (df["t"].dt.date.astype(str) == "2024-09-24").all()
    assert set(df["level"]) >= {"TRACE", "DEBUG", "INFO"}


def test_go_panic_is_one_record() -> None:
    df = parse_file(REAL / "bacalhau-pr-4712-nats-shutdown-panic.log")
    assert len(df) == 2
    panic = df.iloc[1]
    assert (panic["kind"], panic["level"]) == ("log", "PANIC") and panic["msg"] == "panic: close of nil channel"
    assert panic["line"].count("\n") == 16 and "goroutine" in panic["line"]
    assert df.iloc[0]["node"] == "n-d1c1b605-bf3d-4569-a1f0-b9a0a1a3f4b1"  # "Shutting down server n-…"


def test_upstream_messages_keep_their_meaning() -> None:
    from repro_lib.capture.logs import parse_line

    def row(text: str) -> tuple[object, ...]:
        r = parse_line(text, source="orchestrator")
        return r["kind"], r["state"], r["node"], r["job"], r["execution"]

    assert row('12:00:01 | INF Marking node as disconnected node=n-1a2b3c4d lastHeartbeat=x') == \
        ("node", "disconnected", "n-1a2b3c4d", None, None)
    assert row("12:00:02 | DBG Processing node connection event nodeID=n-1a2b3c4d previous=CONNECTED") == \
        ("node", None, "n-1a2b3c4d", None, None)
    assert row("12:00:03 | DBG Execution state changed from 'New' to 'AskForBid' executionID=e-0f0f0f0f "
               "jobID=j-11112222") == ("state", "pending", None, "j-11112222", "e-0f0f0f0f")
    assert row('{"level":"info","time":"2024-12-12T12:00:04Z","message":"Accepting bid for execution '
               'e-0a0b0c0d","JobID":"j-1234abcd"}') == ("deliver", "delivered", None, "j-1234abcd", "e-0a0b0c0d")


# -- encodings, long lines, dates ------------------------------------------------------------------------
LINE = "time=2025-12-25T20:00:01.000Z level=INFO msg=\"EDGE: starting\" node_id=n-1a2b3c4d\n"


@pytest.mark.parametrize("encoding,bom", [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                          ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b"")])
def test_bom_and_utf16(tmp_path: Path, encoding: str, bom: bytes) -> None:
    f = tmp_path / "edge1.log"
    f.write_bytes(bom + (LINE * 3).encode(encoding))
    df = parse_file(f)
    assert len(df) == 3 and (df["node"] == "n-1a2b3c4d").all() and df["t"].notna().all()
    assert df["t"].iloc[0] == pd.Timestamp("2025-12-25T20:00:01Z")  # the first line keeps its time


def test_undecodable_bytes_are_replaced_and_counted(tmp_path: Path) -> None:
    f = tmp_path / "edge1.log"
    f.write_bytes(LINE.encode() + b"bad \xff\xfe bytes\n" + LINE.encode())
    data, notes = read_log(f)
    assert notes.undecodable == 2 and b"\xef\xbf\xbd" in data
    ins = inspect_paths([str(f)])
    assert "2 undecodable byte(s) replaced" in ins.text()


def test_colour_codes_are_stripped(tmp_path: Path) -> None:
    f = tmp_path / "edge1.log"
    f.write_text("\x1b[90m12:09:07\x1b[0m | \x1b[32mINF\x1b[0m Starting connection manager "
                 "\x1b[36mnode_id=\x1b[0mn-2952ac48\n")
    r = parse_file(f).iloc[0]
    assert (r["level"], r["kind"], r["node"]) == ("INFO", "node", "n-2952ac48")


def test_a_huge_line_is_cut_not_swallowed(tmp_path: Path) -> None:
    f = tmp_path / "orchestrator.log"
    f.write_bytes(b'time=2025-12-25T20:00:00Z level=INFO msg="big" blob=' + b"x" * (3 * MAX_LINE) + b"\n" +
                  LINE.encode())
    df = parse_file(f)
    assert len(df) == 2 and len(df["line"].iloc[0]) < MAX_LINE + 100
    assert df["line"].iloc[0].endswith(f"…[line cut: {3 * MAX_LINE + 52:,} bytes]")
    assert df["node"].iloc[1] == "n-1a2b3c4d"
    assert "1 line(s) longer than 64 KiB cut" in inspect_paths([str(f)]).text()


def test_undated_rows_are_never_1970_in_the_csv(tmp_path: Path) -> None:
    csv = tmp_path / "ev.csv"
    assert main(["inspect", str(REAL / "bacalhau-pr-4763-serve-console-1.6.log"), "--events", str(csv)]) == 0
    text = csv.read_text()
    assert "1970" not in text
    ev = pd.read_csv(csv)
    assert set(ev["date"]) == {"unknown"} and ev["t"].str.match(r"^\d\d:\d\d:\d\d\.\d{6}$").all()
    dated = tmp_path / "dated.csv"
    assert main(["inspect", str(REAL / "bacalhau-pr-4763-serve-console-1.6.log"), "--date", "2024-12-12",
                 "--events", str(dated)]) == 0
    assert set(pd.read_csv(dated)["date"]) == {"2024-12-12"}


def test_inspect_says_when_dates_are_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(REAL / "bacalhau-pr-4763-serve-console-1.6.log")]) == 0
    assert "no date anywhere in their file" in capsys.readouterr().out


# -- CLI tables --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kind,rows", [
    ("bacalhau-pr-5016-node-list.txt", "nodes", 1),
    ("bacalhau-issue-4418-node-list-1.5-disconnected.txt", "nodes", 2),
    ("bacalhau-issue-4196-job-list-next-token.txt", "jobs", 10),
    ("bacalhau-issue-4507-job-list-wide.txt", "jobs", 1),
    ("bacalhau-pr-4691-job-list-next-token-command.txt", "jobs", 1),
    ("bacalhau-pr-2990-job-executions.txt", "executions", 1),
    ("bacalhau-docs-job-executions.txt", "executions", 3),
    ("bacalhau-pr-4550-job-executions-yaml.txt", "executions", 1),
])
def test_real_cli_tables(name: str, kind: str, rows: int) -> None:
    tables = read_cli_file(REAL / name)
    assert tables is not None
    got = dict(tables)[kind]
    assert len(got) == rows
    assert got["id"].notna().all()  # wrapped cells and footers are no phantom rows
    if kind == "jobs":
        assert not got["name"].isin(["docker", "wasm"]).any()  # the older JOB column is the engine
    if kind == "executions":
        assert set(got["state"]) <= {"completed", "failed", "pending", "running"}
    if kind == "nodes" and name.endswith("disconnected.txt"):
        assert got["state"].tolist()[1] == "disconnected"


def test_wrapped_node_labels_stay_in_their_row() -> None:
    [(kind, df)] = read_cli_file(REAL / "bacalhau-pr-5016-node-list.txt")
    assert df.iloc[0]["labels"].endswith("os_arch=arm64 os_type=darwin") and df.iloc[0]["cpu"] == "6.4 / 6.4"


def test_job_describe_gives_the_job_and_its_executions() -> None:
    tables = dict(read_cli_file(REAL / "bacalhau-pr-4115-job-describe-1.5.txt"))
    assert tables["jobs"].iloc[0]["state"] == "completed"
    ex = tables["executions"].iloc[0]
    assert (ex["id"], ex["node"], ex["state"], ex["desired"]) == ("e-42188026", "n-6e8998ad", "completed", "stopped")


def test_logs_and_cli_tables_in_one_call_and_the_tables_decide_the_final_state(tmp_path: Path) -> None:
    ref = ROOT / "data" / "reference-run" / "logs"
    logs = [str(ref / n) for n in ("orchestrator.log", "edge1.log", "edge2.log")]
    # the final `execution list` says everything runs: the logs' lost dispatch no longer matters
    final = json.loads((ref / "cli" / "002-executions.json").read_text())
    for e in final:
        e["status"]["compute_state"]["state_type"] = "running"
    cured = tmp_path / "executions.json"
    cured.write_text(json.dumps(final))
    jobs = json.loads((ref / "cli" / "002-jobs.json").read_text())
    for j in jobs:
        j["status"] = {"state": {"state_type": "running"}} if isinstance(j.get("status"), dict) else "running"
        j["state"] = "running"
    cured_jobs = tmp_path / "jobs.json"
    cured_jobs.write_text(json.dumps(jobs))
    stuck = inspect_paths([*logs, str(ref / "cli" / "002-executions.json"), str(ref / "cli" / "002-jobs.json")])
    assert stuck.diagnosis.verdict.verdict == "reproduced" and "CLI output" in stuck.title
    fine = inspect_paths([*logs, str(ref / "cli" / "002-executions.json"), str(cured), str(cured_jobs)])
    assert fine.diagnosis.verdict.verdict == "not_reproduced"  # the later table of a kind wins


# -- secrets: every form through every writer --------------------------------------------------------------
SECRETS = {
    "token=": ("token=tok3n-Sh0rt", "tok3n-Sh0rt"),
    "long token": ("bootstrap_token=Q2hhbmdlTWVQbGVhc2VUaGlzSXNBVG9rZW4xMjM0NTY3ODkw",
                   "Q2hhbmdlTWVQbGVhc2VUaGlzSXNBVG9rZW4xMjM0NTY3ODkw"),
    "Bearer": ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "eyJhbGciOiJIUzI1NiJ9.abc.def"),
    "JSON Token": ('payload={"Token":"s3kr1t-value"}', "s3kr1t-value"),
    "password": ("password=hunter2", "hunter2"),
    "passwd": ("passwd: swordfish", "swordfish"),
    "secret": ("client_secret=abc123xyz", "abc123xyz"),
    "api key": ("api_key=AKIAZZZZ9999", "AKIAZZZZ9999"),
    "url credentials": ("url=https://alice:pa55word@nats.example/x", "pa55word"),
}


def _log_with(secret_text: str) -> str:
    return (f'time=2025-12-25T20:00:01.000Z level=INFO msg="Edge connected to orchestrator" node_id=n-1a2b3c4d '
            f'note="{secret_text.replace(chr(34), chr(92) + chr(34))}"\n'
            f'time=2025-12-25T20:00:02.000Z level=WARN msg="connect failed {secret_text.replace(chr(34), "")}"\n')


@pytest.mark.parametrize("form", sorted(SECRETS))
def test_a_secret_reaches_no_writer(form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, value = SECRETS[form]
    log = tmp_path / "edge1.log"
    log.write_text(_log_with(text))
    csv, png = tmp_path / "ev.csv", tmp_path / "t.svg"
    assert main(["inspect", str(log), "--events", str(csv), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert value not in out, "text output"
    assert value not in csv.read_text(), "--events CSV"
    assert value not in png.read_text(), "figure labels"  # an SVG keeps its text as text
    # run folders: events.jsonl and the logs written for them
    from repro_lib.redact import redact_frame
    from repro_lib.run import load_run

    ev = redact_frame(parse_file(log))
    assert not ev.astype(str).apply(lambda c: c.str.contains(value, regex=False)).any().any(), "events table"
    run_dir = ROOT / "data" / "reference-run"
    run = load_run(run_dir)
    run.records = []
    run.raw_logs = tmp_path / "raw"
    run.raw_logs.mkdir()
    (run.raw_logs / "edge1.log").write_text(_log_with(text))
    run._events = pd.concat([run.events, parse_file(log)], ignore_index=True)
    out_dir = run.write(tmp_path / "run")
    for f in out_dir.rglob("*"):
        if f.is_file():
            assert value not in f.read_text(errors="replace"), f"run folder: {f.name}"


def test_a_secret_reaches_no_report(tmp_path: Path) -> None:
    import nbformat

    from repro_lib.report import redact_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("TOKEN = 'tok3n-Sh0rt'  # token=tok3n-Sh0rt")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="password=hunter2\n"),
                           nbformat.v4.new_output("execute_result", data={
                               "text/html": "<td>Bearer eyJhbGciOiJIUzI1NiJ9.abc.def</td>",
                               "text/plain": "url=https://alice:pa55word@h/x"})]
    dumped = nbformat.writes(redact_notebook(nb))
    for value in ("hunter2", "eyJhbGciOiJIUzI1NiJ9.abc.def", "pa55word"):
        assert value not in dumped
    assert "token=***" in dumped


def test_roles_of_real_logs_and_their_names() -> None:
    ins = inspect_paths([str(REAL / "bacalhau-issue-4860-compute-ncl-connect-1.6.log"),
                         str(REAL / "bacalhau-issue-4860-orchestrator-console-1.6.log")])
    roles = {r.source: r.role for r in ins.read}
    # a compute node's own "Starting connection manager" lines make it an edge log, not an orchestrator's;
    # the orchestrator's four start-up lines say nothing of its role, and it is not guessed from the name
    assert roles == {"bacalhau-issue-4860-compute-ncl-connect-1.6": "edge",
                     "bacalhau-issue-4860-orchestrator-console-1.6": "other"}


def test_files_and_options_in_any_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(REAL / "bacalhau-pr-4763-serve-console-1.6.log"), "--date", "2024-12-12",
                 str(REAL / "bacalhau-issue-4418-node-list-1.5-disconnected.txt")]) == 0
    out = capsys.readouterr().out
    assert "CLI output:" in out and "(nodes)" in out and "no date anywhere" not in out


@pytest.mark.parametrize("prefix", ["", "2024-12-12T12:09:07.805517000Z ", "compute-1  | ",
                                    "compute-1  | 2024-12-12T12:09:07.805517000Z "])
def test_console_1_6_behind_docker_and_compose_prefixes(prefix: str) -> None:
    from repro_lib.capture.logs import parse_line

    r = parse_line(prefix + "12:09:07 | INF Starting connection manager node_id=n-2952ac48", source="edge1")
    assert (r["level"], r["kind"], r["state"], r["node"]) == ("INFO", "node", "connecting", "n-2952ac48")
    if "compose" in prefix:
        assert "service=compute-1" in (r["detail"] or "")
    if "2024" in prefix:
        assert r["t"] == pd.Timestamp("2024-12-12T12:09:07.805517Z")  # the dated prefix wins


def test_undated_figure_says_so(tmp_path: Path) -> None:
    from repro_lib.analysis.plots import plot_run

    ins = inspect_paths([str(REAL / "bacalhau-pr-4763-serve-console-1.6.log")])
    fig = plot_run(ins.events, title=ins.title)
    assert "date unknown" in fig._suptitle.get_text() and "1970" not in fig._suptitle.get_text()
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert not any("1970" in t for t in ticks)


def test_reports_show_repository_paths_relative(tmp_path: Path) -> None:
    import nbformat

    from repro_lib.report import relativize_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"RUN_DIR": str(ROOT / "reports" / "x" / "run")}}
    nb.cells = [nbformat.v4.new_code_cell(f'RUN_DIR = "{ROOT}/reports/x/run"')]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"run folder: {ROOT}/reports/x/run\n")]
    dumped = nbformat.writes(relativize_notebook(nb, ROOT))
    assert str(ROOT) not in dumped and "reports/x/run" in dumped


def test_a_secret_passed_as_a_papermill_parameter_is_masked() -> None:
    import nbformat

    from repro_lib.report import redact_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"API_KEY": "api_key=AKIAZZZZ9999"}}
    assert "AKIAZZZZ9999" not in nbformat.writes(redact_notebook(nb))

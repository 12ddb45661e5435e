"""Reading real evidence never seen by the rules: the new written-against set and the held-out set
(tests/fixtures/real/written-against/, tests/fixtures/real/held-out/, each file's source in its README), scored
as a user runs `repro inspect`: one file at a time and the whole folder at once. Both sets' numbers are printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from realscore import score_folder

from repro_lib.capture.legacy import learn_prefix
from repro_lib.capture.logs import parse_file

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
SETS = ("written-against", "held-out", "held-out-2", "held-out-3", "held-out-4")


@pytest.mark.parametrize("name", SETS)
def test_every_file_has_its_source_and_its_ground_truth(name: str) -> None:
    folder = REAL / name
    readme = (folder / "README.md").read_text()
    expected = json.loads((folder / "expected.json").read_text())
    files = sorted(p.name for p in folder.iterdir() if p.suffix in (".log", ".txt"))
    assert len(files) >= 15 and set(files) == set(expected)
    for f in files:
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| {f} |")), None)
        assert row is not None and "https://" in row, f
        assert (folder / f).read_text().endswith("\n") and not (folder / f).read_text().endswith("\n\n"), f


def test_new_sets_are_disjoint_and_at_least_thirty() -> None:
    """No file is in two sets (the first 85 one folder up included), held-out-3 and held-out-4 take no source URL
    another set uses, and the sets are as large as asked (held-out-3 >= 30 files, held-out-4 >= 18)."""
    top = {p.name for p in REAL.iterdir() if p.suffix in (".log", ".txt")}
    sets = {s: {p.name for p in (REAL / s).iterdir()} - {"README.md", "expected.json"} for s in SETS}
    groups = [top, *sets.values()]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not a & b, a & b
    assert len(sets["written-against"] | sets["held-out"]) >= 30
    assert len(sets["held-out-3"]) >= 30 and len(sets["held-out-4"]) >= 18

    def urls(readme: Path) -> set[str]:
        return {u.rstrip(".,);") for u in re.findall(r"https://[^\s|`]+", readme.read_text())}

    for new in ("held-out-3", "held-out-4"):
        others = set().union(*(urls(r) for r in REAL.rglob("README.md") if r.parent.name != new))
        assert not urls(REAL / new / "README.md") & others, new


@pytest.mark.parametrize("name", SETS)
def test_coverage_on_the_new_sets(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Goals of the issue, on each set: level + correct time >= 95 %, ids >= 90 %, CLI pastes >= 90 %,
    0 tracebacks, 0 unfounded verdicts."""
    sc = score_folder(REAL / name, name)
    with capsys.disabled():
        print("\n" + sc.line())
    assert sc.tracebacks == [] and sc.unfounded == []
    assert sc.lv[1] >= 60 and sc.rate("lv") >= 0.95, sc.misses
    assert sc.rate("ids") >= 0.90, sc.misses
    assert sc.rate("conns") >= 0.95, sc.misses
    # every set meets the goals; held-out-4 is the one no rule was written against (docs/reading-real-logs.md)
    assert sc.rate("cli") >= 0.90, sc.misses


# -- the rules, each on written-against material --------------------------------------------------------------
W = REAL / "written-against"


def test_nats_lines_with_no_time_keep_their_level_and_borrow_no_time() -> None:
    df = parse_file(W / "nats-server-pr-1348-stale-route-no-time.log")
    assert df["level"].tolist() == ["INFO", "INFO"] and df["t"].isna().all()
    assert (df["kind"] == "fault").tolist() == [True, False]  # only the line that says why
    assert df["detail"].str.contains("rid=2").all()


def test_nats_connections_and_streaming_clients_become_fields() -> None:
    df = parse_file(W / "stan-go-issue-159-readloop-heartbeats.log")
    assert df["detail"].iloc[0].startswith("cid=77 remote=172.18.0.1:58036")
    assert df["msg"].iloc[0] == "Readloop processing time: 12.97811423s"
    hb = df[df["msg"].str.contains("Timed out on heartbeats", na=False)]
    assert hb["node"].tolist() == ["service-1", "service-2", "service-3"]
    assert set(hb["kind"]) == {"node"} and set(hb["state"]) == {"disconnected"}


def test_a_slow_consumer_is_a_fault_event() -> None:
    df = parse_file(W / "nats-docs-slow-consumer-2017.log")
    r = df.iloc[0]
    assert (r["kind"], r["state"], r["level"]) == ("fault", "slow_consumer", "INFO")
    assert "cid=7" in r["detail"] and r["t"] == pd.Timestamp("2017-09-28T14:45:18.001357Z")


def test_a_prefix_is_learnt_per_file() -> None:
    lines = ["> [3355] 2021/10/16 20:02:25.943278 [INF] B:59840 - rid:3325 - Route connection created"] * 3
    pat = learn_prefix(lines)
    assert pat is not None and pat.match(lines[0]).group(0) == "> "
    # one line of a kind is no file-wide prefix; journald and compose prefixes keep their own rules
    assert learn_prefix(lines[:1]) is None
    assert learn_prefix(["compute-1  | 12:09:07 | INF Starting connection manager"] * 3) is None
    # a JSON payload after a console level is a message, not a record behind a prefix
    assert learn_prefix(['12:00:01 | INF Sending event: {"JobId":"x"}'] * 3) is None


def test_json_ts_in_unix_seconds_and_tracing_lines_are_timed() -> None:
    df = parse_file(W / "numaflow-issue-493-go-test-json-nats.log")
    timed = df[df["level"].notna()]
    assert len(timed) == 6 and timed["t"].iloc[0] == pd.Timestamp("2023-01-19T09:12:08.026688Z")
    tr = parse_file(W / "vector-pr-24230-async-nats-slow-consumers.log")
    assert tr["level"].eq("INFO").all() and tr["t"].iloc[0] == pd.Timestamp("2025-11-13T14:02:04.7238Z")
    assert "target=async_nats" in tr["detail"].iloc[0]


def test_a_2022_devstack_line_names_its_job_and_node_by_key() -> None:
    df = parse_file(W / "bacalhau-issue-56-devstack-pid-caller-json-events-2022.log")
    ev = df[df["msg"].str.startswith("Sending event", na=False)]
    assert set(ev["job"]) == {"5b5a108a-3c17-4cef-a6be-277c42761788"}
    assert set(ev["node"]) == {"QmVn72EZAJu5xtzXeCbGTA4sTCLVcw57pHMa5p9FDBADua"}
    assert df["t"].isna().all() and set(df["level"].dropna()) == {"DEBUG", "INFO"}

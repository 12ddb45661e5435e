"""Second round of reading real evidence (tests/fixtures/real/held-out-2/, sources in its README): prefixes with rules
of their own (journald with its date, bitnami, a collector's `|`, go test's `file.go:N:`), ids by their grammar, and a
folder of unrelated files read as families that are neither merged into one source nor lend each other a zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from repro_lib.capture.logs import parse_file, parse_lines
from repro_lib.inspect import events_from_logs, inspect_paths

H2 = Path(__file__).resolve().parent / "fixtures" / "real" / "held-out-2"


def test_journald_keeps_its_date() -> None:
    df = parse_file(H2 / "tacticalrmm-issue-201-systemctl-status-nats-journal.log", date=dt.date(2020, 12, 1))
    j = df[df["line"].str.startswith("Dec 11")]
    assert len(j) == 2 and (j["t"] == pd.Timestamp("2020-12-11T11:38:33Z")).all()
    assert j["detail"].str.contains("host=it-rmm").all()


def test_bitnami_and_collector_prefixes_as_the_issue_quotes_them() -> None:
    b = parse_lines(["nats 21:53:39.29 INFO  ==> ** Starting NATS setup **"], source="x", date=dt.date(2024, 5, 2))
    assert (b["level"].iloc[0], b["msg"].iloc[0]) == ("INFO", "** Starting NATS setup **")
    assert b["t"].iloc[0] == pd.Timestamp("2024-05-02T21:53:39.29Z") and "service=nats" in b["detail"].iloc[0]
    line = ("2021-03-10 15:08:19 | [1] 2021/03/10 15:08:19.593813 [INF] 10.0.0.1:4222 - cid:5 - "
            "Slow Consumer Detected: WriteDeadline of 2s exceeded")
    c = parse_lines([line], source="x")
    assert (c["kind"].iloc[0], c["state"].iloc[0]) == ("fault", "slow_consumer") and "cid=5" in c["detail"].iloc[0]
    assert c["t"].iloc[0] == pd.Timestamp("2021-03-10T15:08:19Z")


def test_go_test_prefix_and_ids_by_grammar() -> None:
    df = parse_file(H2 / "bacalhau-issue-1080-go-test-prefix-libp2p-2022.log")
    r = df.iloc[0]
    assert (r["level"], r["node"], r["job"]) == ("ERROR", "QmcB65wQCskpDyTc7NEcAzLnB3gaiTiXmXpdcLizvhufbX",
                                                 "a71193ff-9f5c-40ff-bd17-3e30479daff7")
    dev = parse_file(H2 / "bacalhau-issue-451-devstack-pid-err-no-time-2022.log")
    assert set(dev["node"].dropna()) == {"QmPYqW6K4GpLzRj7fDWa9ojaFiD2LF3hFXZ1sju8vvHpbK",
                                         "QmVLxEn5rVdLJh3oySuB9f8kkdgCsJDZuYmdTDp7283Ru7"}
    assert dev["t"].isna().all()  # no time written: none borrowed


def test_a_content_id_is_no_node() -> None:
    df = parse_lines(["10:00:00.000 | INF Mounting Input Volume (CID: Qmd4gf7BZ2Chu8SpbjGLkpCQovaj5YNEktW61es2qGsriY)",
                      "10:00:01.000 | INF published /ipfs/QmW7TdjNEMzqmWdVYGuNmhhMyTMM1wz4GJqnW7sTJT6s4Z"], source="x")
    assert df["node"].isna().all()


def test_a_learnt_prefix_is_stripped_when_a_joined_record_falls_back_to_lines(tmp_path: Path) -> None:
    lines = ["> [7] 2021/10/16 20:02:25.943278 [INF] B:59840 - rid:3 - Route connection created",
             "> [7] 2021/10/16 20:02:26.943278 [INF] B:59840 - rid:3 - Router connection closed: Stale Connection",
             "> some text a reader wrapped,", "> and its tail"]
    (tmp_path / "q.log").write_text("\n".join(lines) + "\n")
    df = parse_file(tmp_path / "q.log")
    assert df["state"].iloc[1] == "stale_close" and "rid=3" in df["detail"].iloc[0]
    assert not df["msg"].dropna().str.startswith(">").any()  # no row is read with the quote still on it


def test_unrelated_nats_servers_are_neither_merged_nor_lend_a_zone(tmp_path: Path) -> None:
    a = H2 / "nats-streaming-issue-1006-route-port-errors-k8s.log"
    b = H2 / "nats-server-pr-1447-dbg-client-closed-reason.log"
    z = tmp_path / "other.log"
    z.write_text('{"level":"info","time":"2019-05-01T09:00:00+02:00","message":"up"}\n')
    ev = events_from_logs([a, b, z])
    assert {s for s in ev["source"].unique() if s.startswith("nats")} == {"nats@pid-1-from-2020/01/12",
                                                                          "nats@pid-95023-from-2020/06/03"}
    nats = ev[ev["source"].str.startswith("nats@")]
    assert nats["t"].min() == pd.Timestamp("2020-01-12T14:48:33.163294Z")  # taken as UTC, not +02:00
    notes = " ".join(ev.attrs["zones"])
    assert "families" in notes and "never borrowed" in notes
    r = inspect_paths([str(a), str(b)])
    assert "families" in r.text()


def test_one_incident_s_files_still_share_a_zone(tmp_path: Path) -> None:
    js = tmp_path / "orch.log"
    js.write_text('{"level":"info","time":"2025-03-01T09:00:00-07:00","message":"up"}\n')
    con = tmp_path / "edge.log"
    con.write_text("09:00:01.000 | INF edge up\n")
    ev = events_from_logs([js, con], date=dt.date(2025, 3, 1))
    assert ev[ev["source"] == "edge"]["t"].iloc[0] == pd.Timestamp("2025-03-01T16:00:01Z")


def test_a_lost_send_cites_the_nats_close_on_its_node(tmp_path: Path) -> None:
    from repro_lib.analysis.diagnosis import nats_close_near
    from repro_lib.capture.logs import add_t_s

    node = "n-2952ac48-9c5a-4114-8564-60eca482ba2e"
    (tmp_path / "nats.log").write_text("\n".join([
        "[1] 2025/03/01 10:00:00.000000 [INF] 10.0.0.5:4222 - cid:9 - Client connection created",
        f'[1] 2025/03/01 10:00:20.000000 [INF] 10.0.0.5:4222 - cid:9 - "v1.37:go:{node}" - Slow Consumer Detected: '
        "WriteDeadline of 10s exceeded with 1 chunks of 4013 total bytes.",
        "[1] 2025/03/01 10:30:00.000000 [INF] 10.0.0.6:4222 - cid:10 - Router connection closed: Stale Connection"])
        + "\n")
    ev = add_t_s(parse_file(tmp_path / "nats.log"))
    says = nats_close_near(ev, [node], 10.0)
    assert says.startswith("nats-server closed its connection as a slow consumer at 20.0s (+10.0s")
    assert "cid:9" in says
    assert nats_close_near(ev, ["n-other"], 10.0) == ""  # another node's close explains nothing
    assert nats_close_near(ev, [node], 20.0 + 301) == ""  # nor one far from the send


def test_the_condensed_reading_keeps_the_families_too(tmp_path: Path) -> None:
    a = H2 / "nats-streaming-issue-1006-route-port-errors-k8s.log"
    b = H2 / "nats-server-pr-1447-dbg-client-closed-reason.log"
    z = tmp_path / "other.log"
    z.write_text('{"level":"info","time":"2019-05-01T09:00:00+02:00","message":"up"}\n')
    full, cond = (inspect_paths([str(a), str(b), str(z)], condense=c) for c in (False, True))
    assert set(cond.events["source"]) == set(full.events["source"]) == {
        "nats@pid-1-from-2020/01/12", "nats@pid-95023-from-2020/06/03", "other"}
    nats = cond.events[cond.events["source"].str.startswith("nats@")]
    assert nats["t"].min() == pd.Timestamp("2020-01-12T14:48:33.163294Z")  # no zone borrowed from other.log
    assert "families" in cond.text()

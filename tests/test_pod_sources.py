"""The Kubernetes pod (and container) a line's prefix names is the row's source: two pods' lines in one file are
two sources (real files: tests/fixtures/real/held-out-2 and held-out-3, sources in their READMEs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lib.capture.legacy import learn_prefix, writer_of
from repro_lib.capture.logs import parse_file
from repro_lib.inspect import inspect_paths

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
KUBECTL = REAL / "held-out-2" / "nats-server-issue-2732-kubectl-pod-prefix-slow-consumer-route.log"
STERN = REAL / "held-out-3" / "nats-server-issue-1837-pod-prefix-dbg-router-read-error.log"
OPERATOR = REAL / "held-out-3" / "nats-operator-issue-43-pod-container-prefix-route-errors.log"
PLAIN = REAL / "held-out-3" / "nats-server-issue-5382-kubectl-logs-jetstream-banner-2.9.log"


def test_kubectl_prefix_names_each_row_s_pod() -> None:
    df = parse_file(KUBECTL)
    assert df["source"].value_counts().to_dict() == {"collector-event-nats-0/nats": 7,
                                                     "collector-event-nats-1/nats": 1,
                                                     "collector-event-nats-2/nats": 1}
    slow = df[df["state"] == "slow_consumer"]
    assert list(slow["source"]) == ["collector-event-nats-0/nats"] and "rid=103" in slow["detail"].iloc[0]
    # rid:103 on two servers: one route seen from each end, now told apart by their pods
    created = df[df["msg"] == "Route connection created"]
    assert set(created["source"]) == {"collector-event-nats-0/nats", "collector-event-nats-1/nats"}


@pytest.mark.parametrize(("path", "want"), [
    (STERN, {"nats-1/nats": 5, "nats-2/nats": 2}),
    (OPERATOR, {"nats-4xwt4vd2gl/nats": 4, "nats-xnqsk7ncm4/nats": 1}),
])
def test_a_learnt_pod_container_prefix_names_the_pod(path: Path, want: dict[str, int]) -> None:
    df = parse_file(path)
    assert df["source"].value_counts().to_dict() == want
    assert df["level"].notna().all() and not df["msg"].str.startswith("nats").any()  # the prefix is still stripped


def test_a_file_with_no_pod_prefix_keeps_its_own_source() -> None:
    assert set(parse_file(PLAIN)["source"]) == {"nats-server-issue-5382-kubectl-logs-jetstream-banner-2.9"}


def test_writer_of_reads_only_pod_names() -> None:
    assert writer_of(None, "[pod/nats-0/nats] [7] 2021/12/08 13:45:56.036546 [INF] x") == "nats-0/nats"
    assert writer_of(None, "[pod/Not A Pod] x") is None
    lines = ["2021-03-10 15:08:19 | [1] 2021/03/10 15:08:19.593813 [INF] a",
             "2021-03-10 15:08:20 | [1] 2021/03/10 15:08:20.593813 [INF] b"]
    assert writer_of(learn_prefix(lines), lines[0]) is None  # a collector's time column is no pod
    hosts = ["web1 App [1] 2021/03/10 15:08:19.593813 [INF] a", "web2 App [1] 2021/03/10 15:08:20.593813 [INF] b"]
    assert writer_of(learn_prefix(hosts), hosts[0]) is None  # `App`: not a Kubernetes name


@pytest.mark.parametrize("condense", [False, True])
def test_inspect_keeps_the_pods_apart_in_both_readings(condense: bool) -> None:
    r = inspect_paths([str(KUBECTL), str(STERN)], condense=condense)
    assert set(r.events["source"]) == {"collector-event-nats-0/nats", "collector-event-nats-1/nats",
                                       "collector-event-nats-2/nats", "nats-1/nats", "nats-2/nats"}
    assert {x.source for x in r.read} == set(r.events["source"])
    read = {x.source: x.lines for x in r.read}
    assert read["collector-event-nats-0/nats"] == 7 and read["nats-2/nats"] == 2


@pytest.mark.parametrize("path", [KUBECTL, STERN, OPERATOR], ids=lambda p: p.name[:30])
def test_a_pod_s_nats_server_is_called_one_in_the_read_block(path: Path) -> None:
    r = inspect_paths([str(path)])
    pods = [s for s in r.read if "/" in s.source]
    assert len(pods) >= 2 and all(s.nats for s in pods)
    block = r.text().split("read:\n", 1)[1]
    assert "a NATS server's log" in block and "neither an orchestrator's nor an edge's" not in block

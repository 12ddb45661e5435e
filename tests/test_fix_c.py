"""Fix C (``sequence-replay``): upstream Bacalhau's per-node data plane in the model.

Each test drives the sim in virtual time and asserts what docs/fix-c-sequence-replay.md §7 says the
plane does — with the texts upstream logs — so a change in the model that breaks one of its sourced
behaviours fails here, not only in the search's matrix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_mechanics import NEW, TEST, boot, core_395, deploy_running, execs, make, nid, rows

from repro_lib import load_job, load_scenario, run_scenario
from repro_lib.model.dataplane import ACK_TIMEOUT, NO_RESPONDERS
from repro_lib.model.types import ComputeState, Policies

M_FAILED = "Failed to publish message"
M_BACKOFF = "Performing backoff"
M_PLANE = "Data plane started"
M_RESTARTED = "Successfully restarted watcher after backoff"
M_DUP = "Error handling message"
M_DISPATCH = "DISPATCH: Attempting to send message"


@pytest.fixture(autouse=True)
def _at_root(root: Path) -> Path:
    return root


def _field(detail: str, key: str) -> str:
    for part in detail.split(" "):
        if part.startswith(key + "="):
            return part.split("=", 1)[1]
    return ""


def test_core_395_dead_edge_request_fails_at_once_and_the_handshake_replays_it() -> None:
    s, t0, t_restart = core_395("repro", "sequence-replay")
    s.advance(30)
    deploy_at = t0 + 10
    # NATS answers a request nobody is subscribed to with a 503: detected, unlike the void
    failed = rows(s, M_FAILED)
    first = failed[failed["t_s"] < deploy_at + 0.1]
    assert len(first) == 2 and first["detail"].str.contains(NO_RESPONDERS, regex=False).all()
    # recovery: 5 s doubling (dispatcher/config.go:24-25), each rewinding to the handshake cursor
    backoffs = [float(_field(d, "backoff").rstrip("s")) for d in rows(s, M_BACKOFF, node=nid(s, "edge1"))["detail"]]
    assert backoffs[:3] == [5.0, 10.0, 20.0]
    assert (rows(s, M_RESTARTED)["t_s"] < t_restart).sum() >= 2
    # the returning edge's handshake builds a fresh plane at the cursor its heartbeats reported
    planes = rows(s, M_PLANE, since=t_restart)
    assert len(planes) == 2 and planes["detail"].str.contains("node reconnected").all()
    for ex in execs(s, "new-test-job"):
        assert ex.state is ComputeState.RUNNING
    # running within the edge's boot + its start-up, not after a node-join batch: no re-dispatch at all
    running = rows(s, "JOB: state changed", since=t_restart, job="new-test-job", state="running")
    assert len(running) == 1 and running["t_s"].iloc[0] - t_restart < 4.0
    assert rows(s, "RECONCILER: Re-dispatching pending execution to reconnected node").empty


def test_replay_does_not_wait_for_the_node_join_batch() -> None:
    """B needs the node-join evaluation; C's replay is the handshake itself."""
    s, _, t_restart = core_395("repro", "sequence-replay", reeval_batch_delay=600)
    s.advance(30)
    running = rows(s, "JOB: state changed", since=t_restart, job="new-test-job", state="running")
    assert len(running) == 1 and running["t_s"].iloc[0] - t_restart < 4.0


def test_partition_shorter_than_the_disconnect_timeout_times_out_and_is_replayed() -> None:
    """The schedule that breaks B and D: the node never leaves, so it never re-joins. C's request to
    the cut-off subscriber times out after ack_wait, and the retry after the heal delivers it."""
    s = make("repro", "sequence-replay", edges=("edge1",))
    boot(s)
    deploy_running(s, TEST)
    s.partition(["edge1"])
    spec = load_job(NEW)
    t_deploy = s.now
    s.deploy(spec)
    s.advance(16.5)
    s.heal(["edge1"])
    assert s.wait_for(lambda: s.job_state("new-test-job") == "running", 120)
    failed = rows(s, M_FAILED, since=t_deploy)
    assert ACK_TIMEOUT in failed["detail"].iloc[0]
    assert failed["t_s"].iloc[0] == pytest.approx(t_deploy + s.timings.ack_wait, abs=0.1)


def test_orchestrator_restart_replays_from_the_persisted_cursor_and_the_edge_absorbs_duplicates() -> None:
    s = make("repro", "sequence-replay", edges=("edge1",))
    boot(s)
    deploy_running(s, TEST)
    s.advance(60)  # heartbeats report the cursor; only the handshake's value was persisted
    s.restart_orchestrator(downtime=5)
    t_up = s.now
    s.deploy(load_job(NEW))  # committed while no plane exists: replayed at the re-handshake
    assert s.wait_for(lambda: s.job_state("new-test-job") == "running", 120)
    planes = rows(s, M_PLANE, since=t_up)
    assert len(planes) == 1 and _field(planes["detail"].iloc[0], "startSeqNum") == "0"
    # the stale cursor re-sends test-heartbeat's run request: the edge logs it and acks it
    dup = rows(s, M_DUP, since=t_up)
    assert len(dup) == 1 and "execution already exists" in dup["detail"].iloc[0]
    assert [e.state for e in execs(s, "test-heartbeat")] == [ComputeState.RUNNING]


def test_a_new_node_starts_at_the_latest_event() -> None:
    s = make("repro", "sequence-replay", edges=("edge1",))
    boot(s)
    deploy_running(s, TEST)
    s.join("edge2")
    assert s.wait_for(lambda: s.count_nodes("connected") == 2, 60)
    plane = rows(s, M_PLANE, node=nid(s, "edge2"))
    assert "node registered" in plane["detail"].iloc[0]
    # test-heartbeat's run request to edge1 (seq 1) is history for edge2: never sent to it
    assert _field(plane["detail"].iloc[0], "startSeqNum") == "1"
    assert rows(s, M_DISPATCH, node=nid(s, "edge2"))["detail"].str.contains("seq=1 ").sum() == 0


def test_heartbeats_store_the_cursor_and_never_resend() -> None:
    s = make("repro", "sequence-replay", edges=("edge1",))
    boot(s)
    deploy_running(s, TEST)
    sent = len(rows(s, M_DISPATCH))
    s.advance(120)
    assert len(rows(s, M_DISPATCH)) == sent  # 8 heartbeats, no resend
    planes = s.orch.planes
    assert planes is not None and planes.live_seq[nid(s, "edge1")] == 1 == s.edges["edge1"].tracker


def test_no_head_of_line_blocking() -> None:
    hol = run_scenario(load_scenario("scenarios/head-of-line.yaml", ["fix=sequence-replay"]))
    blocked = run_scenario(load_scenario("scenarios/head-of-line.yaml", ["fix=block"]))
    assert hol.verdict.verdict == "not_reproduced"
    from repro_lib.experiments import time_to_running

    assert time_to_running(hol, "zone-b-job") < 2.0 < 5.0 < time_to_running(blocked, "zone-b-job")


def test_force_update_while_the_edge_is_down_replays_the_cancel_too() -> None:
    """The schedule where B, D and E leave two running executions: C replays the cancel as well."""
    doc = {"name": "c-update", "timings": {"preset": "repro"}, "fix": "sequence-replay", "edges": ["edge1"],
           "steps": [{"up": {}}, {"wait_for": {"nodes": "connected", "count": 1, "timeout": "2m"}},
                     {"deploy": "pipelines/new-job.yaml"}, {"sleep": "5s"}, {"kill": ["edge1"]},
                     {"deploy": {"file": "pipelines/new-job.yaml", "force": True}}, {"start": ["edge1"]},
                     {"sleep": "2m"}, {"snapshot": {}}]}
    from repro_lib.scenario import parse_scenario

    run = run_scenario(parse_scenario(doc))
    running = [e for e in run.final.executions if e["state"] == "running"]
    assert len(running) == 1 and running[0]["version"] == 2
    assert not [c for c in run.checks if c.check == "two-running"]


def test_same_seed_same_log() -> None:
    a, _, _ = core_395("repro", "sequence-replay", seed=3)
    b, _, _ = core_395("repro", "sequence-replay", seed=3)
    assert [(r.t, r.msg, r.fields) for r in a.records] == [(r.t, r.msg, r.fields) for r in b.records]


def test_policy_and_timings() -> None:
    assert Policies.from_fix("sequence-replay").names == ["sequence-replay"]
    from repro_lib.errors import SetError
    from repro_lib.timings import timings_from

    with pytest.raises(SetError, match="plane_retry_max"):
        timings_from({"plane_retry_base": "10s", "plane_retry_max": "5s"})

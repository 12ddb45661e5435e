"""Fix C (``sequence-replay``): upstream Bacalhau's per-node data plane in the model.

Each test drives the sim in virtual time and asserts what docs/fix-c-sequence-replay.md §7 says the
plane does — with the texts upstream logs — so a change in the model that breaks one of its sourced
behaviours fails here, not only in the search's matrix.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from test_mechanics import NEW, TEST, boot, core_395, deploy_running, execs, make, nid, rows

from repro_lib import load_job, load_scenario, run_scenario
from repro_lib.model import dataplane
from repro_lib.model.dataplane import ACK_TIMEOUT, NO_RESPONDERS
from repro_lib.model.dispatcher import ExecutionUpsert
from repro_lib.model.types import ComputeState, DesiredState, Execution, Outbox, Policies
from repro_lib.timings import timings_from

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
    """The schedule that breaks B and D: the node never leaves, so it never re-joins. Under the drop reading
    [I], C's request to the cut-off subscriber times out after ack_wait, and the retry after the heal delivers it."""
    s = make("repro", "sequence-replay", edges=("edge1",), nats_semantics="drop")
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


def test_as_nats_behaves_a_short_cut_delivers_the_request_late_and_it_is_acked_in_time() -> None:
    """The same schedule as NATS 2.14.5 behaves: the request waits in TCP and arrives at the heal's first
    retransmission (25.4 s after it was sent, inside ack_wait), so it is acked: no failure, no retry."""
    s = make("repro", "sequence-replay", edges=("edge1",))
    boot(s)
    deploy_running(s, TEST)
    s.partition(["edge1"])
    t_deploy = s.now
    s.deploy(load_job(NEW))
    s.advance(16.5)
    s.heal(["edge1"])
    assert s.wait_for(lambda: s.job_state("new-test-job") == "running", 120)
    assert s.now - t_deploy < s.timings.ack_wait
    assert rows(s, M_FAILED, since=t_deploy).empty


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


# -- the dispatcher's ack and recovery rules, as upstream builds them (docs/mechanics.md §6.1's table) -----------
M_ACK_REMOVED = dataplane.M_ACK_REMOVED
M_IGNORED = dataplane.M_REMOVED_IGNORED


def test_an_ack_removes_the_earlier_lost_request_and_the_job_stays_stuck() -> None:
    """scenarios/fix-c-ack-skips.yaml: RemoveUpTo (dispatcher.go:190-199, state.go:136-149). The run request
    to the partitioned edge is dropped without an error; the next one, after the heal, is acked and removes
    it from the pending list, so its ack timeout is read by nobody and nothing replays it."""
    run = run_scenario(load_scenario("scenarios/fix-c-ack-skips.yaml"))
    assert run.verdict.verdict == "reproduced"
    stuck = [e for e in run.final.executions if e["job"] == "test-heartbeat"]
    assert [e["state"] for e in stuck] == ["pending"]
    lines = [r for r in run.records if r.source == "orchestrator"]
    removed = [dict(r.fields) for r in lines if r.msg == M_ACK_REMOVED]
    assert removed == [{"seq": 2, "dropped": "1", "dropped_executions": stuck[0]["id"],
                        "target_node": removed[0]["target_node"], "execution_id": removed[0]["execution_id"],
                        "messageType": "RunExecutionRequest"}]
    ignored = [r for r in lines if r.msg == M_IGNORED]
    sent = [r for r in lines if r.msg == M_DISPATCH and ("execution_id", stuck[0]["id"]) in r.fields]
    assert len(ignored) == 1 and dict(ignored[0].fields)["error"] == ACK_TIMEOUT
    assert dict(ignored[0].fields)["execution_id"] == stuck[0]["id"]
    assert ignored[0].t == pytest.approx(sent[0].t + 30.0, abs=0.01)
    # never failed, never replayed: one send in ten minutes
    assert len(sent) == 1 and not [r for r in lines if r.msg == M_FAILED]


def test_the_next_handshake_does_not_resend_the_skipped_request_either() -> None:
    """The edge's tracker moved to the acked seq (tracker.go:43-49); its heartbeats stored it
    (nodes/manager.go:617, 922-923); the handshake starts the new plane there (l.895-897)."""
    s = make("repro", "sequence-replay", edges=("edge1",), nats_semantics="drop")  # the drop reading [I]
    boot(s)
    s.partition(["edge1"])
    s.deploy(load_job(TEST))
    s.advance(0.5)
    s.deploy(load_job(NEW))
    s.heal(["edge1"])
    s.advance(40)
    planes = s.orch.planes
    assert planes is not None and s.edges["edge1"].tracker == 2 == planes.live_seq[nid(s, "edge1")]
    t_restart = s.now
    s.kill(["edge1"])
    s.start(["edge1"])  # back within the disconnect timeout: a known node, a fresh plane
    s.advance(120)
    plane = rows(s, M_PLANE, since=t_restart)
    assert "node reconnected" in plane["detail"].iloc[0] and _field(plane["detail"].iloc[0], "startSeqNum") == "2"
    assert [e.state for e in execs(s, "test-heartbeat")] == [ComputeState.PENDING]
    assert rows(s, M_DISPATCH, since=t_restart).empty


def _unit(n: int = 0) -> tuple[dataplane.DataPlanes, Outbox, list[ExecutionUpsert]]:
    """A plane store with ``n`` run requests to node n1 committed, and n1's plane started at seq 0."""
    store: list[ExecutionUpsert] = []
    out = Outbox()
    dp = dataplane.DataPlanes(timings_from({}), out, store, {"j": SimpleNamespace(type="pipeline", run_for=None)})
    dp.handshake(0.0, "n1", known=True)
    for _ in range(n):
        _commit(dp, store)
    dp.pump(0.0, "n1")
    return dp, out, store


def _commit(dp: dataplane.DataPlanes, store: list[ExecutionUpsert]) -> None:
    ex = Execution(id=f"e{len(store) + 1}", job="j", version=1, node_id="n1")
    ev = ExecutionUpsert(len(store), ex, None, DesiredState.RUNNING)
    store.append(ev)
    dp.appended(ev)


def _sent(out: Outbox) -> list[dict]:
    return [p.payload for p in out.publishes]


def _result(dp: dataplane.DataPlanes, now: float, payload: dict, outcome: str, error: str = "") -> None:
    dp.on_result(now, "n1", payload["plane"], payload["seq"], outcome, payload["type"], payload["execution_id"],
                 pub=payload["pub"], error=error)


def _ticks(dp: dataplane.DataPlanes, out: Outbox) -> None:
    """Fire the armed 10 ms passes."""
    for tm in [t for t in out.timers if t.key[0] == "plane_tick"]:
        out.timers.remove(tm)
        dp.on_tick(tm.at, tm.key[1], tm.key[2])


def _msgs(out: Outbox, msg: str) -> list[dict]:
    return [dict(r.fields) for r in out.logs if r.msg == msg]


def test_results_are_read_at_the_next_10_ms_pass_from_the_plane_start() -> None:
    """dispatcher.go:154-183, config.go:20: a result does nothing until the dispatcher's ticker reads it."""
    dp, out, _ = _unit(1)
    _result(dp, 0.123, _sent(out)[0], "no_responders")
    assert not _msgs(out, M_FAILED)
    (tick,) = [t for t in out.timers if t.key[0] == "plane_tick"]
    assert tick.at == pytest.approx(0.13)
    _ticks(dp, out)
    assert _msgs(out, M_FAILED)[0]["error"] == NO_RESPONDERS


def test_remove_up_to_in_the_model_unit() -> None:
    """state.go:136-149: the ack of seq 3 drops 1 and 2 though they have no result; their later timeouts
    are read by nobody (no recovery, failures stay 0)."""
    dp, out, _ = _unit(3)
    one, two, three = _sent(out)
    _result(dp, 0.5, three, "ack")
    _ticks(dp, out)
    plane = dp.planes["n1"]
    assert plane.pending == [] and plane.last_acked == 3
    assert _msgs(out, M_ACK_REMOVED)[0]["dropped"] == "1,2"
    _result(dp, 30.0, one, "timeout")
    _result(dp, 30.0, two, "timeout")
    _ticks(dp, out)
    assert not _msgs(out, M_FAILED) and plane.failures == 0 and plane.retry_at is None
    assert [m["seq"] for m in _msgs(out, M_IGNORED)] == [1, 2]


def test_an_ack_removes_only_what_is_up_to_it() -> None:
    dp, out, _ = _unit(3)
    _result(dp, 0.5, _sent(out)[1], "ack")
    _ticks(dp, out)
    assert [p.seq for p in dp.planes["n1"].pending] == [3]
    assert _msgs(out, M_ACK_REMOVED)[0]["dropped"] == "1"


def test_a_nack_fails_like_a_timeout_with_the_edges_error() -> None:
    """subscriber.go:99-109 nacks a handler error; publisher_ordered.go:389-392 fails the future with it;
    recovery.go:45-88 handles it like any failure (the compute's handler never returns one: [I])."""
    dp, out, _ = _unit(1)
    _result(dp, 0.2, _sent(out)[0], "nack", error="failed to handle message: boom")
    _ticks(dp, out)
    failed = _msgs(out, M_FAILED)
    assert len(failed) == 1 and failed[0]["error"] == "failed to handle message: boom"
    assert dp.planes["n1"].recovering and dp.planes["n1"].retry_at == pytest.approx(0.21 + 5.0)


def test_a_failure_stops_the_plane_clears_pending_and_the_restart_rewinds_to_the_handshake() -> None:
    """recovery.go:45-88 (stop, reset, clear), :91-136 (backoff, watcher.Start), watcher.go:176."""
    dp, out, store = _unit(2)
    one, two = _sent(out)
    _result(dp, 0.1, one, "ack")
    _result(dp, 0.1, two, "no_responders")
    _ticks(dp, out)
    plane = dp.planes["n1"]
    assert plane.pending == [] and not plane.running and plane.failures == 1
    _commit(dp, store)
    dp.pump(1.0, "n1")
    assert len(_sent(out)) == 2  # the watcher is stopped: the new event waits
    dp.on_timer(plane.retry_at, "n1", plane.id)
    assert [p["seq"] for p in _sent(out)[2:]] == [1, 2, 3]  # everything since the handshake cursor (0)
    assert plane.failures == 1  # only an ack resets it (dispatcher.go:198-199)


def test_a_late_result_of_a_message_cleared_by_a_recovery_is_ignored() -> None:
    """state.go:96-103 cleared it, the publisher reset failed its future (recovery.go:78): after the restart
    its ack timeout must not start a second recovery."""
    dp, out, _ = _unit(2)
    one, two = _sent(out)
    _result(dp, 0.1, two, "no_responders")  # one is still waiting for its ack
    _ticks(dp, out)
    plane = dp.planes["n1"]
    dp.on_timer(plane.retry_at, "n1", plane.id)
    _result(dp, 30.0, one, "timeout")
    _ticks(dp, out)
    assert len(_msgs(out, M_FAILED)) == 1 and plane.running and not plane.recovering


def test_an_ack_read_after_a_failure_in_the_same_pass_strands_the_plane() -> None:
    """§6.2(d), the recovery-reset race: handleError (recovery.go:45-88) then handlePublishSuccess of the
    later message from the same copy (dispatcher.go:166-176) calls recovery.reset(), whose stop() ends the
    recovery loop before it restarts the watcher (recovery.go:106-110, 139-148). Nothing publishes again; the
    heartbeats store the edge's tracker (at the acked seq), so the next handshake skips the failed one too."""
    dp, out, store = _unit(2)
    one, two = _sent(out)
    _result(dp, 0.101, one, "no_responders")
    _result(dp, 0.105, two, "ack")
    _ticks(dp, out)
    plane = dp.planes["n1"]
    assert len(_msgs(out, M_FAILED)) == 1 and _msgs(out, dataplane.M_RESET_RACE)
    assert not plane.running and not plane.recovering and plane.retry_at is None and plane.failures == 0
    (retry,) = [t for t in out.timers if t.key[0] == "plane_retry"]  # armed, then cancelled:
    dp.on_timer(retry.at, "n1", plane.id)
    _commit(dp, store)
    dp.pump(6.0, "n1")
    assert len(_sent(out)) == 2 and dp.due(6.0, "n1") is None
    dp.heartbeat(15.0, "n1", 2)  # the edge processed seq 2
    assert dp.handshake(20.0, "n1", known=True) == 2
    assert [p["seq"] for p in _sent(out)[2:]] == [3]  # seq 1 is never sent again


def test_heartbeats_store_the_reported_cursor_even_backwards() -> None:
    """nodes/manager.go:617, 922-923: updateSequenceNumbers stores it unconditionally (the TODO at l.915-921)."""
    dp, _, _ = _unit(0)
    dp.heartbeat(15.0, "n1", 7)
    dp.heartbeat(30.0, "n1", 3)
    assert dp.live_seq["n1"] == 3
    assert dp.handshake(31.0, "n1", known=True) == 0  # clamped to the latest event (watcher.go:109-117)


def test_a_known_node_after_an_orchestrator_restart_starts_at_the_persisted_cursor() -> None:
    """The live cursor is memory; the persisted one is written at the handshake and every 5 min
    (nodes/manager.go:28, 366-417, 523) [I: at the first heartbeat that long after]."""
    dp, _, store = _unit(3)
    dp.heartbeat(15.0, "n1", 3)
    dp.reset()
    assert dp.handshake(20.0, "n1", known=True) == 0
    dp.heartbeat(30.0, "n1", 3)
    dp.heartbeat(330.0, "n1", 3)
    dp.reset()
    assert dp.handshake(331.0, "n1", known=True) == 3
    assert dp.handshake(332.0, "n9", known=False) == len(store)  # a new node: the latest event


def test_a_disconnect_tears_the_plane_down_and_its_retry_with_it() -> None:
    """orchestrator/manager.go:347-368."""
    dp, out, _ = _unit(1)
    _result(dp, 0.1, _sent(out)[0], "no_responders")
    _ticks(dp, out)
    plane = dp.planes["n1"]
    dp.drop(1.0, "n1")
    dp.on_timer(plane.retry_at, "n1", plane.id)
    assert "n1" not in dp.planes and len(_sent(out)) == 1


def test_a_plane_pickled_by_an_older_kit_is_dropped_on_upgrade() -> None:
    """The emulator keeps its model in a state file: an older kit's plane (no pending list) loads, and the
    upgrade drops it as a restart would (the edge's next heartbeat is answered HandshakeRequired)."""
    dp, _, _ = _unit(0)
    old = dataplane.Plane.__new__(dataplane.Plane)
    for k, v in {"id": 1, "start_seq": 0, "cursor": 0, "running": True, "recovering": False, "failures": 0,
                 "retry_at": None, "awaiting_until": None}.items():  # what pickle sets from the old slot state
        setattr(old, k, v)
    dp.planes["n1"] = old
    dp.upgrade()
    assert "n1" not in dp.planes


def test_as_nats_behaves_the_ack_skip_happens_and_the_rehandshake_undoes_it() -> None:
    """The one window in which NATS 2.14.5 loses a message without an error: the edge's client has given up on its
    cut-off connection (4-6 min in), the server still holds its subscription. A cut healed there, a run request
    written into the dead connection before the edge reconnects, a second one acked after: RemoveUpTo skips the
    first — and the edge, having missed five heartbeats, handshakes again, and the new plane replays from the
    cursor its heartbeats last reported, before the skipped request. So C is not stuck."""
    doc = {"name": "c-real", "timings": {"preset": "repro", "disconnect_timeout": "10m"}, "fix": "sequence-replay",
           "edges": ["edge1"], "steps": [
               {"up": {}}, {"wait_for": {"nodes": "connected", "count": 1, "timeout": "2m"}}, {"sleep": "1m"},
               {"partition": ["edge1"]}, {"sleep": "6m5s"}, {"heal": ["edge1"]}, {"deploy": str(TEST)},
               {"sleep": "4.3s"}, {"deploy": str(NEW)}, {"sleep": "20m"}, {"snapshot": {}}]}
    from repro_lib.scenario import parse_scenario

    run = run_scenario(parse_scenario(doc))
    lines = [r for r in run.records if r.source in ("orchestrator", "nats")]
    lost = [r for r in lines if "closed its connection as stale - message lost" in r.msg]
    skipped = [dict(r.fields) for r in lines if r.msg == M_ACK_REMOVED]
    replay = [dict(r.fields) for r in lines if r.msg == M_PLANE and ("reason", "node reconnected") in r.fields]
    assert len(lost) == 1 and skipped and skipped[0]["dropped"] == "1"  # the skip happens
    assert replay and replay[0]["startSeqNum"] == 0  # ... and the re-handshake replays from before it
    assert run.verdict.verdict == "not_reproduced"

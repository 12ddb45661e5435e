"""The model's components, driven by hand: no sim driver, no clock, no bus."""

from __future__ import annotations

import pytest

from repro_lib.jobs import job_from_dict
from repro_lib.model import (
    ComputeState,
    DesiredState,
    Dispatcher,
    EvalBroker,
    EvalTrigger,
    Evaluation,
    Execution,
    Job,
    JobState,
    Node,
    NodeManager,
    NodeState,
    Outbox,
    Policies,
    ReEvaluator,
    RetryStrategy,
    TransportManager,
    job_state,
    message_for,
    reconcile,
)
from repro_lib.model.dispatcher import ExecutionUpsert
from repro_lib.model.node_manager import NodeEvent
from repro_lib.timings import timings_from

PIPE = job_from_dict({"name": "p", "type": "pipeline", "config": {"input": {"generate": {}}}})
QUERY = job_from_dict({"name": "q", "type": "query", "config": {"input": {"generate": {"count": 2}}}})


def msgs(out: Outbox) -> list[str]:
    return [r.msg for r in out.logs]


# -- node manager ------------------------------------------------------------------------------
def test_node_manager_heartbeat_timeout_marks_disconnected_then_lost() -> None:
    t = timings_from({"preset": "docs"})
    out = Outbox()
    nm = NodeManager(t, out)
    assert nm.handshake(0, "n1", "edge1", {}) == []          # connecting: no reevaluator event
    assert nm.nodes["n1"].state is NodeState.CONNECTING
    ok, ev = nm.heartbeat(15, "n1")
    assert ok and ev == []                                    # not yet stable for 30 s
    ok, ev = nm.heartbeat(30, "n1")
    assert ev == [NodeEvent("n1", NodeState.CONNECTING, NodeState.CONNECTED)]
    assert nm.health_check(100) == []                         # 70 s since the last heartbeat
    ev = nm.health_check(121)
    assert ev == [NodeEvent("n1", NodeState.CONNECTED, NodeState.DISCONNECTED)]
    assert nm.heartbeat(122, "n1") == (False, [])             # handshake required
    assert nm.health_check(121 + 3599) == []
    assert nm.health_check(121 + 3600) == [NodeEvent("n1", NodeState.DISCONNECTED, NodeState.LOST)]


def test_reconnect_inside_window_is_a_join_without_state_change() -> None:
    nm = NodeManager(timings_from({}), Outbox())
    nm.handshake(0, "n1", "edge1", {})
    ev = nm.handshake(50, "n1", "edge1", {})
    assert ev == [NodeEvent("n1", NodeState.CONNECTED, NodeState.CONNECTED)]
    assert nm.nodes["n1"].connected_since == 50


def test_health_check_period_rule() -> None:
    assert timings_from({}).health_check == 30          # 300 s / 3 clamped to 30
    assert timings_from({"preset": "fast"}).health_check == 1
    assert timings_from({"disconnect_timeout": "60s"}).health_check == 20


# -- transport + dispatcher --------------------------------------------------------------------
def _dispatcher(strategy: RetryStrategy, **tim: object) -> tuple[Dispatcher, TransportManager, Outbox]:
    t = timings_from(tim)
    out = Outbox()
    tr = TransportManager(t, out)
    d = Dispatcher(t, out, tr, strategy=strategy)
    d.specs["p"] = PIPE
    return d, tr, out


def _exec(i: int, node: str = "n1") -> Execution:
    return Execution(id=f"e{i}", job="p", version=1, node_id=node)


def test_publish_into_the_void_is_success() -> None:
    d, tr, out = _dispatcher(RetryStrategy.SKIP)
    tr.on_handshake(0, "n1")                 # registered; whether anyone listens is not its business
    d.append(0, _exec(1), None)
    d.run(0)
    assert [p.subject for p in out.publishes] == ["expanso.node.n1.in"]
    assert d.position == 1 and not d.blocked
    assert "PUBLISH: Node not connected - message will be LOST" not in msgs(out)


def test_skip_drops_a_refused_event_after_max_attempts() -> None:
    d, tr, out = _dispatcher(RetryStrategy.SKIP)
    d.append(0, _exec(1), None)
    d.run(0)
    assert out.publishes == [] and d.position == 1
    assert "DISPATCH: Failed to send execution assignment - EVENT WILL BE SKIPPED" in msgs(out)


def test_skip_with_three_attempts_retries_twice_then_drops() -> None:
    d, tr, out = _dispatcher(RetryStrategy.SKIP, dispatcher_max_attempts=3)
    d.append(0, _exec(1), None)
    d.run(0)
    assert [t.at for t in out.timers] == [0.2]
    d.on_timer(0.2)
    assert [t.at for t in out.timers] == [0.2, pytest.approx(0.6)]
    d.on_timer(out.timers[-1].at)
    assert d.position == 1 and msgs(out).count(
        "DISPATCH: Failed to send execution assignment - EVENT WILL BE SKIPPED") == 1


def test_block_retries_with_doubling_backoff_and_blocks_later_events() -> None:
    d, tr, out = _dispatcher(RetryStrategy.BLOCK)
    tr.on_handshake(0, "n2")
    d.append(0, _exec(1, "n1"), None)           # n1 has no connection
    d.append(0, _exec(2, "n2"), None)           # healthy node, but queued behind e1
    d.run(0)
    now, delays = 0.0, []
    for _ in range(5):
        at = out.timers[-1].at
        delays.append(round(at - now, 3))
        now = at
        d.on_timer(now)
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert out.publishes == [] and d.position == 0      # head-of-line blocking
    tr.on_handshake(now, "n1")
    d.on_timer(out.timers[-1].at)
    assert [p.payload["execution_id"] for p in out.publishes] == ["e1", "e2"]


def test_block_backoff_caps_at_three_minutes() -> None:
    d, _, out = _dispatcher(RetryStrategy.BLOCK)
    d.append(0, _exec(1), None)
    d.run(0)
    for _ in range(15):
        d.on_timer(out.timers[-1].at)
    gaps = [b.at - a.at for a, b in zip(out.timers, out.timers[1:], strict=False)]
    assert max(gaps) == 180.0


def test_message_creator_only_sends_on_transitions() -> None:
    ex = _exec(1)
    assert message_for(ExecutionUpsert(0, ex, None, DesiredState.RUNNING), PIPE)["type"] == "RunExecutionRequest"
    same = (DesiredState.RUNNING, ComputeState.PENDING)
    assert message_for(ExecutionUpsert(1, ex, same, DesiredState.RUNNING), PIPE) is None
    cancel = message_for(ExecutionUpsert(2, ex, same, DesiredState.STOPPED), PIPE)
    assert cancel is not None and cancel["type"] == "CancelExecution"


def test_transport_register_delay_opens_a_refusal_window() -> None:
    t = timings_from({"transport_register_delay": "2s"})
    out = Outbox()
    tr = TransportManager(t, out)
    tr.on_handshake(10, "n1")
    assert "n1" not in tr.connections and out.timers[-1].at == 12
    tr.on_timer(12, "n1")
    assert tr.connections["n1"].alive


# -- reevaluator + broker ---------------------------------------------------------------------
def test_reevaluator_debounces_and_classifies() -> None:
    out = Outbox()
    r = ReEvaluator(timings_from({}), out)
    assert r.on_node_event(0, NodeEvent("a", NodeState.CONNECTED, NodeState.DISCONNECTED)) is None
    assert r.on_node_event(5, NodeEvent("b", NodeState.CONNECTING, NodeState.CONNECTED)) is None
    assert r.on_timer(15) is None                 # reset by the second event
    assert r.on_timer(20) == (EvalTrigger.NODE_JOIN, ["a", "b"])
    r.on_node_event(30, NodeEvent("a", NodeState.CONNECTED, NodeState.DISCONNECTED))
    assert r.on_timer(45) == (EvalTrigger.NODE_LEAVE, ["a"])
    assert r.on_node_event(50, NodeEvent("c", NodeState.DISCONNECTED, NodeState.CONNECTING)) is None
    assert r.batch == {}


def test_reevaluator_flushes_at_max_batch() -> None:
    r = ReEvaluator(timings_from({"reeval_max_batch": 3}), Outbox())
    r.on_node_event(0, NodeEvent("a", None, NodeState.CONNECTED))
    r.on_node_event(0, NodeEvent("b", None, NodeState.CONNECTED))
    assert r.on_node_event(0, NodeEvent("c", None, NodeState.CONNECTED)) == (EvalTrigger.NODE_JOIN, ["a", "b", "c"])


def test_broker_serialises_per_job_and_coalesces() -> None:
    b = EvalBroker()
    evs = [Evaluation(f"ev{i}", "p", EvalTrigger.NODE_JOIN, 0) for i in range(3)]
    other = Evaluation("o", "q", EvalTrigger.JOB_CREATE, 0)
    for ev in [*evs, other]:
        b.enqueue(ev)
    assert b.dequeue() is evs[0] and b.dequeue() is other and b.dequeue() is None
    b.ack(evs[0])
    assert b.dequeue() is evs[2] and evs[1].state == "canceled"


# -- reconciler + job state --------------------------------------------------------------------
def _nodes(*states: NodeState) -> dict[str, Node]:
    return {f"n{i}": Node(f"n{i}", f"edge{i}", state=s) for i, s in enumerate(states, 1)}


def test_node_join_eval_on_stuck_execution_gives_empty_plan() -> None:
    job = Job("p", "j1", PIPE, state=JobState.DEPLOYING)
    ex = Execution("e1", "p", 1, "n1", created_at=0)
    ev = Evaluation("ev", "p", EvalTrigger.NODE_JOIN, 600)
    plan = reconcile(ev, job, [ex], _nodes(NodeState.CONNECTED), Policies())
    assert plan.is_empty() and plan.stuck == ["e1"]
    fixed = reconcile(ev, job, [ex], _nodes(NodeState.CONNECTED), Policies(redispatch_on_join=True))
    assert fixed.redispatch == ["e1"] and fixed.new_executions == []


def test_pipeline_fails_only_on_lost_query_on_disconnected() -> None:
    ex = Execution("e1", "p", 1, "n1")
    ev = Evaluation("ev", "p", EvalTrigger.NODE_LEAVE, 0)
    disc = _nodes(NodeState.DISCONNECTED)
    assert reconcile(ev, Job("p", "j", PIPE), [ex], disc, Policies()).is_empty()
    qx = Execution("e1", "q", 1, "n1")
    plan = reconcile(ev, Job("q", "j", QUERY), [qx], disc, Policies())
    assert plan.updated_executions == [("e1", DesiredState.STOPPED, ComputeState.FAILED)]
    plan = reconcile(ev, Job("p", "j", PIPE), [ex], _nodes(NodeState.LOST), Policies())
    assert plan.updated_executions == [("e1", DesiredState.STOPPED, ComputeState.FAILED)]


def test_job_update_cancels_pending_old_version_and_places_new() -> None:
    job = Job("p", "j", PIPE, version=2)
    ex = Execution("e1", "p", 1, "n1")
    plan = reconcile(Evaluation("ev", "p", EvalTrigger.JOB_UPDATE, 0), job, [ex],
                     _nodes(NodeState.CONNECTED), Policies())
    assert plan.updated_executions == [("e1", DesiredState.STOPPED, ComputeState.CANCELLED)]
    assert plan.new_executions == ["n1"]


def test_job_state_rule() -> None:
    job = Job("p", "j", PIPE)
    nodes = _nodes(NodeState.CONNECTED, NodeState.CONNECTED)
    a, b = Execution("a", "p", 1, "n1"), Execution("b", "p", 1, "n2")
    assert job_state(job, [], nodes) is JobState.QUEUED
    assert job_state(job, [a, b], nodes) is JobState.DEPLOYING
    a.state = ComputeState.RUNNING
    assert job_state(job, [a, b], nodes) is JobState.DEPLOYING   # one pending keeps it deploying
    b.state = ComputeState.RUNNING
    assert job_state(job, [a, b], nodes) is JobState.RUNNING


def test_policies_from_fix() -> None:
    assert Policies.from_fix("none") == Policies()
    assert Policies.from_fix(["block", "edge-reconcile"]).names == ["block", "edge-reconcile"]
    with pytest.raises(ValueError, match="unknown fix"):
        Policies.from_fix("retry-harder")


def test_model_imports_no_io() -> None:
    """The sans-IO promise: no module of repro_lib.model imports a clock, threads, sockets or docker."""
    import ast
    import pathlib

    import repro_lib.model as m

    banned = {"time", "asyncio", "threading", "docker", "nats", "socket", "subprocess", "datetime"}
    for path in pathlib.Path(m.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in banned, f"{path.name} imports {n}"

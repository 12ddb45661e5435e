"""Scheduler reconcilers and the job-state rule (mechanics.md §1.8, §2.1).

Pure functions of (job, its executions, the node table, the evaluation): they return a
:class:`Plan`. The reconciler is *correct* about issue 395 — it sees that an execution exists
on the node and places nothing new. The missing piece is elsewhere: nothing re-sends the run
message (see :mod:`repro_lib.model.dispatcher`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from repro_lib.model.node_manager import NodeIndex
from repro_lib.model.types import (
    TERMINAL,
    ComputeState,
    DesiredState,
    EvalTrigger,
    Evaluation,
    Execution,
    Job,
    JobState,
    Node,
    NodeState,
    Plan,
    Policies,
)

__all__ = ["reconcile", "job_state", "nodes_to_avoid", "matching_nodes"]

_PENDING = (ComputeState.PENDING, ComputeState.STARTING)


def matching_nodes(job: Job, nodes: Mapping[str, Node]) -> list[Node]:
    """Connected nodes whose labels match the job's selector (insertion order)."""
    connected = NodeState.CONNECTED
    if getattr(job.spec, "match_labels", None) == ():  # no selector: every node matches (10,000 calls saved)
        return [n for n in nodes.values() if n.state is connected]
    return [n for n in nodes.values() if n.state is connected and job.spec.matches(n.labels)]


def nodes_to_avoid(live: Iterable[Execution]) -> set[str]:
    """reconciler.go:1368 — every node with a non-terminal execution of *this* job."""
    return {e.node_id for e in live}


def reconcile(ev: Evaluation, job: Job, execs: list[Execution], nodes: Mapping[str, Node],
              policies: Policies, *, busy_nodes: set[str] | None = None, index: NodeIndex | None = None) -> Plan:
    """One evaluation of one job: ``reconcileDaemon`` for pipeline, ops-like for query. ``index``: the
    node manager's :meth:`~NodeManager.index` of ``nodes`` (the same answers, read a column at a time)."""
    plan = Plan(ev)
    live = [e for e in execs if e.state not in TERMINAL]  # not e.terminal
    if job.stopped:
        for e in live:
            if e.desired is not DesiredState.STOPPED:
                state = ComputeState.CANCELLED if e.state in _PENDING else e.state
                plan.updated_executions.append((e.id, DesiredState.STOPPED, state))
        return plan

    unhealthy = (NodeState.LOST,) if job.type == "pipeline" else (NodeState.DISCONNECTED, NodeState.LOST)
    # one pass over the live executions (10,000 a job at scale), in their order: failLostNodeExecutions
    # (pipeline fails only on Lost, query on Disconnected too), then previous versions (pending ->
    # cancelled now; running -> stopped), the rest remains
    failed: list[tuple[str, DesiredState, ComputeState]] = []
    older: list[tuple[str, DesiredState, ComputeState]] = []
    remaining: list[Execution] = []
    stopped, version = DesiredState.STOPPED, job.version
    if index is not None:  # the same three lists, a comprehension each
        ok = index.healthy(unhealthy)
        failed = [(e.id, stopped, ComputeState.FAILED) for e in live if e.node_id not in ok]
        rest = [e for e in live if e.node_id in ok] if failed else live
        older = [(e.id, stopped, ComputeState.CANCELLED if e.state in _PENDING else e.state)
                 for e in rest if e.version < version]
        remaining = [e for e in rest if e.version >= version] if older else rest
    else:
        for e in live:
            node = nodes.get(e.node_id)
            if node is None or node.state in unhealthy:
                failed.append((e.id, stopped, ComputeState.FAILED))
            elif e.version < version:
                older.append((e.id, stopped, ComputeState.CANCELLED if e.state in _PENDING else e.state))
            else:
                remaining.append(e)
    plan.updated_executions += failed
    plan.updated_executions += older

    avoid = nodes_to_avoid(remaining)
    if policies.global_nodes_to_avoid and busy_nodes:
        avoid |= busy_nodes
    if job.type == "query":  # ops-like: once per node per version, even if it finished
        avoid |= {e.node_id for e in execs if e.version == job.version}
    if index is not None and getattr(job.spec, "match_labels", None) == ():
        plan.new_executions += [node_id for node_id in index.connected if node_id not in avoid]
    else:
        for node in matching_nodes(job, nodes):
            if node.id not in avoid:
                plan.new_executions.append(node.id)

    running, pending = DesiredState.RUNNING, ComputeState.PENDING
    plan.stuck = [e.id for e in remaining if e.desired is running and e.state is pending]
    if policies.redispatch_on_join and ev.trigger is EvalTrigger.NODE_JOIN:
        for e in remaining:
            if e.desired is running and e.state is pending:
                node = nodes.get(e.node_id)
                if node is not None and node.state is NodeState.CONNECTED:
                    plan.redispatch.append(e.id)
    return plan


def job_state(job: Job, execs: list[Execution], nodes: Mapping[str, Node]) -> JobState:
    """The job-state rule: deploying until every execution of the current wave runs."""
    if job.stopped:
        return JobState.STOPPED
    version, running = job.version, DesiredState.RUNNING
    cur = [e for e in execs if e.version == version]
    live = [e for e in cur if e.desired is running and e.state not in TERMINAL]
    if job.type == "query":
        if live:
            return JobState.DEPLOYING if any(e.state in _PENDING for e in live) else JobState.RUNNING
        if cur:
            return JobState.FAILED if any(e.state is ComputeState.FAILED for e in cur) else JobState.COMPLETED
        return JobState.FAILED if not matching_nodes(job, nodes) else JobState.PENDING
    if not live:
        if cur and all(e.state is ComputeState.COMPLETED for e in cur):
            return JobState.COMPLETED
        return JobState.QUEUED
    return JobState.DEPLOYING if any(e.state in _PENDING for e in live) else JobState.RUNNING

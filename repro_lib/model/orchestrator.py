"""The orchestrator as one sans-IO state machine (mechanics.md §1.1, §1.12).

Inputs are method calls that carry ``now``: :meth:`deploy`, :meth:`stop_job`,
:meth:`on_message` (a NATS message; the return value is the reply for request/reply),
:meth:`on_timer` and :meth:`restart`. Outputs — messages to publish, timers to arm, log
records — accumulate in :attr:`out`; a driver takes them with :meth:`drain`. Nothing here reads
a clock or touches a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

from repro_lib.jobs import JobSpec
from repro_lib.logfmt import LogRecord
from repro_lib.model.broker import EvalBroker
from repro_lib.model.dataplane import DataPlanes
from repro_lib.model.dispatcher import Dispatcher, run_request
from repro_lib.model.node_manager import NodeEvent, NodeManager, Settled
from repro_lib.model.reconciler import job_state, reconcile
from repro_lib.model.records import BLOCK_MIN, ChangedBlock, ExecutionChanged
from repro_lib.model.reevaluator import ReEvaluator
from repro_lib.model.transport import TransportManager
from repro_lib.model.types import (
    ComputeState,
    DesiredState,
    EvalTrigger,
    Evaluation,
    Execution,
    Job,
    JobState,
    NodeState,
    Outbox,
    Plan,
    Policies,
    RetryStrategy,
    Timer,
)
from repro_lib.timings import Timings

__all__ = ["Orchestrator", "WORKERS"]

WORKERS = 2  # evaluation workers (NumCPU on the repro's 2-core machines)
_HEARTBEAT_ACK = {"type": "HeartbeatAck"}
_HANDSHAKE_REQUIRED = {"type": "HandshakeRequired"}
_ROOT_CAUSE = "orchestrator/internal/transport/dispatcher.go:54 uses RetryStrategySkip"
_DISPATCH_CODE = "orchestrator/internal/transport/dispatcher.go:103 PublishAsync call"


class Orchestrator:
    """Node manager, transport, dispatcher, reevaluator, broker, reconciler and planner.

    ``bulk`` (:meth:`use_blocks`, the sim's): a commit's new executions log their lines as one
    :class:`~repro_lib.model.records.ChangedBlock`, and the dispatcher sends in runs (its ``bulk``)."""

    bulk = False

    def use_blocks(self) -> None:
        """Let outputs hold runs of lines and messages whole: for a driver that reads them (the sim)."""
        self.bulk = self.dispatcher.bulk = True

    def __init__(self, timings: Timings, policies: Policies, ids: Callable[[str], str]) -> None:
        self.t = timings
        self.policies = policies
        self.ids = ids
        self.out = Outbox()
        self.nodes = NodeManager(timings, self.out)
        self.transport = TransportManager(timings, self.out)
        strategy = RetryStrategy.BLOCK if policies.block else RetryStrategy.SKIP
        self.dispatcher = Dispatcher(timings, self.out, self.transport, strategy=strategy)
        # fix C: per-node planes over the same event log replace the global watcher's dispatch
        self.planes: DataPlanes | None = (DataPlanes(timings, self.out, self.dispatcher.store, self.dispatcher.specs)
                                          if policies.sequence_replay else None)
        self.reevaluator = ReEvaluator(timings, self.out)
        self.broker = EvalBroker()
        self.jobs: dict[str, Job] = {}
        self.executions: dict[str, Execution] = {}
        self.by_job: dict[str, list[Execution]] = {}
        self.evals: list[Evaluation] = []
        self.plans: list[Plan] = []
        self._inflight: dict[str, Evaluation] = {}
        self._next_housekeeping: float | None = None
        # per (job, version): [live, pending] — executions desired running and not terminal, and those of
        # them pending or starting — kept as executions change, so a pipeline job's state costs O(1) per
        # change instead of a scan of its executions (10,000 edges: 10,000 reports x 10,000 executions)
        self._wave: dict[tuple[str, int], list[int]] = {}
        # job -> bumped whenever one of its executions is created or changes state or desired state (the
        # only writes to an execution that reconcile reads); and job -> (what its last reconcile read, its
        # plan): an evaluation that finds nothing changed since (same job version, executions, node states,
        # trigger) gets the same plan without a scan of 10,000 executions and 10,000 nodes
        self._exec_rev: dict[str, int] = {}
        self._last_plan: dict[str, tuple[tuple[Any, ...], Plan]] = {}

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, now: float, *, check_phase: float | None = None) -> None:
        """Start the periodic work; ``check_phase`` offsets the first health check (a driver's jitter)."""
        self.nodes.start(now, check_phase)
        if self.policies.pending_timeout:
            self._next_housekeeping = now + self.t.housekeeping_interval
            self.out.timers.append(Timer(self._next_housekeeping, ("housekeeping",)))

    def restart(self, now: float, *, check_phase: float | None = None) -> None:
        """The process came back: jobs, executions, nodes persist; memory does not."""
        self.transport.reset()
        self.reevaluator.reset()
        self.broker.reset()
        self.dispatcher.restart()
        if self.planes is not None:
            self.planes.reset()
        self._inflight.clear()
        self.nodes.restart(now)
        self._log(now, "INFO", "ORCHESTRATOR: started", restart=True,
                  grace=f"{self.t.restart_grace:g}s")
        self.start(now, check_phase=check_phase)

    def drain(self) -> tuple[list[Any], list[Timer], list[LogRecord]]:
        return self.out.drain()

    def remedies(self, now: float) -> dict[str, tuple[str, float]]:
        """What the orchestrator will do unasked for each pending execution (desired=running,
        state=pending): ``{execution id: (which re-dispatch, when)}``, read from its own timers and
        queues — a node-join evaluation on its way (``redispatch-on-join``) or the next housekeeping
        tick past ``pending_timeout`` (``pending-timeout``). Empty for the buggy build: nothing in it
        ever re-sends a run request."""
        out: dict[str, tuple[str, float]] = {}
        pend = [e for e in self.executions.values()
                if e.desired is DesiredState.RUNNING and e.state is ComputeState.PENDING]
        connected = {n.id for n in self.nodes.connected()}
        pend = [e for e in pend if e.node_id in connected]
        if not pend:
            return out
        if self.policies.redispatch_on_join:
            due: dict[str, float] = {}
            queued = [*self._inflight.values(), *self.broker.ready, *self.broker.waiting.values()]
            for ev in queued:  # already created: done within an evaluation or two
                if ev.trigger is EvalTrigger.NODE_JOIN:
                    due.setdefault(ev.job, now + 2 * self.t.eval_duration)
            rv = self.reevaluator
            if rv.deadline is not None and "join" in rv.batch.values():
                for name, job in self.jobs.items():
                    if not job.stopped and (job.type == "pipeline" or any(
                            e.node_id in rv.batch for e in self.by_job[name] if not e.terminal)):
                        due.setdefault(name, rv.deadline + self.t.eval_duration)
            for e in pend:
                if e.job in due:
                    out[e.id] = ("node-join re-dispatch (redispatch-on-join)", due[e.job])
        if self.planes is not None:
            for e in pend:
                due_c = self.planes.due(now, e.node_id)
                if due_c is None and e.node_id not in self.planes.planes:
                    # believed connected with no plane (after a restart): its next heartbeat is answered
                    # HandshakeRequired and the handshake's fresh plane replays (at the latest)
                    due_c = ("sequence-replay at the node's re-handshake (at the latest)",
                             now + self.t.heartbeat_interval + self.t.edge_reconnect_interval + 1.0)
                if due_c is not None and (e.id not in out or due_c[1] < out[e.id][1]):
                    out[e.id] = due_c
        tick = self._next_housekeeping
        if self.policies.pending_timeout and tick is not None:
            step = self.t.housekeeping_interval
            for e in pend:
                if e.id in out:
                    continue
                wait = e.updated_at + self.t.pending_timeout - tick
                n = max(0, -int(-(wait - 1e-6) // step))  # ticks after the next one
                out[e.id] = ("pending-timeout re-dispatch", tick + n * step)
        return out

    # -- API ----------------------------------------------------------------------------
    def deploy(self, now: float, spec: JobSpec, *, force: bool = False) -> str:
        """``job deploy``: returns ``created``, ``updated`` or ``NO_CHANGES_DETECTED``."""
        job = self.jobs.get(spec.name)
        self.dispatcher.specs[spec.name] = spec
        if job is not None and not job.stopped:
            if job.spec.fingerprint() == spec.fingerprint() and not force:
                self._log(now, "INFO", "API: job deploy refused", job_id=spec.name,
                          reason="NO_CHANGES_DETECTED")
                return "NO_CHANGES_DETECTED"
            job.version += 1
            job.spec = spec
            trigger, result = EvalTrigger.JOB_UPDATE, "updated"
        else:
            version = job.version + 1 if job else 1
            job = Job(name=spec.name, id=self.ids("j"), spec=spec, version=version, created_at=now)
            self.jobs[spec.name] = job
            self.by_job.setdefault(spec.name, [])
            trigger, result = EvalTrigger.JOB_CREATE, "created"
        self._log(now, "INFO", "JOB: state changed", job_id=job.name, state=str(job.state),
                  version=job.version, type=job.type)
        self._evaluate(now, job.name, trigger)
        return result

    def stop_job(self, now: float, name: str) -> bool:
        job = self.jobs.get(name)
        if job is None or job.stopped:
            return False
        job.stopped = True
        self._evaluate(now, name, EvalTrigger.JOB_CANCEL)
        return True

    # -- NATS ---------------------------------------------------------------------------
    def on_message(self, now: float, payload: dict[str, Any]) -> dict[str, Any] | None:
        """One message from an edge; returns the reply for request/reply messages."""
        kind = payload.get("type")
        node_id = str(payload.get("node_id", ""))
        if kind == "Heartbeat":
            tr = self.transport
            if node_id not in tr.connections and node_id not in tr.registering:
                return _HANDSHAKE_REQUIRED
            if self.planes is not None and node_id not in self.planes.planes:
                return _HANDSHAKE_REQUIRED  # handleHeartbeatRequest: no data plane -> ErrHandshakeRequired
            ok, events = self.nodes.heartbeat(now, node_id)
            if ok and self.planes is not None:
                self.planes.heartbeat(now, node_id, payload.get("last_orch_seq"))
            if events:
                self._node_events(now, events)
            return _HEARTBEAT_ACK if ok else _HANDSHAKE_REQUIRED
        if kind == "Handshake":
            known = node_id in self.nodes.nodes
            events = self.nodes.handshake(now, node_id, str(payload.get("name", node_id)),
                                          dict(payload.get("labels") or {}))
            self.transport.on_handshake(now, node_id)
            reply = {"type": "HandshakeAck", "heartbeat_interval": self.t.heartbeat_interval,
                     "disconnect_timeout": self.t.disconnect_timeout}
            if self.planes is not None:  # the plane exists before the reply (orchestrator/manager.go:223-228)
                reply["start_seq"] = self.planes.handshake(now, node_id, known)
            self._node_events(now, events)
            return reply
        if kind == "ExecutionState":
            self._execution_report(now, payload)
            return None
        if kind == "AssignmentsRequest":
            mine = [e for e in self.executions.values()
                    if e.node_id == node_id and e.desired is DesiredState.RUNNING and not e.terminal]
            self._log(now, "INFO", "API: assignments requested", node_id=node_id, count=len(mine))
            return {"type": "Assignments",
                    "executions": [run_request(e, self.dispatcher.specs[e.job]) for e in mine]}
        return None

    def _execution_report(self, now: float, payload: dict[str, Any]) -> None:
        ex = self.executions.get(str(payload.get("execution_id")))
        if ex is None:
            return
        try:
            state = ComputeState(payload.get("state"))
        except ValueError:
            return
        if ex.state == state or (ex.terminal and ex.state is not ComputeState.RUNNING):
            return
        self._set_execution(now, ex, ex.desired, state, announce=False)
        self._refresh_job(now, self.jobs[ex.job])

    # -- timers ---------------------------------------------------------------------------
    def on_timer(self, now: float, key: tuple[Any, ...]) -> None:
        name = key[0]
        if name == "health_check":
            events = self.nodes.health_check(now)
            for ev in events:
                if ev.current is NodeState.DISCONNECTED:
                    self.transport.on_disconnected(ev.node_id)
                    if self.planes is not None:
                        self.planes.drop(now, ev.node_id)
            self._node_events(now, events)
        elif name == "reeval_batch":
            self._batch(now, self.reevaluator.on_timer(now))
        elif name == "eval_done":
            self._finish_eval(now, key[1])
        elif name == "watcher_retry":
            self.dispatcher.on_timer(now)
        elif name == "plane_retry":
            if self.planes is not None:
                self.planes.on_timer(now, key[1], key[2])
        elif name == "plane_tick":  # fix C: the dispatcher reads its publish results (dispatcher.go:154-183)
            if self.planes is not None:
                self.planes.on_tick(now, key[1], key[2])
        elif name == "transport_register":
            self.transport.on_timer(now, key[1])
        elif name == "housekeeping":
            self._housekeeping(now)

    # -- internals ------------------------------------------------------------------------
    def _node_events(self, now: float, events: list[NodeEvent]) -> None:
        for ev in events:
            self._batch(now, self.reevaluator.on_node_event(now, ev))

    def _batch(self, now: float, batch: tuple[EvalTrigger, list[str]] | None) -> None:
        if batch is None:
            return
        trigger, node_ids = batch
        on_nodes = set(node_ids)
        affected: list[str] = []
        for name, job in self.jobs.items():
            if job.stopped or job.state in (JobState.COMPLETED, JobState.FAILED):
                continue
            # a pipeline job joins every node-join batch; any other job only where it has work in progress
            if ((trigger is EvalTrigger.NODE_JOIN and job.type == "pipeline")
                    or any(e.node_id in on_nodes and not e.terminal for e in self.by_job[name])):
                affected.append(name)
        for name in affected:
            ev = self._evaluate(now, name, trigger)
            self._log(now, "INFO", "REEVALUATOR: Created evaluation for job", job_id=name,
                      trigger=str(trigger), eval_id=ev.id)

    def _evaluate(self, now: float, job: str, trigger: EvalTrigger) -> Evaluation:
        ev = Evaluation(id=self.ids("ev"), job=job, trigger=trigger, created_at=now)
        self.evals.append(ev)
        self.broker.enqueue(ev)
        self._kick(now)
        return ev

    def _kick(self, now: float) -> None:
        while len(self._inflight) < WORKERS:
            ev = self.broker.dequeue()
            if ev is None:
                return
            self._inflight[ev.id] = ev
            self.out.timers.append(Timer(now + self.t.eval_duration, ("eval_done", ev.id)))

    def _finish_eval(self, now: float, eval_id: str) -> None:
        ev = self._inflight.pop(eval_id, None)
        if ev is None:
            return  # lost in a restart
        job = self.jobs[ev.job]
        execs = self.by_job[ev.job]
        busy = None
        if self.policies.global_nodes_to_avoid:
            busy = {e.node_id for e in self.executions.values()
                    if e.job != job.name and e.state is ComputeState.PENDING and not e.terminal}
        plan = self._reconcile(ev, job, execs, busy)
        self.plans.append(plan)
        self._commit(now, job, plan)
        self.broker.ack(ev)
        self._kick(now)

    def _reconcile(self, ev: Evaluation, job: Job, execs: list[Execution], busy: set[str] | None) -> Plan:
        """:func:`reconcile`, or the job's last plan again when nothing it reads has changed since: the job
        (version, stopped, spec), its executions (``_exec_rev``; none is ever removed), every node's state
        (``NodeManager.version``; labels are read only by a job with a selector: never cached), the trigger
        and the policies. The lists are copied: each plan owns its own."""
        nodes = self.nodes
        if busy is not None or getattr(job.spec, "match_labels", None) != ():
            self._last_plan.pop(job.name, None)
            return reconcile(ev, job, execs, nodes.nodes, self.policies, busy_nodes=busy)
        key = (job, job.version, job.stopped, job.spec, job.type, ev.trigger, self.policies, nodes.version,
               self._exec_rev.get(job.name, 0), len(execs))
        last = self._last_plan.get(job.name)
        if last is not None and last[0] == key:
            was = last[1]
            plan = Plan(ev, list(was.new_executions), list(was.updated_executions), list(was.redispatch),
                        list(was.stuck))
        else:
            plan = reconcile(ev, job, execs, nodes.nodes, self.policies, busy_nodes=busy, index=nodes.index())
        self._last_plan[job.name] = (key, plan)
        return plan

    def _commit(self, now: float, job: Job, plan: Plan) -> None:
        """The planner: one transaction; an empty plan writes nothing and sends nothing."""
        ev = plan.eval
        if plan.stuck:
            self._log(now, "WARN", "RECONCILER: STUCK EXECUTIONS DETECTED - dispatch may have failed",
                      job_id=job.name, count=len(plan.stuck), execution_ids=",".join(plan.stuck),
                      trigger=str(ev.trigger), root_cause=_ROOT_CAUSE, dispatch_code=_DISPATCH_CODE)
        for ex_id, desired, state in plan.updated_executions:
            self._set_execution(now, self.executions[ex_id], desired, state)
        if plan.new_executions:  # 10,000 at a time at scale: built a list at a time
            name, version, nodes = job.name, job.version, plan.new_executions
            running, pending = DesiredState.RUNNING, ComputeState.PENDING
            # one id per execution, drawn in order (nothing else draws one in between)
            many = getattr(self.ids, "many", None)
            ids = many("e", len(nodes)) if many is not None else [self.ids("e") for _ in nodes]
            if len(ids) != len(nodes):
                raise ValueError(f"{len(ids)} execution ids for {len(nodes)} nodes")
            n = len(nodes)  # Execution(id, name, version, node_id, running, pending, now, now) each, in one C loop
            new = list(map(Execution, ids, repeat(name, n), repeat(version, n), nodes, repeat(running, n),
                           repeat(pending, n), repeat(now, n), repeat(now, n)))
            self.executions.update(zip(ids, new, strict=True))  # in order: a repeated id keeps the later one, as before
            self.by_job[name] += new
            self._exec_rev[name] = self._exec_rev.get(name, 0) + 1
            wave = self._wave.setdefault((name, version), [0, 0])
            wave[0] += len(new)  # self._count(ex, +1) each: desired running, state pending
            wave[1] += len(new)
            if self.bulk and len(new) >= BLOCK_MIN:  # the sim reads blocks: the same lines, built when read
                self.out.logs.append(ChangedBlock(now, new, pending, running))
            else:
                self.out.logs += [ExecutionChanged(now, ex, pending, running) for ex in new]
            self.dispatcher.append_created(new)
        self._refresh_job(now, job)
        self._log(now, "DEBUG", "EVAL: processed", eval_id=ev.id, job_id=job.name,
                  trigger=str(ev.trigger), new=len(plan.new_executions),
                  updated=len(plan.updated_executions), redispatch=len(plan.redispatch),
                  empty=plan.is_empty())
        self._dispatch(now)
        for ex_id in plan.redispatch:
            self.dispatcher.redispatch(now, self.executions[ex_id], reason=str(ev.trigger))

    def _set_execution(self, now: float, ex: Execution, desired: DesiredState, state: ComputeState,
                       announce: bool = True) -> None:
        previous = (ex.desired, ex.state)
        self._count(ex, -1)
        ex.desired, ex.state = desired, state
        self._exec_rev[ex.job] = self._exec_rev.get(ex.job, 0) + 1
        self._count(ex, +1)
        ex.updated_at = now
        ex.revision += 1
        self.out.logs.append(ExecutionChanged(now, ex, state, desired))
        if announce:
            self.dispatcher.append(now, ex, previous)

    def _dispatch(self, now: float) -> None:
        """Send what the commit wrote: the global watcher, or (fix C) every node's plane."""
        if self.planes is None:
            self.dispatcher.run(now)
            return
        store = self.dispatcher.store
        for ev in store[self.dispatcher.position:]:
            self.planes.appended(ev)
        self.dispatcher.position = len(store)
        self.planes.pump_all(now)

    def on_publish_result(self, now: float, payload: dict[str, Any], outcome: str, error: str = "") -> None:
        """Fix C: what became of a plane's request (``ack``, ``no_responders``, ``timeout``, ``nack``); the
        plane reads it at its dispatcher's next 10 ms pass (timer ``plane_tick``, model/dataplane.py)."""
        if self.planes is not None and "seq" in payload:
            self.planes.on_result(now, str(payload.get("node_id", "")), payload.get("plane"), int(payload["seq"]),
                                  outcome, str(payload.get("type", "")), str(payload.get("execution_id", "")),
                                  pub=payload.get("pub"), error=error)

    def upgrade(self) -> None:
        """An orchestrator unpickled from an older kit's state file: add what it lacks (no fix C plane;
        the per-wave counts rebuilt from its executions)."""
        if not hasattr(self, "planes"):
            self.planes = None
        elif self.planes is not None:
            self.planes.upgrade()
        if not hasattr(self.nodes, "version"):
            self.nodes.version, self.nodes.settled = 0, Settled()
        if not hasattr(self, "_wave"):
            self._wave = {}
            for ex in self.executions.values():
                self._count(ex, +1)
        if not hasattr(self, "_exec_rev"):
            self._exec_rev, self._last_plan = {}, {}

    def _count(self, ex: Execution, sign: int) -> None:
        if ex.desired is DesiredState.RUNNING and not ex.terminal:
            wave = self._wave.setdefault((ex.job, ex.version), [0, 0])
            wave[0] += sign
            if ex.state is ComputeState.PENDING or ex.state is ComputeState.STARTING:
                wave[1] += sign

    def _refresh_job(self, now: float, job: Job) -> None:
        wave = self._wave.get((job.name, job.version)) if job.type == "pipeline" and not job.stopped else None
        if wave is not None and wave[0] > 0:  # job_state's pipeline rule, from the counts
            state = JobState.DEPLOYING if wave[1] else JobState.RUNNING
        else:
            state = job_state(job, self.by_job[job.name], self.nodes.nodes)
        if state is not job.state:
            job.state = state
            self._log(now, "INFO", "JOB: state changed", job_id=job.name, state=str(state),
                      version=job.version, type=job.type)

    def _housekeeping(self, now: float) -> None:
        """Fix E: re-dispatch executions pending longer than ``pending_timeout``."""
        self._next_housekeeping = now + self.t.housekeeping_interval
        self.out.timers.append(Timer(self._next_housekeeping, ("housekeeping",)))
        nodes = self.nodes.nodes
        for ex in self.executions.values():
            if (ex.state is ComputeState.PENDING and ex.desired is DesiredState.RUNNING
                    and now - ex.updated_at >= self.t.pending_timeout):
                node = nodes.get(ex.node_id)
                if node is not None and node.state is NodeState.CONNECTED:
                    ex.updated_at = now
                    self.dispatcher.redispatch(now, ex, reason="pending-timeout")

    def _log(self, now: float, level: str, msg: str, **kv: object) -> None:
        self.out.logs.append(LogRecord(now, "orchestrator", level, msg, tuple(kv.items())))

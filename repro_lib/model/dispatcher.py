"""Dispatcher: where the dispatch is lost (mechanics.md §1.4, §1.5).

Execution-upsert events from the job store pass a watcher, one at a time, in order. The
message creator turns a *transition* into a message (new execution with desired=running ->
``RunExecutionRequest``; desired -> stopped -> ``CancelExecution``); anything else sends
nothing. The handler calls ``TransportManager.publish_async``:

- it returns normally when a connection is registered — even if the edge behind it is dead
  and the message falls into NATS with no subscriber. No error, so no retry strategy helps;
- it raises ``ErrNodeNotConnected`` when no connection is registered. Then the watcher's
  retry strategy decides: ``RetryStrategySkip`` drops the event after ``max_attempts`` calls
  (default 1, "skips failed events"); ``RetryStrategyBlock`` retries with backoff 200 ms
  doubling to 3 min, and every later event — every node, every job — waits behind it.

The watcher is ephemeral and starts at the latest event: after an orchestrator restart,
events committed before it are never dispatched.
"""

from __future__ import annotations

from itertools import count, repeat
from operator import attrgetter
from typing import Any, NamedTuple

from repro_lib.logfmt import LogRecord
from repro_lib.model.records import BLOCK_MIN, ConnectionCheck, DispatchAttempt, DispatchBlock
from repro_lib.model.transport import ErrNodeNotConnected, TransportManager, node_subject
from repro_lib.model.types import (
    ComputeState,
    DesiredState,
    Execution,
    Outbox,
    Publish,
    RetryStrategy,
    Timer,
)
from repro_lib.timings import Timings

__all__ = ["Dispatcher", "ExecutionUpsert", "RunRequests", "message_for", "run_request"]


class ExecutionUpsert(NamedTuple):
    """One job-store event: an execution created (``previous`` None) or updated."""

    seq: int
    execution: Execution
    previous: tuple[DesiredState, ComputeState] | None
    desired: DesiredState


_new_upsert = tuple.__new__  # ExecutionUpsert(...) without the named tuple's Python-level __new__
_new_publish = tuple.__new__  # Publish(...), the same way
_DESIRED, _EXECUTION, _JOB = attrgetter("desired"), attrgetter("execution"), attrgetter("job")


def run_request(ex: Execution, spec: Any) -> dict[str, Any]:
    return {
        "type": "RunExecutionRequest",
        "execution_id": ex.id,
        "job": ex.job,
        "job_type": spec.type,
        "version": ex.version,
        "run_for": spec.run_for,
    }


class RunRequests:
    """Run requests to executions in a row, published as one output (the sim's bulk outputs: a deploy's
    10,000 at scale): reads as the ``Publish(node_subject(ex.node_id), run_request(ex, spec))`` of each,
    built when read. ``specs``: each job's spec as it was when they were sent."""

    __slots__ = ("executions", "specs")

    def __init__(self, executions: list[Execution], specs: dict[str, Any]) -> None:
        self.executions, self.specs = executions, specs

    def __len__(self) -> int:
        return len(self.executions)

    def __iter__(self) -> Any:
        specs = self.specs
        return (_new_publish(Publish, (node_subject(ex.node_id), run_request(ex, specs[ex.job])))
                for ex in self.executions)


def message_for(ev: ExecutionUpsert, spec: Any) -> dict[str, Any] | None:
    """The message creator: only a state *transition* produces a message."""
    if ev.previous is None:
        return run_request(ev.execution, spec) if ev.desired is DesiredState.RUNNING else None
    prev_desired, prev_state = ev.previous
    if ev.desired is DesiredState.STOPPED and prev_desired is not DesiredState.STOPPED:
        if prev_state in (ComputeState.PENDING, ComputeState.STARTING, ComputeState.RUNNING):
            return {"type": "CancelExecution", "execution_id": ev.execution.id, "job": ev.execution.job}
    return None


class Dispatcher:
    """The watcher over the execution event store, with its retry strategy.

    ``bulk`` (set by the sim, which reads them): a run of new executions sent to live connections (of
    ``BLOCK_MIN`` or more: a deploy to a fleet) goes out as one :class:`RunRequests` and one
    :class:`~repro_lib.model.records.DispatchBlock` instead of a ``Publish`` and two log lines each — the
    same messages and lines, built when read."""

    bulk = False

    def __init__(self, timings: Timings, out: Outbox, transport: TransportManager, *,
                 strategy: RetryStrategy = RetryStrategy.SKIP) -> None:
        self.t = timings
        self.out = out
        self.transport = transport
        self.strategy = strategy
        self.max_attempts = max(1, timings.dispatcher_max_attempts)
        self.store: list[ExecutionUpsert] = []
        self.position = 0          # index of the next event to handle
        self.attempt = 0           # handler calls made for the event at ``position``
        self._retry_at: float | None = None
        self.specs: dict[str, Any] = {}  # job name -> JobSpec (for message contents)

    def append(self, now: float, ex: Execution,
               previous: tuple[DesiredState, ComputeState] | None) -> None:
        """The job store committed a write: append its event and let the watcher run."""
        store = self.store
        store.append(_new_upsert(ExecutionUpsert, (len(store), ex, previous, ex.desired)))

    def append_created(self, executions: list[Execution]) -> None:
        """:meth:`append` for executions just created (``previous`` None), in order: one commit's
        10,000 new executions at scale."""
        store = self.store
        n = len(executions)
        store += map(_new_upsert, repeat(ExecutionUpsert, n),  # one C loop: tuple.__new__ on each 4-tuple
                     zip(count(len(store)), executions, repeat(None, n), map(_DESIRED, executions)))

    def restart(self) -> None:
        """Ephemeral watcher + LatestIterator: resume after the latest event, forget retries."""
        self.position = len(self.store)
        self.attempt = 0
        self._retry_at = None

    def on_timer(self, now: float) -> None:
        if self._retry_at == now:
            self._retry_at = None
            self.run(now)

    @property
    def blocked(self) -> bool:
        return self._retry_at is not None

    def run(self, now: float) -> None:
        """Handle events in order until the store is drained or a retry is pending."""
        if self._retry_at is not None:
            return
        store, specs = self.store, self.specs
        # the commonest event by far (a deploy to 10,000 nodes): a new execution for a node with a live
        # connection. Its attempt, connection check and publish are inlined below — exactly what
        # message_for, _handle and TransportManager.publish_async do for it, minus their calls; anything
        # else (and a transport whose publish_async is not the stock one) goes the long way
        transport = self.transport
        fast = type(transport).publish_async is TransportManager.publish_async
        connections, logs, checks, publishes = (transport.connections, self.out.logs, transport.out.logs,
                                                transport.out.publishes)
        running, subject_of = DesiredState.RUNNING, node_subject
        blocks = fast and self.bulk and self.out is transport.out
        while self.position < len(store):
            if blocks and len(store) - self.position >= BLOCK_MIN:
                start = self.position
                evs = store[start:]
                # the run the loop below would send (as one, when it is long): its conditions, a comprehension
                ok = [ev.previous is None and ev.desired is running
                      and (conn := connections.get(ev.execution.node_id)) is not None and conn.alive
                      for ev in evs]
                stop = len(ok) if all(ok) else ok.index(False)
                if stop >= BLOCK_MIN:
                    run = list(map(_EXECUTION, evs[:stop]))
                    sent = {job: specs[job] for job in set(map(_JOB, run))}
                    for ex in run:
                        ex.dispatches += 1
                    logs.append(DispatchBlock(now, run))
                    publishes.append(RunRequests(run, sent))
                    self.position = start + stop
                    self.attempt = 0
                    if stop == len(evs):
                        return
            if fast:  # as many such events in a row as there are (none, after a run sent whole)
                pos = start = self.position
                end = len(store)  # nothing below appends to the store
                try:
                    while pos < end:
                        ev = store[pos]
                        if ev.previous is not None or ev.desired is not running:
                            break
                        ex = ev.execution
                        node_id = ex.node_id
                        conn = connections.get(node_id)
                        if conn is None or not conn.alive:
                            break
                        msg = run_request(ex, specs[ex.job])  # the one message shape, not a copy of it
                        logs.append(DispatchAttempt(now, ex, "RunExecutionRequest"))
                        ex.dispatches += 1
                        checks.append(ConnectionCheck(now, node_id, True, True, ex.id))
                        publishes.append(_new_publish(Publish, (subject_of(node_id), msg)))
                        pos += 1
                finally:
                    if pos != start:
                        self.position = pos
                        self.attempt = 0
                if pos == end:
                    return
            ev = store[self.position]
            msg = message_for(ev, specs[ev.execution.job])
            if msg is None:
                self.position += 1
                continue
            if self._handle(now, ev.execution, msg):
                self.position += 1
                self.attempt = 0
                continue
            self.attempt += 1
            if self.strategy is RetryStrategy.SKIP and self.attempt >= self.max_attempts:
                self._log(now, "ERROR", "DISPATCH: Failed to send execution assignment - "
                          "EVENT WILL BE SKIPPED", ev.execution, err="node not connected",
                          retry_strategy=str(self.strategy))
                self.position += 1
                self.attempt = 0
                continue
            backoff = min(self.t.watcher_initial_backoff * 2 ** min(self.attempt - 1, 60),
                          self.t.watcher_max_backoff)
            self._log(now, "WARN", "DISPATCH: Failed to send execution assignment - retrying",
                      ev.execution, err="node not connected", attempt=self.attempt,
                      backoff=f"{backoff:g}s", retry_strategy=str(self.strategy))
            self._retry_at = now + backoff
            self.out.timers.append(Timer(self._retry_at, ("watcher_retry",)))
            return

    def redispatch(self, now: float, ex: Execution, reason: str) -> bool:
        """Approach B / E: the planner sends a run request again, outside the watcher."""
        self._log(now, "INFO", "RECONCILER: Re-dispatching pending execution to reconnected node",
                  ex, job_id=ex.job, reason=reason)
        return self._handle(now, ex, run_request(ex, self.specs[ex.job]), redispatch=True)

    def _handle(self, now: float, ex: Execution, msg: dict[str, Any], redispatch: bool = False) -> bool:
        if not redispatch:
            self.out.logs.append(DispatchAttempt(now, ex, msg["type"]))
        ex.dispatches += 1
        try:
            self.transport.publish_async(now, ex.node_id, msg)
        except ErrNodeNotConnected:
            return False
        return True

    def _log(self, now: float, level: str, msg: str, ex: Execution, **kv: object) -> None:
        fields = (("execution_id", ex.id), ("target_node", ex.node_id), *kv.items())
        self.out.logs.append(LogRecord(now, "orchestrator", level, msg, tuple(fields)))
